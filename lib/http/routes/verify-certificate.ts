import { z } from 'zod';
import { anyone } from '../../auth/policies.ts';
import type { CertificateLinks } from '../../certificates/read-model.ts';
import type { Sql } from '../../db/client.ts';
import { type AnalyticsAware, recordPublicEvent } from '../analytics.ts';
import { defineRoute } from '../contract.ts';
import { publicVerificationSchema } from '../schemas.ts';
import { verificationErrorPage, verificationResponse } from '../verification.ts';
import { errorResponse, verificationPagePath } from './common.ts';

export const verifyCertificateRoute = defineRoute({
  operationId: 'verifyCertificate',
  method: 'GET',
  path: '/api/v1/verify/{verificationCode}',
  tags: ['public'],
  summary: 'Public verification (QR code target)',
  description:
    'VERIFY_BASE_URL/{code}, what a scanned QR code opens. By default the public verification page ' +
    "(HTML in the certificate's language): the facts, the issuer and a verdict (`data-status` on " +
    '`main`: valid, revoked, expired, superseded, tampered (altered, or signed with a key since revoked), ' +
    'not-found, unavailable (the records could not be read)), and for a valid certificate ' +
    '"add to wallet" (`{code}/credential`, the Open Badges credential) and LinkedIn\'s Add to Profile; ' +
    'its script checks the signed ' +
    'credential in the URL fragment against /.well-known/jwks.json in the browser. With ' +
    '`Accept: application/json`: minimal public data of an issued certificate (name, course, issue ' +
    'date and whether it is still valid).',
  request: {
    // Not the 6-64 pattern: the handler checks it, answering each client in its own form.
    path: verificationPagePath,
  },
  policy: anyone,
  crossOrigin: 'any',
  // A browser's failed request gets the page too (could not be checked now; unknown code).
  errorPage: verificationErrorPage,
  responses: {
    200: {
      description: 'The certificate exists (JSON for Accept: application/json, else the HTML page)',
      schema: publicVerificationSchema,
      alternatives: [{ contentType: 'text/html', schema: z.string() }],
    },
    400: {
      ...errorResponse(
        'With Accept: application/json, a code that is not 6-64 letters, digits or hyphens (`error.parameter` ' +
          'is `verificationCode`), where a browser gets the 404 page instead; a code longer than 128 ' +
          'characters: the error, or for a browser the unknown-code page with this status',
      ),
      alternatives: [{ contentType: 'text/html', schema: z.string() }],
    },
    404: {
      description:
        'No issued certificate has this code: the error (JSON for Accept: application/json), else the HTML ' +
        'page saying so (data-status="not-found"), also for a malformed code',
      // The JSON error is the default for a status >= 400 (lib/http/openapi.ts); the page is served
      // to browsers by the same content negotiation as the 200 (verificationResponse).
      alternatives: [{ contentType: 'text/html', schema: z.string() }],
    },
    500: {
      ...errorResponse(
        'Unexpected server error (`error.code` internal_error, quote `error.requestId`); a browser gets the ' +
          'page saying the certificate could not be checked now (data-status="unavailable")',
      ),
      alternatives: [{ contentType: 'text/html', schema: z.string() }],
    },
    503: {
      ...errorResponse(
        'The database is unavailable; retry. A browser gets the page saying the certificate could not be ' +
          'checked now (data-status="unavailable"), nothing about the certificate',
      ),
      alternatives: [{ contentType: 'text/html', schema: z.string() }],
      headers: z.object({
        'Retry-After': z.number().int().meta({ description: 'Seconds to wait before trying again' }),
      }),
    },
  },
  // Short shared caching only (in verificationResponse): a revocation must show up within a minute.
  // A view is counted whatever the verdict (valid, revoked, expired), but not a prefetch, a
  // crawler's or a link preview's (isUnseenPublicRequest), and not for a code no
  // certificate has: the table would find no certificate to store it under, and the metric,
  // written before the insert, would count it anyway. Recording never fails or slows the page
  // (analytics.ts).
  handle: async (
    deps: AnalyticsAware & { sql: Sql; corsOrigins: readonly string[]; links?: CertificateLinks },
    { path, event },
  ) => {
    const response = await verificationResponse(deps.sql, {
      code: path.verificationCode,
      accept: event.headers?.accept,
      acceptLanguage: event.headers?.['accept-language'],
      ...(deps.links ? { links: deps.links } : {}),
    });
    if (response.statusCode !== 404)
      await recordPublicEvent(
        deps,
        'verification-view',
        path.verificationCode,
        event,
        String(response.headers?.['Content-Type'] ?? '').startsWith('text/html') ? 'people' : 'programs',
      );
    return response;
  },
});
