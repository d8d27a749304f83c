import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { getCertificateRoute } from '../../lib/http/routes/get-certificate.ts';

export const { handler, createHandler, route } = lambdaRoute(getCertificateRoute, readDeps);
