import { z } from 'zod';
import { anyone, readScope, signedIn } from '../../auth/policies.ts';
import { getCertificate } from '../../certificates/read-model.ts';
import {
  signedOpenBadgeForCertificate,
  signedOpenBadgeForCode,
  signedStatusList,
} from '../../credentials/credential-service.ts';
import { recordPublicEvent, recordRequestEvent } from '../analytics.ts';
import { defineRoute } from '../contract.ts';
import type { AuthenticatedCredentialDeps, CredentialDeps } from '../credential-deps.ts';
import { uuidParam } from '../params.ts';
import type { HttpResponse } from '../response.ts';
import { certificateIdPath, errorResponse, notReadyHeaders, verificationCodePath } from './common.ts';

/**
 * The signed credentials of issue 11: the W3C Bitstring Status List that verifiers fetch to see
 * revocations, and a certificate's Open Badges 3.0 credential (VC-JWT) for its holder and for
 * wallets. Both are signed with the issuer's RS256 credentials key (not the ES256 key of the QR
 * code's facts), named by URL: their
 * `kid` is `{PUBLIC_API_BASE_URL}/keys/{thumbprint}` (issuerKeyUrl), a `kid` the JWKS lists the
 * key under (jwksDocument).
 */

const VC_JWT = 'application/vc+jwt';
/*
 * Open Badges 3.0, "Document Formats", Web Resource: a credential signed as a VC-JWT is served as
 * its compact JWS and "the Content-Type SHOULD be `text/plain`". Its header says `typ` JWT (the
 * Open Badges proof format), so `application/vc+jwt`, the VC-JOSE-COSE type whose tokens say
 * `typ` vc+jwt, would announce a format the token is not. The status list is a VC-JOSE-COSE
 * credential (`typ` vc+jwt) and keeps that type.
 */
const OPEN_BADGE_MEDIA_TYPE = 'text/plain';

const jwtSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/)
  .meta({
    description:
      "Compact JWS (RS256, Open Badges 3.0's minimum). Its `kid` is the key's URL `{PUBLIC_API_BASE_URL}/keys/{thumbprint}` " +
      '(GET /api/v1/keys/{kid}); the JWK Set at /.well-known/jwks.json lists the key under that ' +
      "URL and under the thumbprint alone, the URL's last segment",
  });

const credentialFileHeaders = z.object({
  'Content-Disposition': z
    .string()
    .meta({ description: 'attachment; filename="open-badge-<code>.jwt": the name to save it under' }),
});

/** A credential as a file: wallets and people save it as `<code>.jwt`. */
function credentialFile(jwt: string, verificationCode: string): HttpResponse {
  return {
    statusCode: 200,
    headers: {
      'Content-Type': `${OPEN_BADGE_MEDIA_TYPE}; charset=utf-8`,
      'Content-Disposition': `attachment; filename="open-badge-${verificationCode.replace(/[^A-Za-z0-9-]/g, '')}.jwt"`,
      // Personal data: never kept by shared caches.
      'Cache-Control': 'no-store',
    },
    body: jwt,
  };
}

export const getStatusListRoute = defineRoute({
  operationId: 'getStatusList',
  method: 'GET',
  path: '/api/v1/status/{listId}',
  tags: ['public'],
  summary: 'A W3C Bitstring Status List (revocations), signed',
  description:
    "The `statusListCredential` of every certificate's Open Badges credential points here: a " +
    '`BitstringStatusListCredential` (VC 2.0) as a VC-JWT (`typ` vc+jwt, RS256 with the issuer credentials key). ' +
    "A set bit means revoked or superseded. `Cache-Control: public, max-age` equals the credential's " +
    '`ttl` (STATUS_LIST_TTL_SECONDS): a verifier fetching the list sees a revocation at once, one that keeps it ' +
    'for its `ttl` at the latest one `ttl` after it, and one whose copy came from an HTTP cache (a browser, a proxy) ' +
    'that kept it for its max-age, at the latest two: the list is signed valid for two `ttl`s. ' +
    'Any origin may fetch it.',
  request: { path: z.object({ listId: uuidParam('Status list id') }) },
  policy: anyone,
  crossOrigin: 'any',
  responses: {
    200: { description: 'The signed status list', contentType: VC_JWT, schema: jwtSchema },
    404: errorResponse('No such list'),
  },
  handle: async (deps: CredentialDeps, { path }) => {
    const list = await signedStatusList(deps, deps.credentials, path.listId);
    return {
      statusCode: 200,
      headers: {
        'Content-Type': list.contentType,
        'Cache-Control': list.cacheControl,
        // Public data, checked by verifiers anywhere (wallets in browsers too): `crossOrigin: 'any'`.
        'Cross-Origin-Resource-Policy': 'cross-origin',
      },
      body: list.jwt,
    };
  },
});

export const getCertificateCredentialRoute = defineRoute({
  operationId: 'getCertificateCredential',
  method: 'GET',
  path: '/api/v1/certificates/{certificateId}/credential',
  tags: ['certificates'],
  summary: 'The Open Badges 3.0 credential of a certificate (VC-JWT)',
  description:
    'An `OpenBadgeCredential` as a VC-JWT (RS256, `kid` the key URL `{PUBLIC_API_BASE_URL}/keys/{thumbprint}`, ' +
    'see GET /api/v1/keys/{kid}; claims `iss`, `jti`, `sub`, `nbf`, `exp` as Open Badges 3.0 maps them), ' +
    'with `credentialStatus` pointing at its entry in a status list (`GET /api/v1/status/{listId}`). ' +
    'Revoked, superseded and expired certificates still have theirs: the status entry and `validUntil` ' +
    'say what they are (one revoked or superseded before status lists existed has no entry: 410). ' +
    'Recorded as a `credential-export`.',
  request: { path: certificateIdPath },
  policy: signedIn,
  responses: {
    200: {
      description: 'The signed credential',
      contentType: OPEN_BADGE_MEDIA_TYPE,
      schema: jwtSchema,
      headers: credentialFileHeaders,
    },
    404: errorResponse('Unknown (or not yours)'),
    409: {
      ...errorResponse(
        'No credential, as the download answers: `certificate_not_ready` (pending, rendering or failed, with ' +
          'Retry-After; ask again) or `certificate_generation_failed` (dead). `certificateStatus` carries the status.',
      ),
      headers: notReadyHeaders,
    },
    410: errorResponse(
      'A replacement revoked or superseded before it was ever generated (cancelled with its original), or ' +
        'a certificate revoked or superseded before status lists existed (its credential could not say so): ' +
        '`certificate_revoked` / `certificate_superseded`, final',
    ),
  },
  handle: async (deps: AuthenticatedCredentialDeps, { path, principal, event }) => {
    // Someone else's certificate is "not found", exactly like the other certificate routes.
    const certificate = await getCertificate(deps.sql, readScope(principal), path.certificateId);
    const jwt = await signedOpenBadgeForCertificate(deps, deps.credentials, certificate.id);
    await recordRequestEvent(deps, 'credential-export', { certificateId: certificate.id }, event);
    return credentialFile(jwt, certificate.verificationCode);
  },
});

export const getPublicCredentialRoute = defineRoute({
  operationId: 'getPublicCredential',
  method: 'GET',
  path: '/api/v1/verify/{verificationCode}/credential',
  tags: ['public'],
  summary: 'The Open Badges 3.0 credential behind a verification code ("add to wallet")',
  description:
    'The same VC-JWT as `GET /api/v1/certificates/{certificateId}/credential`, for whoever holds the ' +
    'verification code (printed on the certificate, in its QR code): the verification page offers it ' +
    'as "add to wallet". It states what the public page shows (name, course, dates, issuer, status) ' +
    'plus a subject id of the holder for this certificate alone (a `urn:uuid:`, not the account id: two codes ' +
    "of one student do not tell they are one person's). " +
    'Recorded as a `credential-export`.',
  request: {
    path: verificationCodePath,
  },
  policy: anyone,
  crossOrigin: 'any',
  responses: {
    200: {
      description: 'The signed credential',
      contentType: OPEN_BADGE_MEDIA_TYPE,
      schema: jwtSchema,
      headers: credentialFileHeaders,
    },
    404: errorResponse('No generated certificate has this code'),
    410: errorResponse(
      'A certificate revoked or superseded before status lists existed, which no credential could say ' +
        '(`certificate_revoked` / `certificate_superseded`), final',
    ),
  },
  handle: async (deps: CredentialDeps, { path, event }) => {
    const { jwt } = await signedOpenBadgeForCode(deps, deps.credentials, path.verificationCode);
    // Reached by the page's "add to wallet" link, which a crawler following links fetches too:
    // crawlers are not counted, a wallet app naming only its HTTP library is.
    await recordPublicEvent(deps, 'credential-export', path.verificationCode, event, 'wallets');
    return credentialFile(jwt, path.verificationCode);
  },
});
