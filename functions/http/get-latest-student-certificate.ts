import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { getLatestStudentCertificateRoute } from '../../lib/http/routes/get-latest-student-certificate.ts';

export const { handler, createHandler, route } = lambdaRoute(getLatestStudentCertificateRoute, readDeps);
