import { gunzipSync } from 'node:zlib';
import { createLocalJWKSet, decodeProtectedHeader, importJWK, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as createCredentialHandler } from '../../functions/http/get-certificate-credential.ts';
import { createHandler as createDownloadHandler } from '../../functions/http/get-certificate-download.ts';
import { createHandler as createPublicCredentialHandler } from '../../functions/http/get-public-credential.ts';
import { createHandler as createStatusListHandler } from '../../functions/http/get-status-list.ts';
import { createHandler as createIssuerKeyHandler } from '../../functions/http/issuer-key.ts';
import { createHandler as createJwksHandler } from '../../functions/http/jwks.ts';
import { createHandler as createRevokeHandler } from '../../functions/http/revoke-certificate.ts';
import { createHandler as createVerifyHandler } from '../../functions/http/verify-certificate.ts';
import { postgresEventStore } from '../../lib/analytics/event-store.ts';
import { createTokenVerifier } from '../../lib/auth/verifier.ts';
import { assignIssueLifecycle } from '../../lib/certificates/lifecycle.ts';
import { loadConfig } from '../../lib/config.ts';
import { type CredentialSettings, holderSubjectId } from '../../lib/credentials/credential-service.ts';
import { signingKeyFromSecret } from '../../lib/credentials/key-source.ts';
import { markKeyCompromised, registerSigningKey } from '../../lib/credentials/key-store.ts';
import {
  CREDENTIAL_SIGNING_ALGORITHM,
  generateSigningJwk,
  signingKeyFromJwk,
} from '../../lib/credentials/keys.ts';
import { createIssuerKey, createJwtSigner } from '../../lib/credentials/signer.ts';
import { isCrawler } from '../../lib/http/analytics.ts';
import type { AuthenticatedCredentialDeps } from '../../lib/http/credential-deps.ts';
import type { HttpResponse } from '../../lib/http/response.ts';
import type { LambdaHttpHandler } from '../../lib/http/route.ts';
import { getStatusListRoute } from '../../lib/http/routes/credentials.ts';
import { issuerKeyRoute } from '../../lib/http/routes/jwks.ts';
import { errorSchema } from '../../lib/http/schemas.ts';
import { logger } from '../../lib/observability/logger.ts';
import { apiEvent, insertCertificate, lambdaContext } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { validateOpenBadge } from '../support/open-badges-schema.ts';

/**
 * Issue 11's "done when", through the HTTP handlers in-process: staff revoke a certificate; its
 * page says revoked with the reason, its status-list bit is set (the list fetched and checked as
 * a verifier does), its download answers 410 and its Open Badges credential resolves to revoked.
 */

let t: TestEnv;
let kc: ReturnType<typeof keycloakControl>;
let deps: AuthenticatedCredentialDeps;
const ids = { alice: '', bob: '', staff: '' };
const settings: CredentialSettings = {
  apiBaseUrl: 'https://certs.example.org/api/v1',
  verifyBaseUrl: 'https://certs.example.org/api/v1/verify',
  issuer: { id: 'https://certs.example.org', name: 'Example Academy', url: 'https://certs.example.org' },
  statusListTtlSeconds: 300,
};

const call = (handler: LambdaHttpHandler, event: ReturnType<typeof apiEvent>): Promise<HttpResponse> =>
  handler(event, lambdaContext());
const bearer = async (id: string) => ({ authorization: `Bearer ${await kc.token(id)}` });

async function jwks(): Promise<ReturnType<typeof createLocalJWKSet>> {
  const response = await call(
    createJwksHandler({ ...deps, apiBaseUrl: deps.credentials.apiBaseUrl }),
    apiEvent('GET', '/.well-known/jwks.json', { headers: { origin: 'https://employer.example' } }),
  );
  // Any verifier's page may fetch it, whatever its origin (offline reflects origins, so only
  // the handler itself shows this).
  expect(response.headers?.['Access-Control-Allow-Origin']).toBe('*');
  return createLocalJWKSet(JSON.parse(response.body) as JSONWebKeySet);
}

/** GET /api/v1/keys/{kid} in-process. */
const getKey = (kid: string) =>
  call(
    createIssuerKeyHandler({ ...deps, apiBaseUrl: deps.credentials.apiBaseUrl }),
    apiEvent('GET', issuerKeyRoute.path, { pathParameters: { kid } }),
  );

/**
 * What an Open Badges 3.0 verifier does with a VC-JWT's JOSE header ("Verify a Credential"):
 * dereference the `kid` URI to the public JWK. The URL must be this API's key route.
 */
async function dereferenceKid(jwt: string) {
  const { kid } = decodeProtectedHeader(jwt);
  const url = new URL(String(kid));
  const thumbprint = url.pathname.split('/').pop() ?? '';
  expect(`${url.origin}${url.pathname}`).toBe(`${settings.apiBaseUrl}/keys/${thumbprint}`);
  const response = await getKey(thumbprint);
  expect(response.statusCode).toBe(200);
  expect(response.headers['Content-Type']).toBe('application/jwk+json; charset=utf-8');
  expect(response.headers['Access-Control-Allow-Origin']).toBe('*');
  const jwk = JSON.parse(response.body) as Record<string, unknown>;
  // A bare public RSA JWK (OB 3.0: RS256 at minimum), never a private member.
  // Under the kid the token carries (RFC 7515 §4.1.4: matched against the JWK's kid), so a
  // verifier that checks it, or puts the key in a set and selects by kid, finds this key.
  expect(jwk).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: String(kid) });
  await jwtVerify(jwt, createLocalJWKSet({ keys: [jwk] }));
  expect(Object.keys(jwk).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
  expect(Buffer.from(String(jwk.n), 'base64url').length * 8).toBeGreaterThanOrEqual(2048);
  return importJWK(jwk, 'RS256');
}

/** What a verifier does with a BitstringStatusListEntry: fetch, verify, expand, read the bit. */
async function resolveStatus(entry: { statusListCredential: string; statusListIndex: string }) {
  // The URL in the credential must be the route: its path is the route's path for that list.
  const url = new URL(entry.statusListCredential);
  const listId = url.pathname.split('/').pop() ?? '';
  expect(url.pathname).toBe(getStatusListRoute.path.replace('{listId}', listId));
  expect(url.origin + url.pathname).toBe(`${settings.apiBaseUrl}/status/${listId}`);
  const response = await call(
    createStatusListHandler(deps),
    apiEvent('GET', getStatusListRoute.path, { pathParameters: { listId } }),
  );
  expect(response.statusCode).toBe(200);
  expect(response.headers['Content-Type']).toBe('application/vc+jwt');
  expect(response.headers['Cache-Control']).toBe('public, max-age=300');
  // Secured as the Open Badges credential pointing here is (Bitstring Status List §3.6): its
  // `kid` dereferences to the key. The same key is in the issuer's JWK Set under the same kid,
  // so a generic verifier holding the set selects it by the header as it stands.
  const { payload, protectedHeader } = await jwtVerify(response.body, await dereferenceKid(response.body), {
    issuer: settings.issuer.id,
    typ: 'vc+jwt',
  });
  expect(protectedHeader.alg).toBe('RS256');
  await jwtVerify(response.body, await jwks());
  // No nbf (VC-JOSE-COSE §3.1.3: NOT RECOMMENDED): a verifier a second behind still accepts it.
  expect(payload.nbf).toBeUndefined();
  // Valid for two cache lifetimes from now, in the credential and as the JWT's exp: a copy
  // replayed later, to hide a revocation, is refused by any verifier checking exp.
  const validUntil = Date.parse(String(payload.validUntil));
  expect(validUntil - Date.now()).toBeGreaterThan(300_000);
  expect(validUntil - Date.now()).toBeLessThanOrEqual(600_000);
  expect(payload.exp).toBe(validUntil / 1000);
  const subject = payload.credentialSubject as { encodedList: string; statusPurpose: string; ttl: number };
  expect(subject).toMatchObject({ statusPurpose: 'revocation', ttl: 300_000 });
  // The W3C spec's expansion, written out here rather than borrowed from lib/: multibase 'u'
  // (base64url, no padding), GZIP; index 0 is the left-most (most significant) bit of byte 0.
  expect(subject.encodedList.startsWith('u')).toBe(true);
  const bits = gunzipSync(Buffer.from(subject.encodedList.slice(1), 'base64url'));
  expect(bits.length * 8).toBeGreaterThanOrEqual(131_072);
  const index = Number(entry.statusListIndex);
  return ((bits[Math.floor(index / 8)] ?? 0) & (0x80 >> (index % 8))) !== 0;
}

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  t = await createTestEnv();
  kc = keycloakControl(t.keycloakUrl);
  ids.alice = (await kc.addUser({ firstName: 'Alice' })).id;
  ids.bob = (await kc.addUser({ firstName: 'Bob' })).id;
  ids.staff = (await kc.addUser({ firstName: 'Grace', realmRoles: ['certificate-admin'] })).id;
  // The credentials key as the routes read it: CREDENTIAL_SIGNING_KEY, an RSA JWK (RS256).
  const secret = t.env.CREDENTIAL_SIGNING_KEY;
  if (secret === undefined) throw new Error('createTestEnv sets CREDENTIAL_SIGNING_KEY');
  const key = await signingKeyFromSecret(async () => secret, CREDENTIAL_SIGNING_ALGORITHM);
  deps = {
    sql: t.sql,
    verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth),
    corsOrigins: [],
    sign: createJwtSigner(createIssuerKey(t.sql, async () => key, { reloadAfterMs: 3_600_000 })),
    credentials: settings,
    // Waits for the write, so the count read after the response is final on a busy machine.
    analytics: { store: postgresEventStore(t.sql), log: logger, waitMs: 60_000 },
  };
});

afterAll(async () => {
  await t?.cleanup();
});

describe('revoke through the API, then every place a verifier looks', () => {
  it('page revoked with the reason, status bit set, download 410, OB credential resolves to revoked', async () => {
    const cert = await insertCertificate(t.sql, { studentId: ids.alice, studentName: 'Alice Liddell' });
    await assignIssueLifecycle(t.sql, cert.id);
    const credentialEvent = async (id: string) =>
      apiEvent('GET', '/api/v1/certificates/{certificateId}/credential', {
        pathParameters: { certificateId: cert.id },
        headers: await bearer(id),
      });

    // The owner exports the credential: a VC-JWT that verifies against the JWKS and the schema.
    const exported = await call(createCredentialHandler(deps), await credentialEvent(ids.alice));
    expect(exported.statusCode).toBe(200);
    // Open Badges 3.0, Document Formats, Web Resource: a VC-JWT's "Content-Type SHOULD be
    // `text/plain`" (1EdTech openbadges-specification, ob_v3p0/microsites/spec/docformat.md); the
    // token's own `typ` is JWT, not the VC-JOSE-COSE `vc+jwt` of application/vc+jwt.
    expect(exported.headers['Content-Type']).toBe('text/plain; charset=utf-8');
    expect(decodeProtectedHeader(exported.body)).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    const { payload } = await jwtVerify(exported.body, await dereferenceKid(exported.body), {
      issuer: settings.issuer.id,
    });
    expect(validateOpenBadge(payload), JSON.stringify(validateOpenBadge.errors)).toBe(true);
    expect(payload).toMatchObject({
      jti: `${settings.verifyBaseUrl}/${cert.verificationCode}`,
      sub: holderSubjectId(ids.alice, cert.id),
    });
    // Not the account id: a credential anyone with the code may fetch does not carry it.
    expect(exported.body).not.toContain(ids.alice);
    expect(JSON.stringify(payload)).not.toContain(ids.alice);
    const entry = payload.credentialStatus as { statusListCredential: string; statusListIndex: string };
    expect(await resolveStatus(entry)).toBe(false);
    // Someone else's certificate is not found; the export was counted once.
    expect((await call(createCredentialHandler(deps), await credentialEvent(ids.bob))).statusCode).toBe(404);
    const [events] = await t.sql<{ n: number }[]>`
      SELECT coalesce(sum(count), 0)::int AS n FROM certificate_event_counts
      WHERE certificate_id = ${cert.id} AND kind = 'credential-export'`;
    expect(events?.n).toBe(1);

    // Staff revoke through the API.
    const revoked = await call(
      createRevokeHandler(deps),
      apiEvent('POST', '/api/v1/certificates/{certificateId}/revoke', {
        pathParameters: { certificateId: cert.id },
        headers: { ...(await bearer(ids.staff)), 'content-type': 'application/json' },
        body: JSON.stringify({ reasonCode: 'academic-misconduct', reasonText: 'plagiarised final project' }),
      }),
    );
    expect(revoked.statusCode).toBe(200);

    // The page says revoked, with the reason.
    const page = await call(
      createVerifyHandler({ sql: t.sql, corsOrigins: [] }),
      apiEvent('GET', '/api/v1/verify/{verificationCode}', {
        pathParameters: { verificationCode: cert.verificationCode },
        headers: { accept: 'text/html' },
      }),
    );
    expect(page.body).toContain('data-status="revoked"');
    // The reason as told publicly, in the page's language: neither staff's own words nor a code
    // naming the holder's conduct is public (anyone the holder shared the link with reads this,
    // beside the holder's name).
    expect(page.body).toContain('Withdrawn by the issuer');
    expect(page.body).not.toMatch(/misconduct|plagiarised/i);
    const asJson = await call(
      createVerifyHandler({ sql: t.sql, corsOrigins: [] }),
      apiEvent('GET', '/api/v1/verify/{verificationCode}', {
        pathParameters: { verificationCode: cert.verificationCode },
        headers: { accept: 'application/json' },
      }),
    );
    expect(JSON.parse(asJson.body)).toMatchObject({
      status: 'revoked',
      revocationReason: 'withdrawn-by-issuer',
    });
    expect(asJson.body).not.toMatch(/misconduct|plagiarised/i);

    // The status-list bit is set; the download is gone.
    expect(await resolveStatus(entry)).toBe(true);
    const download = await call(
      createDownloadHandler({
        ...deps,
        // A revoked certificate is refused before anything is presigned.
        storage: { presignGet: () => Promise.reject(new Error('nothing may be presigned')) },
        download: { defaultTtlSeconds: 3600, maxTtlSeconds: 86400 },
      }),
      apiEvent('GET', '/api/v1/certificates/{certificateId}/download', {
        pathParameters: { certificateId: cert.id },
        headers: await bearer(ids.alice),
      }),
    );
    expect(download.statusCode).toBe(410);

    // The public credential ("add to wallet") still states the same status entry, now revoked.
    const publicCredential = await call(
      createPublicCredentialHandler(deps),
      apiEvent('GET', '/api/v1/verify/{verificationCode}/credential', {
        pathParameters: { verificationCode: cert.verificationCode },
        headers: { origin: 'https://wallet.example' },
      }),
    );
    expect(publicCredential.statusCode).toBe(200);
    expect(publicCredential.headers['Content-Type']).toBe('text/plain; charset=utf-8');
    // A wallet's page on any origin may read it (CORS_ALLOWED_ORIGINS is empty here).
    expect(publicCredential.headers['Access-Control-Allow-Origin']).toBe('*');
    const again = await jwtVerify(publicCredential.body, await dereferenceKid(publicCredential.body), {
      issuer: settings.issuer.id,
    });
    expect(again.payload.credentialStatus).toEqual(entry);
    expect(await resolveStatus(again.payload.credentialStatus as typeof entry)).toBe(true);

    // Counted as an export: the wallet's fetch above, not a crawler following the page's link.
    const exports = async () =>
      (
        await t.sql<{ n: number }[]>`
          SELECT coalesce(sum(count), 0)::int AS n FROM certificate_event_counts
          WHERE certificate_id = ${cert.id} AND kind = 'credential-export'`
      )[0]?.n;
    const counted = await exports();
    const crawled = await call(
      createPublicCredentialHandler(deps),
      apiEvent('GET', '/api/v1/verify/{verificationCode}/credential', {
        pathParameters: { verificationCode: cert.verificationCode },
        headers: { 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' },
      }),
    );
    expect(crawled.statusCode).toBe(200);
    expect(await exports()).toBe(counted);
    // A wallet app that names only its HTTP library is a person adding it to their wallet; a HEAD
    // (a link checker) got no credential at all.
    const fetched = (method: string, agent: string) =>
      call(
        createPublicCredentialHandler(deps),
        apiEvent(method, '/api/v1/verify/{verificationCode}/credential', {
          pathParameters: { verificationCode: cert.verificationCode },
          headers: { 'user-agent': agent },
        }),
      );
    expect((await fetched('GET', 'okhttp/4.12.0')).statusCode).toBe(200);
    expect(await exports()).toBe((counted ?? 0) + 1);
    const probed = await fetched('HEAD', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36');
    expect(probed).toMatchObject({ statusCode: 200, body: '' });
    expect(await exports()).toBe((counted ?? 0) + 1);
  });

  it('a certificate revoked or replaced before status lists existed has no credential: 410, never one a wallet takes for valid', async () => {
    for (const status of ['revoked', 'superseded'] as const) {
      const cert = await insertCertificate(t.sql, { studentId: ids.alice, studentName: 'Alice Liddell' });
      // Issued and ended before status lists: no entry (the backfill gives issued ones theirs).
      await t.sql`
        UPDATE certificates SET status = ${status}::certificate_status,
          revoked_at = CASE WHEN ${status} = 'revoked' THEN now() END,
          revocation_reason = CASE WHEN ${status} = 'revoked' THEN 'issued-in-error' END
        WHERE id = ${cert.id}`;
      const [row] = await t.sql<{ status_list_id: string | null }[]>`
        SELECT status_list_id FROM certificates WHERE id = ${cert.id}`;
      expect(row?.status_list_id).toBeNull();
      const answers = [
        await call(
          createPublicCredentialHandler(deps),
          apiEvent('GET', '/api/v1/verify/{verificationCode}/credential', {
            pathParameters: { verificationCode: cert.verificationCode },
          }),
        ),
        await call(
          createCredentialHandler(deps),
          apiEvent('GET', '/api/v1/certificates/{certificateId}/credential', {
            pathParameters: { certificateId: cert.id },
            headers: await bearer(ids.alice),
          }),
        ),
      ];
      for (const answer of answers) {
        expect(answer.statusCode, status).toBe(410);
        expect(errorSchema.parse(JSON.parse(answer.body)).error.code).toBe(`certificate_${status}`);
      }
    }
  });

  it('tells crawlers and link previews from the HTTP libraries wallets use', () => {
    for (const crawler of [
      'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
      'LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)',
      'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)',
      'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
      'Twitterbot/1.0',
      'WhatsApp/2.23.20.0',
      'Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)',
      'TelegramBot (like TwitterBot)',
      // Link previews that name themselves beside their HTTP library.
      'http.rb/5.1.1 (Mastodon/4.2.0; +https://mastodon.social/)',
      'Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)',
      'Scrapy/2.11.0 (+https://scrapy.org)',
    ])
      expect(isCrawler(crawler), crawler).toBe(true);
    for (const library of [
      'okhttp/4.12.0',
      'Dart/3.2 (dart:io)',
      'curl/8.4.0',
      'python-requests/2.31.0',
      'axios/1.6.0',
    ])
      expect(isCrawler(library), library).toBe(false);
  });

  it('a certificate not generated has no credential, answered as the download answers: not ready (with Retry-After) or generation failed', async () => {
    const ownCredential = async (certificateId: string) =>
      call(
        createCredentialHandler(deps),
        apiEvent('GET', '/api/v1/certificates/{certificateId}/credential', {
          pathParameters: { certificateId },
          headers: await bearer(ids.alice),
        }),
      );
    for (const [status, code] of [
      ['pending', 'certificate_not_ready'],
      ['failed', 'certificate_not_ready'],
      ['dead', 'certificate_generation_failed'],
    ] as const) {
      const response = await ownCredential(
        (await insertCertificate(t.sql, { studentId: ids.alice, status })).id,
      );
      expect(response.statusCode, status).toBe(409);
      expect(JSON.parse(response.body).error, status).toMatchObject({ code, certificateStatus: status });
      expect(response.headers['Retry-After'], status).toBe(
        code === 'certificate_not_ready' ? '5' : undefined,
      );
    }
    // A failed one waiting out its backoff: Retry-After is the time to its next attempt.
    const waiting = await insertCertificate(t.sql, { studentId: ids.alice, status: 'failed' });
    await t.sql`UPDATE certificates SET next_attempt_at = now() + interval '10 minutes' WHERE id = ${waiting.id}`;
    const later = await ownCredential(waiting.id);
    expect(later.statusCode).toBe(409);
    expect([599, 600]).toContain(Number(later.headers['Retry-After']));
    // A reissue cancelled with its original (revoked before it was ever generated), or a renewal
    // superseded by a newer one before it was: final, a 410 as the download answers, not "being
    // generated" to poll for ever.
    const cancelled = await insertCertificate(t.sql, { studentId: ids.alice, status: 'pending' });
    for (const [status, change] of [
      ['revoked', t.sql`status = 'revoked', revoked_at = now(), revocation_reason = 'issued-in-error'`],
      [
        'superseded',
        t.sql`status = 'superseded', superseded_at = now(), revoked_at = NULL, revocation_reason = NULL`,
      ],
    ] as const) {
      await t.sql`UPDATE certificates SET ${change} WHERE id = ${cancelled.id}`;
      const gone = await ownCredential(cancelled.id);
      expect(gone.statusCode, status).toBe(410);
      expect(JSON.parse(gone.body).error).toMatchObject({
        code: `certificate_${status}`,
        certificateStatus: status,
      });
    }
  });

  it('serves one key as a bare JWK for an Open Badges kid: 410 once compromised, 404 unknown, 400 malformed', async () => {
    const other = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    await registerSigningKey(t.sql, other);
    const served = await getKey(other.kid);
    expect(served.statusCode).toBe(200);
    // The public key, under the URL kid its credentials carry (the path names it by thumbprint).
    expect(JSON.parse(served.body)).toEqual({
      ...other.publicJwk,
      kid: `${settings.apiBaseUrl}/keys/${other.kid}`,
    });
    await markKeyCompromised(t.sql, other.kid);
    const gone = await getKey(other.kid);
    expect(gone.statusCode).toBe(410);
    expect(JSON.parse(gone.body)).toMatchObject({ error: { revokedAt: expect.any(String) } });
    expect(gone.body).not.toContain('"n"');
    const unknown = await getKey((await signingKeyFromJwk(await generateSigningJwk())).kid);
    expect(unknown.statusCode).toBe(404);
    const malformed = await getKey('not-a-thumbprint');
    expect(malformed.statusCode).toBe(400);
    expect(JSON.parse(malformed.body)).toMatchObject({ error: { parameter: 'kid' } });
  });

  it('answers 404 for an unknown list or code, readable from any origin like the 200s', async () => {
    const origin = { origin: 'https://verifier.example' };
    const list = await call(
      createStatusListHandler(deps),
      apiEvent('GET', getStatusListRoute.path, {
        pathParameters: { listId: crypto.randomUUID() },
        headers: origin,
      }),
    );
    expect(list.statusCode).toBe(404);
    expect(list.headers['Access-Control-Allow-Origin']).toBe('*');
    const code = await call(
      createPublicCredentialHandler(deps),
      apiEvent('GET', '/api/v1/verify/{verificationCode}/credential', {
        pathParameters: { verificationCode: 'NOSUCHCODE00' },
        headers: origin,
      }),
    );
    expect(code.statusCode).toBe(404);
    expect(code.headers['Access-Control-Allow-Origin']).toBe('*');
  });
});
