import { z } from 'zod';
import { requires } from '../../auth/policies.ts';
import {
  getCourseLifecycleSettings,
  updateCourseLifecycleSettings,
} from '../../certificates/course-settings.ts';
import { printsSomething } from '../../certificates/text.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { uuidParam } from '../params.ts';
import { ok } from '../response.ts';
import { errorResponse } from './common.ts';

/**
 * A course's lifecycle settings: validity period and the better-score reissue option. The update
 * is a POST with partial semantics (only the fields given change) rather than a PATCH: the route
 * contract, the CORS settings and serverless offline all speak GET/POST/DELETE, and one more
 * method for one route is not worth widening all three.
 */

const coursePath = z.object({ courseId: uuidParam('Course id') });

const settingsSchema = z
  .strictObject({
    courseId: z.string(),
    validityMonths: z
      .number()
      .int()
      .nullable()
      .describe(
        'Months a certificate stays valid from its issue date (a backfilled one: from its pass); null: it never expires',
      ),
    reissueOnBetterScore: z
      .boolean()
      .describe('A strictly better later passing score reissues the certificate (off by default)'),
  })
  .meta({ id: 'CourseLifecycleSettings' });

export const courseLifecycleUpdateSchema = z
  .strictObject({
    validityMonths: z.number().int().min(1).max(1200).nullable().optional(),
    reissueOnBetterScore: z.boolean().optional(),
    reason: z
      .string()
      .trim()
      .min(1)
      .max(1000)
      .regex(/\S/, 'must not be blank')
      // Invisible characters alone (a zero-width space) are not a reason either.
      .refine(printsSomething, 'must not be blank')
      .optional()
      .describe('Why, for the audit log (not blank)'),
  })
  .refine((body) => body.validityMonths !== undefined || body.reissueOnBetterScore !== undefined, {
    message: 'must set validityMonths or reissueOnBetterScore',
  })
  .meta({
    id: 'CourseLifecycleUpdate',
    description: 'Sets `validityMonths`, `reissueOnBetterScore` or both (at least one)',
    // The refinement above, as JSON Schema.
    override: { anyOf: [{ required: ['validityMonths'] }, { required: ['reissueOnBetterScore'] }] },
  });

const HOW_IT_APPLIES =
  'A validity period applies to certificates generated from then on (`expires_at` = issue date + ' +
  'that many months, printed on the certificate); certificates already issued keep theirs. ' +
  '`reissueOnBetterScore` applies to later passing attempts decided from then on.';

export const getCourseLifecycleRoute = defineRoute({
  operationId: 'getCourseLifecycle',
  method: 'GET',
  path: '/api/v1/courses/{courseId}/lifecycle',
  tags: ['lifecycle'],
  summary: "A course's lifecycle settings (validity period, reissue on a better score)",
  description: HOW_IT_APPLIES,
  request: { path: coursePath },
  policy: requires('certificates:lifecycle', "read a course's lifecycle settings"),
  responses: {
    200: { description: 'The settings', schema: settingsSchema },
    404: errorResponse('Unknown course'),
  },
  handle: async (deps: ReadDeps, { path }) => ok(await getCourseLifecycleSettings(deps.sql, path.courseId)),
});

export const updateCourseLifecycleRoute = defineRoute({
  operationId: 'updateCourseLifecycle',
  method: 'POST',
  path: '/api/v1/courses/{courseId}/lifecycle',
  tags: ['lifecycle'],
  summary: "Change a course's lifecycle settings (certificate admin)",
  description:
    'Partial update: only the fields given change (`validityMonths: null` removes the validity ' +
    'period). Each change writes an audit row (`course_settings_log`: actor, reason, each setting ' +
    `from and to); a call that changes nothing writes none and answers \`changed: false\`. ${HOW_IT_APPLIES}`,
  request: { path: coursePath, body: courseLifecycleUpdateSchema },
  policy: requires('certificates:lifecycle', "change a course's lifecycle settings"),
  responses: {
    200: {
      description: 'The settings after the change',
      schema: settingsSchema.extend({ changed: z.boolean() }).meta({ id: 'CourseLifecycleUpdateResult' }),
    },
    404: errorResponse('Unknown course'),
  },
  handle: async (deps: ReadDeps, { path, body, principal }) =>
    ok(
      await updateCourseLifecycleSettings(deps.sql, {
        courseId: path.courseId,
        ...(body.validityMonths !== undefined ? { validityMonths: body.validityMonths } : {}),
        ...(body.reissueOnBetterScore !== undefined
          ? { reissueOnBetterScore: body.reissueOnBetterScore }
          : {}),
        ...(body.reason !== undefined ? { reason: body.reason } : {}),
        actor: principal.subject,
      }),
    ),
});
