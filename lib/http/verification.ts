import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { linkedInAddToProfileUrl } from '../certificates/linkedin.ts';
import {
  type CertificateLinks,
  findPublicCertificate,
  type PublicCertificateRecord,
  type PublicVerification,
  verifyCertificate,
} from '../certificates/read-model.ts';
import { jwksDocument, publishedJwk } from '../credentials/jwks.ts';
import { publishedKeys } from '../credentials/key-store.ts';
import type { Sql } from '../db/client.ts';
import { GoneError, NotFoundError, ValidationError } from '../errors.ts';
import { shippedLanguages } from '../render/i18n.ts';
import { renderVerifyPage, type VerifyPageActions } from '../render/verify-page.ts';
import type { HttpResponse } from './response.ts';
import { ok } from './response.ts';

/**
 * The public side of verification, behind VERIFY_BASE_URL/{code} and /.well-known/jwks.json.
 * Plain functions over the database; the handlers only wire them in.
 */

/** Where the page's script fetches the issuer's keys (same origin as the page). */
export const JWKS_PATH = '/.well-known/jwks.json' as const;

/**
 * A verification code's form. The route lets any path segment up to 128 characters through
 * (routes/common.ts verificationPagePath), so that this check answers a malformed code the way
 * each client reads it: a JSON client gets a 400 naming the parameter, a browser the not-found
 * page in its language.
 */
const CODE_PATTERN = /^[A-Za-z0-9-]{6,64}$/;
const CODE_FORM = 'must be 6-64 letters, digits or hyphens';

// Control and format characters (bidi overrides, zero-width) of a malformed code are not shown
// as they are: the page would echo text that reorders or hides what follows it.
const INVISIBLE = /\p{C}/gu;
/**
 * What a code that matched nothing may look like to be shown back on the not-found page: a
 * mistyped code (too short, a space inside, trailing punctuation), so the reader sees what went
 * wrong. Anything longer or freer is not repeated: the issuer's page would display a sentence
 * whoever wrote the link chose ("VALID - issued to …").
 */
const ECHOED_CODE = /^[A-Za-z0-9][A-Za-z0-9 .,;:()-]{0,31}$/;
const MAX_ECHOED_ALPHANUMERICS = 24;

function echoedCode(typed: string): string {
  const shown = typed.replace(INVISIBLE, '\uFFFD');
  const withoutMarks = shown.replaceAll('\uFFFD', '');
  if (!ECHOED_CODE.test(withoutMarks)) return '';
  if ((withoutMarks.match(/[A-Za-z0-9]/g)?.length ?? 0) > MAX_ECHOED_ALPHANUMERICS) return '';
  // A code has digits, and a mistyped one is one or two pieces (a space or a stray character in
  // it): "VALID - issued to Jane Doe" is neither.
  const pieces = withoutMarks.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return /[0-9]/.test(withoutMarks) && pieces.length <= 2 ? shown : '';
}

// Short shared caching only: a revocation must show up within a minute.
const PUBLIC_CACHE_SECONDS = 60;

/**
 * Cache-Control of a found certificate's answer: a minute, or less for a valid certificate that
 * expires sooner, so no cache goes on showing it valid past its expiry.
 */
export function publicCacheControl(
  answer: { status: PublicVerification['status']; expiresAt: string | null },
  now: Date,
): string {
  let seconds = PUBLIC_CACHE_SECONDS;
  if (answer.status === 'valid' && answer.expiresAt !== null) {
    const left = Math.floor((Date.parse(answer.expiresAt) - now.getTime()) / 1000);
    seconds = Math.max(0, Math.min(seconds, left));
  }
  return `public, max-age=${seconds}`;
}

/** An Accept or Accept-Language header's entries, lower-cased, with their weights (RFC 9110 §12.4.2: `q`, 1 by default). */
function weighted(header: string | undefined): { value: string; q: number }[] {
  return (header ?? '')
    .toLowerCase()
    .split(',')
    .map((part) => {
      const [value = '', ...params] = part.split(';').map((item) => item.trim());
      const q = params.find((param) => param.startsWith('q='));
      return { value, q: q === undefined ? 1 : Number(q.slice(2)) || 0 };
    });
}

// How acceptable a media type is under an Accept header (RFC 9110 12.5.1): the weight of the most
// specific range that matches it (`application/json`, then `application/*`, then `*/*`); 0 when
// none does, or the one that does says q=0.
function mediaQuality(accept: ReturnType<typeof weighted>, type: string): number {
  const [major = ''] = type.split('/');
  for (const range of [type, `${major}/*`, '*/*']) {
    const found = accept.find((entry) => entry.value === range);
    if (found) return found.q;
  }
  return 0;
}

// JSON only when the client accepts it and prefers it to HTML (API clients, `npm run verify
// <url>`): `application/json`, or a range that covers it (`application/*`, or `*/*` with HTML
// ruled out); HTML on a tie, as for a browser's `*/*` or no header at all.
export function wantsJson(accept: string | undefined): boolean {
  const ranges = weighted(accept);
  const json = mediaQuality(ranges, 'application/json');
  return json > 0 && json > mediaQuality(ranges, 'text/html');
}

/**
 * The shipped language an Accept-Language header prefers most, for a page with no certificate
 * (RFC 9110 §12.5.4): ranges in order of their weight (`q`, 1 by default; equal weights keep the
 * header's order), a range weighted 0 "not acceptable", each matched by its primary subtag.
 */
export function pickLanguage(acceptLanguage: string | undefined, fallback: string): string {
  const shipped = new Set(shippedLanguages());
  const preferred = weighted(acceptLanguage)
    .filter((range) => range.q > 0)
    .sort((a, b) => b.q - a.q)
    .map((range) => range.value.split('-')[0] ?? '');
  return preferred.find((language) => shipped.has(language)) ?? fallback;
}

export interface VerificationRequest {
  code: string;
  accept?: string;
  acceptLanguage?: string;
  /** VERIFY_BASE_URL and the issuer as LinkedIn shows it; unset: no LinkedIn link. */
  links?: CertificateLinks;
}

/**
 * "Add to wallet" (the Open Badges credential, GET {page}/credential: relative, so it follows the
 * page wherever VERIFY_BASE_URL maps it) and LinkedIn's Add to Profile, for a valid certificate.
 */
function pageActions(
  record: PublicCertificateRecord,
  links: CertificateLinks | undefined,
): VerifyPageActions {
  const code = encodeURIComponent(record.facts.code);
  const linkedInUrl =
    links && record.status === 'valid' && record.facts.issued !== ''
      ? linkedInAddToProfileUrl(
          {
            courseName: record.facts.course,
            issuedOn: record.facts.issued,
            expiresAt: record.expiresAt ? new Date(record.expiresAt) : null,
            verificationCode: record.facts.code,
            verifyUrl: `${links.verifyBaseUrl.replace(/\/+$/, '')}/${code}`,
          },
          links.issuer,
        )
      : null;
  return { walletHref: `${code}/credential`, linkedInUrl };
}

/**
 * A failed GET VERIFY_BASE_URL/{code} for a browser (someone who scanned a QR code): the page in
 * their language, with the status the error mapping decided, instead of a JSON error in English.
 * A server error or an unavailable database says the certificate could not be checked now (its
 * Retry-After kept) and nothing about the certificate; a 4xx (a path too long to be a code) is
 * the unknown-code page. A client asking for JSON keeps the JSON error.
 */
export function verificationErrorPage(
  mapped: HttpResponse,
  event: APIGatewayProxyEventV2,
): HttpResponse | undefined {
  const headers = event.headers ?? {};
  if (wantsJson(headers.accept)) return undefined;
  const page = renderVerifyPage({
    status: mapped.statusCode >= 500 ? 'unavailable' : 'not-found',
    code: '',
    record: null,
    fallbackLocale: pickLanguage(headers['accept-language'], 'en'),
    jwksUrl: JWKS_PATH,
    actions: null,
  });
  const retryAfter = mapped.headers?.['Retry-After'];
  return {
    statusCode: mapped.statusCode,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': page.contentSecurityPolicy,
      'Content-Language': page.language,
      'Cache-Control': 'no-store',
      Vary: 'Accept, Accept-Language',
      'Referrer-Policy': 'no-referrer',
      ...(retryAfter === undefined ? {} : { 'Retry-After': retryAfter }),
    },
    body: page.html,
  };
}

/** GET VERIFY_BASE_URL/{code}: the HTML page by default, today's JSON for Accept: application/json. */
export async function verificationResponse(
  sql: Sql,
  request: VerificationRequest,
  now: Date = new Date(),
): Promise<HttpResponse> {
  const wellFormed = CODE_PATTERN.test(request.code);
  if (wantsJson(request.accept)) {
    // The JSON contract: 404 problem for an unknown code, 400 naming the parameter for a malformed one.
    if (!wellFormed) throw new ValidationError(`verificationCode ${CODE_FORM}`, 'verificationCode');
    const answer = await verifyCertificate(sql, request.code, now);
    return ok(answer, {
      'Cache-Control': publicCacheControl(answer, now),
      Vary: 'Accept',
    });
  }
  // A browser: a mistyped code (too short, a space, trailing punctuation) is an unknown one.
  const record = wellFormed ? await findPublicCertificate(sql, request.code, now) : undefined;
  // Valid by its record, but signed with a key reported compromised since: every verifier rejects
  // this copy until its replacement is issued, and the page says so before any script runs.
  const pageStatus =
    record?.status === 'valid' && record.signedWithRevokedKey
      ? 'revoked-key'
      : (record?.status ?? 'not-found');
  const page = renderVerifyPage({
    status: pageStatus,
    code: record ? request.code : echoedCode(request.code),
    record: record ?? null,
    fallbackLocale: pickLanguage(request.acceptLanguage, 'en'),
    jwksUrl: JWKS_PATH,
    actions: record ? pageActions(record, request.links) : null,
  });
  return {
    statusCode: record ? 200 : 404,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': page.contentSecurityPolicy,
      'Content-Language': page.language,
      // An unknown code may be one being issued this minute: not cached, as the JSON 404 is not.
      'Cache-Control': record ? publicCacheControl(record, now) : 'no-store',
      Vary: 'Accept, Accept-Language',
      'Referrer-Policy': 'no-referrer',
    },
    body: page.html,
  };
}

/**
 * The key routes' caching and cross-origin headers (the JWK Set and one key alone). Five minutes:
 * a newly compromised key reaches verifiers quickly; rotation publishes the new key before it
 * signs anything, so a cached set never lacks a key in use for long.
 */
const PUBLIC_KEY_HEADERS = {
  'Cache-Control': 'public, max-age=300',
  // Any origin may read them (the routes are `crossOrigin: 'any'`), and embed them.
  'Cross-Origin-Resource-Policy': 'cross-origin',
} as const;

/** One issuer key alone, what an Open Badges VC-JWT's `kid` URL names (lib/credentials/jwks.ts issuerKeyUrl). */
export const ISSUER_KEY_PATH = '/api/v1/keys/{kid}' as const;

/**
 * GET /api/v1/keys/{kid}: one published key as a bare JWK, what an Open Badges verifier
 * dereferences. A key marked compromised is 410 (a generic verifier then fails closed, as with
 * the JWK Set, which lists it apart); an unknown one 404.
 */
export async function issuerKeyResponse(sql: Sql, kid: string, apiBaseUrl: string): Promise<HttpResponse> {
  const key = (await publishedKeys(sql)).find((entry) => entry.jwk.kid === kid);
  if (!key) throw new NotFoundError('key');
  if (key.state === 'compromised')
    throw new GoneError('this key was revoked: what it signed is not to be trusted', {
      revokedAt: key.revokedAt ?? null,
    });
  return ok(publishedJwk(key.jwk, apiBaseUrl), {
    'Content-Type': 'application/jwk+json; charset=utf-8',
    ...PUBLIC_KEY_HEADERS,
  });
}

/** GET /.well-known/jwks.json: every published key; public, any origin, cacheable. */
export async function jwksResponse(sql: Sql, apiBaseUrl: string): Promise<HttpResponse> {
  return ok(jwksDocument(await publishedKeys(sql), apiBaseUrl), {
    'Content-Type': 'application/jwk-set+json; charset=utf-8',
    ...PUBLIC_KEY_HEADERS,
  });
}
