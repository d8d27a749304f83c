import { lambdaRoute } from '../../lib/http/contract.ts';
import { keyDeps } from '../../lib/http/credential-deps.ts';
import { jwksRoute } from '../../lib/http/routes/jwks.ts';

export const { handler, createHandler, route } = lambdaRoute(jwksRoute, keyDeps);
