import { signedIn } from '../../auth/policies.ts';
import { listStudentCertificates } from '../../certificates/read-model.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { pageBody, pageQuery, pageQuerySchema } from '../pagination.ts';
import { ok } from '../response.ts';
import { pageResponse } from './common.ts';

export const listMyCertificatesRoute = defineRoute({
  operationId: 'listMyCertificates',
  method: 'GET',
  path: '/api/v1/me/certificates',
  tags: ['certificates'],
  summary: "The signed-in student's certificates",
  description:
    'Certificates of the token subject (`sub`, the Keycloak user id). Pending ones are included ' +
    '(status pending/rendering/failed) so a frontend can show them as "being generated".',
  request: { query: pageQuerySchema },
  policy: signedIn,
  responses: { 200: pageResponse },
  handle: async (deps: ReadDeps, { query, principal }) =>
    ok(pageBody(await listStudentCertificates(deps.sql, principal.subject, pageQuery(query)))),
});
