import { readScope, signedIn } from '../../auth/policies.ts';
import { getCertificate } from '../../certificates/read-model.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { ok } from '../response.ts';
import { certificateIdPath, certificateResponse } from './common.ts';

export const getCertificateRoute = defineRoute({
  operationId: 'getCertificate',
  method: 'GET',
  path: '/api/v1/certificates/{certificateId}',
  tags: ['certificates'],
  summary: "One certificate's details",
  description:
    "Guide: `GET /api/v1/certificates/{certificate_id}`. Another student's certificate answers " +
    '404, like an unknown id, so ids cannot be probed.',
  request: { path: certificateIdPath },
  policy: signedIn,
  responses: { 200: certificateResponse, 404: { description: 'Unknown (or not yours)' } },
  handle: async (deps: ReadDeps, { path, principal }) =>
    ok(await getCertificate(deps.sql, readScope(principal), path.certificateId)),
});
