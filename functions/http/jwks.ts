import { type DbDeps, dbDeps } from '../../lib/http/deps.ts';
import { lazyHandler, publicRoute } from '../../lib/http/route.ts';
import { jwksResponse } from '../../lib/http/verification.ts';

/** GET /.well-known/jwks.json: the issuer's published certificate-signing keys. */
export const createHandler = (deps: DbDeps) => publicRoute(deps, async () => jwksResponse(deps.sql));

export const handler = lazyHandler(() => createHandler(dbDeps()));
