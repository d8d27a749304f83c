import { lambdaRoute } from '../../lib/http/contract.ts';
import { certificateReadDeps } from '../../lib/http/deps.ts';
import { getLatestStudentCertificateRoute } from '../../lib/http/routes/get-latest-student-certificate.ts';

export const { handler, createHandler, route } = lambdaRoute(
  getLatestStudentCertificateRoute,
  certificateReadDeps,
);
