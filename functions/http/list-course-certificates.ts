import { lambdaRoute } from '../../lib/http/contract.ts';
import { certificateReadDeps } from '../../lib/http/deps.ts';
import { listCourseCertificatesRoute } from '../../lib/http/routes/list-course-certificates.ts';

export const { handler, createHandler, route } = lambdaRoute(
  listCourseCertificatesRoute,
  certificateReadDeps,
);
