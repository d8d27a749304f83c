import { lambdaRoute } from '../../lib/http/contract.ts';
import { verifyDeps } from '../../lib/http/deps.ts';
import { verifyCertificateRoute } from '../../lib/http/routes/verify-certificate.ts';

export const { handler, createHandler, route } = lambdaRoute(verifyCertificateRoute, verifyDeps);
