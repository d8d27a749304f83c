import { z } from 'zod';
import { requires } from '../../auth/policies.ts';
import { reissueCertificate } from '../../certificates/lifecycle.ts';
import { logger } from '../../observability/logger.ts';
import { defineRoute } from '../contract.ts';
import type { DispatchDeps } from '../dispatch-deps.ts';
import { json } from '../response.ts';
import { reissueRequestSchema, reissueResultSchema } from '../schemas.ts';
import { certificateIdPath, errorResponse } from './common.ts';

export const reissueCertificateRoute = defineRoute({
  operationId: 'reissueCertificate',
  method: 'POST',
  path: '/api/v1/certificates/{certificateId}/reissue',
  tags: ['certificates', 'lifecycle'],
  summary: 'Replace an issued certificate by a new one (certificate admin)',
  description:
    'For a name change in Keycloak, a template fix, a wrong date: a new `pending` certificate of the ' +
    'same attempt replaces it, generated at once through the normal pipeline (student name read again, ' +
    'current template, new S3 key and verification code; if the invoke fails, the scheduled scan picks ' +
    'it up). The certificate stays issued, valid and downloadable until the new one is issued; in that ' +
    'transaction it becomes `superseded` (`supersededBy` the new one, its status-list bit set). A ' +
    'replacement that fails for good leaves it as it was (requeue the replacement). Both get an audit ' +
    'row with who and why. Only issued certificates can be reissued, once: of concurrent calls exactly ' +
    'one wins, and while a replacement waits another reissue is a 409 `replacement-pending`. A reissue ' +
    'corrects, it does not renew: the new certificate keeps the expiry of the one it replaces, so an ' +
    'expired certificate is a 409 `expired` (a new passing attempt renews it).',
  request: { path: certificateIdPath, body: reissueRequestSchema },
  policy: requires('certificates:lifecycle', 'reissue certificates'),
  responses: {
    201: {
      description: 'The new certificate was created',
      schema: reissueResultSchema,
      headers: z.object({
        Location: z.string().meta({ description: 'The new certificate: /api/v1/certificates/{id}' }),
      }),
    },
    404: { description: 'Unknown certificate' },
    409: errorResponse(
      'Not issued (revoked, already superseded, still being generated...), expired (`expired`), or ' +
        'its replacement is already waiting (`replacement-pending`); `status` says which',
    ),
  },
  handle: async (deps: DispatchDeps, { path, body, principal }) => {
    const result = await reissueCertificate(
      { sql: deps.sql, dispatch: deps.dispatch, log: logger },
      { certificateId: path.certificateId, reason: body.reason, actor: principal.subject },
      { dispatchLeaseSeconds: deps.dispatchLeaseSeconds, maxInFlight: deps.maxInFlight },
    );
    // RFC 9110 15.3.2: without Location, the resource a 201 created is the request's target
    // (this .../reissue URL), not the new certificate.
    return json(
      201,
      { id: result.id, supersedes: result.supersedes, status: 'pending', dispatched: result.dispatched },
      { Location: `/api/v1/certificates/${result.id}` },
    );
  },
});
