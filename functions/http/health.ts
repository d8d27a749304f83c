import { type DbDeps, dbDeps } from '../../lib/http/deps.ts';
import { checkHealth } from '../../lib/http/health.ts';
import { json } from '../../lib/http/response.ts';
import { lazyHandler, publicRoute } from '../../lib/http/route.ts';

/** GET /api/v1/health: 200 when the database answers, 503 otherwise. */
export const createHandler = (deps: DbDeps) =>
  publicRoute(deps, async () => {
    const report = await checkHealth(deps.sql);
    return json(report.status === 'ok' ? 200 : 503, report);
  });

export const handler = lazyHandler(() => createHandler(dbDeps()));
