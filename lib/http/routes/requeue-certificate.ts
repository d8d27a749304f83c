import { requires } from '../../auth/policies.ts';
import { requeueAndDispatch } from '../../certificates/requeue.ts';
import { logger } from '../../observability/logger.ts';
import { defineRoute } from '../contract.ts';
import type { DispatchDeps } from '../dispatch-deps.ts';
import { json } from '../response.ts';
import { requeueRequestSchema, requeueResultSchema } from '../schemas.ts';
import { certificateIdPath, errorResponse } from './common.ts';

export const requeueCertificateRoute = defineRoute({
  operationId: 'requeueCertificate',
  method: 'POST',
  path: '/api/v1/certificates/{certificateId}/requeue',
  tags: ['certificates'],
  summary: 'Retry a dead or failed certificate now (certificate admin)',
  description:
    'Operator action once the cause of a failed generation is fixed (student restored in Keycloak, ' +
    'template repaired...): the certificate goes back to `pending` with a fresh set of attempts, a ' +
    '`requeued` audit row records who and why, and generation is invoked at once when the concurrency ' +
    'budget has room (otherwise, or if that invoke fails, the scheduled scan picks it up).',
  request: { path: certificateIdPath, body: requeueRequestSchema, bodyRequired: false },
  policy: requires('certificates:requeue', 'requeue certificates'),
  responses: {
    200: { description: 'Requeued', schema: requeueResultSchema },
    404: { description: 'Unknown certificate' },
    409: errorResponse('Not dead or failed; `status` carries the current status'),
  },
  handle: async (deps: DispatchDeps, { path, body, principal }) => {
    const result = await requeueAndDispatch(
      { sql: deps.sql, dispatch: deps.dispatch, log: logger },
      { dispatchLeaseSeconds: deps.dispatchLeaseSeconds, maxInFlight: deps.maxInFlight },
      path.certificateId,
      { requestedBy: principal.subject, ...body },
    );
    return json(200, { id: result.id, previousStatus: result.previousStatus, status: result.status });
  },
});
