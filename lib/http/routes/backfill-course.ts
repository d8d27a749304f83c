import { z } from 'zod';
import { requires } from '../../auth/policies.ts';
import { backfillCourse, backfillMaxWaiting, type CourseBackfillRun } from '../../certificates/backfill.ts';
import { logger } from '../../observability/logger.ts';
import type { BackfillDeps } from '../backfill-deps.ts';
import { defineRoute } from '../contract.ts';
import { uuidParam } from '../params.ts';
import { ok } from '../response.ts';
import { backfillRequestBodySchema, backfillResultSchema } from '../schemas.ts';

/**
 * The route's answer: the backfill result and where the selection ended. Declared here, next to
 * the one handler that fills it, so the OpenAPI document says what the route returns.
 */
export const backfillRunSchema = backfillResultSchema
  .extend({
    completedBefore: z.iso
      .datetime({ offset: true })
      .describe(
        "The selection's effective end (exclusive): attempts completed before it. The request's `to` " +
          "(a bare date's next midnight), cut to SCAN_NOT_BEFORE when that is earlier; without `to`, " +
          "SCAN_NOT_BEFORE, or the call's start when SCAN_NOT_BEFORE is not set",
      ),
  })
  .meta({ id: 'BackfillResult' });

// Compile time: the handler's data and this schema have the same fields.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const backfillRunSchemaCheck: Same<keyof CourseBackfillRun, keyof z.infer<typeof backfillRunSchema>> =
  true;

// Attempts per call: one batch, so the request returns within a second or two.
const BATCH_SIZE = 500;

export const backfillCourseRoute = defineRoute({
  operationId: 'backfillCourse',
  method: 'POST',
  path: '/api/v1/courses/{courseId}/backfill',
  tags: ['certificates'],
  summary: "Certificates for a course's past passing attempts (certificate admin)",
  description:
    'Backfill for one course, as `npm run backfill -- --course`: with `dryRun` it only counts the ' +
    'certificates it would create (and shows a sample of attempts); otherwise it creates at most one ' +
    'batch of pending certificates, none while twice the concurrency budget or more are waiting, and ' +
    'returns at once: the scheduled scan renders them. Call again until `remainingAttempts` is 0. ' +
    'Backfilled certificates send no `certificate.issued` webhook unless `notify` is true. ' +
    'The selection ends at SCAN_NOT_BEFORE when it is set (a later `to` is cut to it, a missing one ' +
    "becomes it): later passes are the scan's, issued and announced as usual. Without it, at the " +
    "call's start. `completedBefore` says where it ended.",
  request: { path: z.object({ courseId: uuidParam('Course id') }), body: backfillRequestBodySchema },
  policy: requires('certificates:backfill', 'backfill certificates'),
  responses: {
    200: { description: 'Counted (dry run) or one batch created', schema: backfillRunSchema },
    404: { description: 'Unknown course' },
  },
  handle: async (deps: BackfillDeps, { path, body, principal }) => {
    const result = await backfillCourse({ sql: deps.sql, log: logger }, path.courseId, body, {
      batchSize: BATCH_SIZE,
      maxWaiting: backfillMaxWaiting(deps.maxInFlight),
      boundary: { scanNotBefore: deps.scanNotBefore, startedAt: deps.now() },
      requestedBy: principal.subject,
    });
    logger.info('Backfill requested', {
      course_id: path.courseId,
      requested_by: principal.subject,
      dry_run: result.dryRun,
      certificates: result.certificates,
      remaining_attempts: result.remainingAttempts,
      completed_before: result.completedBefore.toISOString(),
    });
    return ok({
      ...result,
      completedBefore: result.completedBefore.toISOString(),
      sample: result.sample.map((a) => ({ ...a, completedAt: a.completedAt.toISOString() })),
    });
  },
});
