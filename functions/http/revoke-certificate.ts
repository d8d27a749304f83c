import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { revokeCertificateRoute } from '../../lib/http/routes/revoke-certificate.ts';

export const { handler, createHandler, route } = lambdaRoute(revokeCertificateRoute, readDeps);
