import { z } from 'zod';
import {
  DEFAULT_RANGE_DAYS,
  EVENT_KINDS,
  type EventCounts,
  MAX_RANGE_DAYS,
  REFERRER_KINDS,
} from '../certificates/analytics.ts';
import { UUID_PATTERN } from '../certificates/ids.ts';
import { isoDay } from '../validation.ts';

/** Query and response shapes of the analytics routes (lib/http/routes/analytics.ts). */

const uuid = z.string().regex(UUID_PATTERN);
const count = z.number().int().nonnegative();
const isoDate = z.iso.date();

// Years 0001-9999 only (isoDay); the dates resolveRange derives from these are checked there.
const dayParam = (description: string) =>
  isoDay()
    .optional()
    .meta({ description, override: { type: 'string', format: 'date' } });

export const analyticsQuerySchema = z.object({
  from: dayParam(
    `First UTC day counted (inclusive). Default: ${DEFAULT_RANGE_DAYS} days ending at \`to\`. ` +
      `At most ${MAX_RANGE_DAYS - 1} days before \`to\` (${MAX_RANGE_DAYS} days, both ends included).`,
  ),
  to: dayParam(
    'Last UTC day counted (inclusive). Default: today, or the end of the default range after `from`.',
  ),
});

const kindCountsSchema = z
  .strictObject(
    Object.fromEntries(EVENT_KINDS.map((kind) => [kind, count])) as Record<
      (typeof EVENT_KINDS)[number],
      typeof count
    >,
  )
  .describe(
    'download-link: presigned download URLs handed out (owner or staff); verification-view: public ' +
      'verification page/API views; credential-export: Open Badges credentials exported (the verification page\'s "add to wallet" and the holder\'s own route).',
  )
  .meta({ id: 'EventKindCounts' });

const eventCountsShape = {
  from: isoDate,
  to: isoDate,
  timeZone: z.literal('UTC'),
  total: count,
  totals: kindCountsSchema,
  referrers: z
    .strictObject(
      Object.fromEntries(REFERRER_KINDS.map((kind) => [kind, count])) as Record<
        (typeof REFERRER_KINDS)[number],
        typeof count
      >,
    )
    .describe('Events by the kind of their Referer host (the URL itself is never stored)'),
  days: z
    .array(z.strictObject({ date: isoDate, total: count, counts: kindCountsSchema }))
    .describe('Every day of the range, oldest first, zeros included'),
};

export const courseAnalyticsSchema = z
  .strictObject({ courseId: uuid, ...eventCountsShape })
  .meta({ id: 'CourseAnalytics' });

export const certificateAnalyticsSchema = z
  .strictObject({ certificateId: uuid, ...eventCountsShape })
  .meta({ id: 'CertificateAnalytics' });

// Compile-time check: the use-cases' results and the documented shapes stay the same.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const analyticsShapesMatch: {
  course: Same<EventCounts & { courseId: string }, z.infer<typeof courseAnalyticsSchema>>;
  certificate: Same<EventCounts & { certificateId: string }, z.infer<typeof certificateAnalyticsSchema>>;
} = { course: true, certificate: true };
