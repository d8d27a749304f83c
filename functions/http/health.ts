import { lambdaRoute } from '../../lib/http/contract.ts';
import { dbDeps } from '../../lib/http/deps.ts';
import { healthRoute } from '../../lib/http/routes/health.ts';

export const { handler, createHandler, route } = lambdaRoute(healthRoute, dbDeps);
