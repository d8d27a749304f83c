import { studentOrReader } from '../../auth/policies.ts';
import { getLatestStudentCertificate } from '../../certificates/read-model.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { ok } from '../response.ts';
import { certificateResponse, studentIdPath } from './common.ts';

export const getLatestStudentCertificateRoute = defineRoute({
  operationId: 'getLatestStudentCertificate',
  method: 'GET',
  path: '/api/v1/students/{studentId}/certificates/latest',
  tags: ['certificates'],
  summary: "A student's most recent certificate",
  description: 'Guide: `GET /api/v1/certificates/{student_id}/latest`. The student themself or staff.',
  request: { path: studentIdPath },
  policy: studentOrReader((input: { path: { studentId: string } }) => input.path.studentId),
  responses: { 200: certificateResponse, 404: { description: 'No certificate yet' } },
  handle: async (deps: ReadDeps, { path }) => ok(await getLatestStudentCertificate(deps.sql, path.studentId)),
});
