import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { listCourseCertificatesRoute } from '../../lib/http/routes/list-course-certificates.ts';

export const { handler, createHandler, route } = lambdaRoute(listCourseCertificatesRoute, readDeps);
