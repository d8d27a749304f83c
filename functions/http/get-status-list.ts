import { lambdaRoute } from '../../lib/http/contract.ts';
import { statusListDeps } from '../../lib/http/credential-deps.ts';
import { getStatusListRoute } from '../../lib/http/routes/credentials.ts';

export const { handler, createHandler, route } = lambdaRoute(getStatusListRoute, statusListDeps);
