import { publicDeps } from '../../lib/http/deps.ts';
import { lazyHandler, preflightRoute, type RouteOptions } from '../../lib/http/route.ts';

// Not an operation of the API (no route declaration, not in the OpenAPI document): the CORS
// preflight of all of them.
export const createHandler = (deps: RouteOptions) => preflightRoute(deps);
export const handler = lazyHandler(() => createHandler(publicDeps()));
