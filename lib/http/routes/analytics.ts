import { z } from 'zod';
import { requires } from '../../auth/policies.ts';
import { certificateAnalytics, courseAnalytics } from '../../certificates/analytics.ts';
import type { Clock } from '../../certificates/ports.ts';
import {
  analyticsQuerySchema,
  certificateAnalyticsSchema,
  courseAnalyticsSchema,
} from '../analytics-schemas.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { uuidParam } from '../params.ts';
import { ok } from '../response.ts';
import { certificateIdPath } from './common.ts';

/** Staff analytics: counts per UTC day and kind of recorded events (lib/certificates/analytics.ts). */

const RANGE_NOTE =
  'Counts per UTC day and per kind between `from` and `to` (inclusive; default the last 30 days). ' +
  'Only counts: no IP address, user agent or referrer URL is stored.';

// Same permission as reading a course's certificates: staff (certificate-admin, teacher).
const staffOnly = requires('certificates:read-any', 'read analytics');

export const getCourseAnalyticsRoute = defineRoute({
  operationId: 'getCourseAnalytics',
  method: 'GET',
  path: '/api/v1/courses/{courseId}/analytics',
  tags: ['analytics'],
  summary: "Downloads, verification views and credential exports of a course's certificates (staff)",
  description: RANGE_NOTE,
  request: { path: z.object({ courseId: uuidParam('Course id') }), query: analyticsQuerySchema },
  policy: staffOnly,
  responses: {
    200: { description: 'Counts per day and kind', schema: courseAnalyticsSchema },
    404: { description: 'Unknown course' },
  },
  handle: async (deps: ReadDeps & { now?: Clock }, { path, query }) =>
    ok(await courseAnalytics(deps, path.courseId, query)),
});

export const getCertificateAnalyticsRoute = defineRoute({
  operationId: 'getCertificateAnalytics',
  method: 'GET',
  path: '/api/v1/certificates/{certificateId}/analytics',
  tags: ['analytics'],
  summary: 'Downloads, verification views and credential exports of one certificate (staff)',
  description: RANGE_NOTE,
  request: { path: certificateIdPath, query: analyticsQuerySchema },
  policy: staffOnly,
  responses: {
    200: { description: 'Counts per day and kind', schema: certificateAnalyticsSchema },
    404: { description: 'Unknown certificate' },
  },
  handle: async (deps: ReadDeps & { now?: Clock }, { path, query }) =>
    ok(await certificateAnalytics(deps, path.certificateId, query)),
});
