import { lambdaRoute } from '../../lib/http/contract.ts';
import { dispatchDeps } from '../../lib/http/dispatch-deps.ts';
import { reissueCertificateRoute } from '../../lib/http/routes/reissue-certificate.ts';

export const { handler, createHandler, route } = lambdaRoute(reissueCertificateRoute, dispatchDeps);
