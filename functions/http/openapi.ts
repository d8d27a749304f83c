import { type PublicDeps, publicDeps } from '../../lib/http/deps.ts';
import { buildOpenApiDocument } from '../../lib/http/openapi.ts';
import { ok } from '../../lib/http/response.ts';
import { lazyHandler, publicRoute } from '../../lib/http/route.ts';

/** GET /api/v1/openapi.json */
export const createHandler = (deps: PublicDeps) => {
  const document = buildOpenApiDocument();
  return publicRoute(deps, async () => ok(document, { 'Cache-Control': 'public, max-age=300' }));
};

export const handler = lazyHandler(() => createHandler(publicDeps()));
