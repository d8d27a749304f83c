import { verifyCertificate } from '../../lib/certificates/read-model.ts';
import { type DbDeps, dbDeps } from '../../lib/http/deps.ts';
import { patternPathParam } from '../../lib/http/params.ts';
import { ok } from '../../lib/http/response.ts';
import { lazyHandler, publicRoute } from '../../lib/http/route.ts';

/** GET /api/v1/verify/{verificationCode}: public, the target of the certificate's QR code. */
export const createHandler = (deps: DbDeps) =>
  publicRoute(deps, async ({ event }) => {
    const code = patternPathParam(
      event,
      'verificationCode',
      /^[A-Za-z0-9-]{6,64}$/,
      'must be 6-64 letters or digits',
    );
    // Short shared caching only: a revocation must show up within a minute.
    return ok(await verifyCertificate(deps.sql, code), { 'Cache-Control': 'public, max-age=60' });
  });

export const handler = lazyHandler(() => createHandler(dbDeps()));
