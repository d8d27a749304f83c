import { loadConfig } from '../../lib/config.ts';
import { lazyHandler, preflightRoute, type RouteOptions } from '../../lib/http/route.ts';

// Not an operation of the API (no route declaration, not in the OpenAPI document): the CORS
// preflight of all of them.

/**
 * The paths of the routes declared `crossOrigin: 'any'` (lib/http/routes), whose preflights any
 * origin gets. Written out rather than read from the declarations: importing those would bundle
 * the database client, the renderer and the credential signer into this 128 MB function, which
 * answers every browser call of the API and needs none of them. A test keeps the two equal.
 */
export const ANY_ORIGIN_PATHS: readonly string[] = [
  '/api/v1/verify/{verificationCode}',
  '/api/v1/verify/{verificationCode}/credential',
  '/api/v1/status/{listId}',
  '/.well-known/jwks.json',
  '/api/v1/keys/{kid}',
];

export const createHandler = (deps: RouteOptions) =>
  preflightRoute({ ...deps, anyOriginPaths: ANY_ORIGIN_PATHS });
// The origins from the http section itself, not lib/http/deps.ts: that module builds the
// database client and the secret stores' SDK clients, which this function would then bundle.
export const handler = lazyHandler(() =>
  createHandler({ corsOrigins: loadConfig(['http']).http.CORS_ALLOWED_ORIGINS }),
);
