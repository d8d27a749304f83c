import { lambdaRoute } from '../../lib/http/contract.ts';
import { dbDeps } from '../../lib/http/deps.ts';
import { issuerKeyRoute } from '../../lib/http/routes/jwks.ts';

export const { handler, createHandler, route } = lambdaRoute(issuerKeyRoute, dbDeps);
