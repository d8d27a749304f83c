import { requires } from '../../auth/policies.ts';
import { requeueDeadCertificates } from '../../certificates/requeue.ts';
import { logger } from '../../observability/logger.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { ok } from '../response.ts';
import { bulkRequeueRequestSchema, bulkRequeueResultSchema } from '../schemas.ts';
import { errorResponse } from './common.ts';

export const requeueDeadCertificatesRoute = defineRoute({
  operationId: 'requeueDeadCertificates',
  method: 'POST',
  path: '/api/v1/certificates/requeue',
  tags: ['certificates'],
  summary: 'Retry dead (or failed) certificates in bulk (certificate admin)',
  description:
    'Operator action once the cause is fixed, when many certificates died of it: a dependency ' +
    'outage that outlasted the retries (`diedAfter` its start), or a course whose template was ' +
    'broken (`courseId`). Each matching `dead` certificate goes back to `pending` with a fresh set ' +
    'of attempts and a `requeued` audit row; the scheduled scan renders them within the concurrency ' +
    'budget. At most 1,000 a call, oldest first: call again until `remaining` is 0. `dryRun` only ' +
    'lists what would be requeued. With `"status": "failed"`, the certificates waiting for a retry ' +
    'instead, brought forward: after a Keycloak or S3 setup error is fixed, those that hit it would ' +
    'otherwise wait CONFIGURATION_RETRY_SECONDS (an hour by default).',
  request: { body: bulkRequeueRequestSchema, bodyRequired: false },
  policy: requires('certificates:requeue', 'requeue certificates'),
  responses: {
    200: { description: 'Requeued (or, on a dry run, listed)', schema: bulkRequeueResultSchema },
    404: errorResponse('No course with this `courseId`'),
  },
  handle: async (deps: ReadDeps, { body, principal }) => {
    const result = await requeueDeadCertificates(deps.sql, { ...body, requestedBy: principal.subject });
    logger.info(body.status === 'failed' ? 'Failed certificates requeued' : 'Dead certificates requeued', {
      requested_by: principal.subject,
      status: body.status,
      dry_run: result.dryRun,
      ...(body.courseId ? { course_id: body.courseId } : {}),
      ...(body.diedAfter ? { died_after: body.diedAfter } : {}),
      count: result.count,
      remaining: result.remaining,
    });
    return ok(result);
  },
});
