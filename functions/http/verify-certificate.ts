import { type DbDeps, dbDeps } from '../../lib/http/deps.ts';
import { patternPathParam } from '../../lib/http/params.ts';
import { lazyHandler, publicRoute } from '../../lib/http/route.ts';
import { verificationResponse, wantsJson } from '../../lib/http/verification.ts';

/**
 * GET /api/v1/verify/{verificationCode} (= VERIFY_BASE_URL/{code}, the QR code's target):
 * the public verification page, or JSON for Accept: application/json.
 */
export const createHandler = (deps: DbDeps) =>
  publicRoute(deps, async ({ event }) => {
    const accept = event.headers?.accept;
    const code = wantsJson(accept)
      ? patternPathParam(event, 'verificationCode', /^[A-Za-z0-9-]{6,64}$/, 'must be 6-64 letters or digits')
      : (event.pathParameters?.verificationCode ?? '');
    return verificationResponse(deps.sql, {
      code,
      accept,
      acceptLanguage: event.headers?.['accept-language'],
    });
  });

export const handler = lazyHandler(() => createHandler(dbDeps()));
