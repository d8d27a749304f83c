import { lambdaRoute } from '../../lib/http/contract.ts';
import { readDeps } from '../../lib/http/deps.ts';
import { listLaterPassesRoute } from '../../lib/http/routes/list-later-passes.ts';

export const { handler, createHandler, route } = lambdaRoute(listLaterPassesRoute, readDeps);
