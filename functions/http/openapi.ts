import { lambdaRoute } from '../../lib/http/contract.ts';
import { publicDeps } from '../../lib/http/deps.ts';
import { openApiRoute } from '../../lib/http/routes/openapi.ts';

export const { handler, createHandler, route } = lambdaRoute(openApiRoute, publicDeps);
