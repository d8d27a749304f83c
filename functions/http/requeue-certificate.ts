import { lambdaRoute } from '../../lib/http/contract.ts';
import { dispatchDeps } from '../../lib/http/dispatch-deps.ts';
import { requeueCertificateRoute } from '../../lib/http/routes/requeue-certificate.ts';

export const { handler, createHandler, route } = lambdaRoute(requeueCertificateRoute, dispatchDeps);
