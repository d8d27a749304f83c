import { z } from 'zod';
import { requires } from '../../auth/policies.ts';
import { laterPassesOfCourse } from '../../certificates/read-model.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { intParam, uuidParam } from '../params.ts';
import { ok } from '../response.ts';
import { laterPassListSchema } from '../schemas.ts';

const MAX_LIMIT = 500;
const DEFAULT_LIMIT = 100;

export const listLaterPassesRoute = defineRoute({
  operationId: 'listLaterPasses',
  method: 'GET',
  path: '/api/v1/courses/{courseId}/later-passes',
  tags: ['lifecycle'],
  summary: 'Passing attempts blocked by a dead certificate (certificate admin work list)',
  description:
    'A student passed again while their certificate for the course is `dead` (generation gave up): ' +
    'no second certificate is issued and the attempt waits here, oldest first, with a ' +
    '`later-pass-blocked` audit row on the dead certificate. Staff fix the cause and requeue the ' +
    'dead certificate (POST .../requeue). `deadCertificateId` is null once it no longer blocks; those ' +
    'still blocked are listed first, so resolved entries never crowd them out of the limit.',
  request: {
    path: z.object({ courseId: uuidParam('Course id') }),
    query: z.object({
      limit: intParam({
        min: 1,
        max: MAX_LIMIT,
        default: DEFAULT_LIMIT,
        description: `Most entries returned, 1-${MAX_LIMIT} (default ${DEFAULT_LIMIT})`,
      }),
    }),
  },
  // Checked before the course lookup, so non-staff cannot learn which course ids exist.
  policy: requires('certificates:lifecycle', 'see the later passes waiting for staff'),
  responses: {
    200: {
      description: 'Still blocked first, then resolved; oldest first in each',
      schema: laterPassListSchema,
    },
    404: { description: 'Unknown course' },
  },
  handle: async (deps: ReadDeps, { path, query }) => {
    const items = await laterPassesOfCourse(deps.sql, path.courseId, query.limit ?? DEFAULT_LIMIT);
    return ok({ items: items.map((item) => ({ ...item, since: item.since.toISOString() })) });
  },
});
