import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { listStudentCertificatesRoute } from '../../lib/http/routes/list-student-certificates.ts';

export const { handler, createHandler, route } = lambdaRoute(listStudentCertificatesRoute, readDeps);
