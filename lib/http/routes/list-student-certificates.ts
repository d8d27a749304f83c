import { studentOrReader } from '../../auth/policies.ts';
import { listStudentCertificates } from '../../certificates/read-model.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { pageBody, pageQuery, pageQuerySchema } from '../pagination.ts';
import { ok } from '../response.ts';
import { pageResponse, studentIdPath } from './common.ts';

export const listStudentCertificatesRoute = defineRoute({
  operationId: 'listStudentCertificates',
  method: 'GET',
  path: '/api/v1/students/{studentId}/certificates',
  tags: ['certificates'],
  summary: "A student's certificates",
  description:
    'Guide: `GET /api/v1/certificates/{student_id}`. The student themself or staff; ' +
    "another student's list answers 403.",
  request: { path: studentIdPath, query: pageQuerySchema },
  policy: studentOrReader((input: { path: { studentId: string } }) => input.path.studentId),
  responses: { 200: pageResponse },
  handle: async (deps: ReadDeps, { path, query }) =>
    ok(pageBody(await listStudentCertificates(deps.sql, path.studentId, pageQuery(query)))),
});
