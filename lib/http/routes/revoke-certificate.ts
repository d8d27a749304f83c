import { requires } from '../../auth/policies.ts';
import { revokeCertificate } from '../../certificates/lifecycle.ts';
import { logger } from '../../observability/logger.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { json } from '../response.ts';
import { revokeRequestSchema, revokeResultSchema } from '../schemas.ts';
import { certificateIdPath, errorResponse } from './common.ts';

export const revokeCertificateRoute = defineRoute({
  operationId: 'revokeCertificate',
  method: 'POST',
  path: '/api/v1/certificates/{certificateId}/revoke',
  tags: ['certificates', 'lifecycle'],
  summary: 'Revoke an issued certificate (certificate admin; final)',
  description:
    'Withdraws an issued (or expired) certificate with a reason from the documented list. Nothing is ' +
    'deleted: the record and the PDF stay, the download answers 410, the verification page says ' +
    "revoked with the date and reason, and the certificate's bit in its status list is set. A " +
    '`revoked` audit row records who and why. A revocation is final: there is no un-revoke; a ' +
    "student's next passing attempt issues a new certificate. Of concurrent calls exactly one wins.",
  request: { path: certificateIdPath, body: revokeRequestSchema },
  policy: requires('certificates:lifecycle', 'revoke certificates'),
  responses: {
    200: { description: 'Revoked', schema: revokeResultSchema },
    404: { description: 'Unknown certificate' },
    409: errorResponse(
      'Not issued (already revoked, superseded, still being generated...); `status` says which',
    ),
  },
  handle: async (deps: ReadDeps, { path, body, principal }) => {
    const result = await revokeCertificate(
      { sql: deps.sql, log: logger },
      { certificateId: path.certificateId, ...body, actor: principal.subject },
    );
    return json(200, {
      id: result.id,
      status: 'revoked',
      revokedAt: result.revokedAt.toISOString(),
      reasonCode: result.reasonCode,
      reasonText: result.reasonText,
      statusListUpdated: result.statusBitSet,
    });
  },
});
