import { randomUUID } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHandler as createAttemptHandler } from '../../functions/http/create-attempt.ts';
import { createHandler as createGetCertificateHandler } from '../../functions/http/get-certificate.ts';
import { createHandler as createDownloadHandler } from '../../functions/http/get-certificate-download.ts';
import { createHandler as createLatestHandler } from '../../functions/http/get-latest-student-certificate.ts';
import { createHandler as createHealthHandler } from '../../functions/http/health.ts';
import { createHandler as createJwksHandler } from '../../functions/http/jwks.ts';
import { createHandler as createListMineHandler } from '../../functions/http/list-my-certificates.ts';
import { createHandler as createPreflightHandler } from '../../functions/http/preflight.ts';
import { createHandler as createVerifyHandler } from '../../functions/http/verify-certificate.ts';
import { createTokenVerifier, type TokenVerifier } from '../../lib/auth/verifier.ts';
import { ConfigError, loadConfig } from '../../lib/config.ts';
import { createSql } from '../../lib/db/client.ts';
import type { ReadDeps } from '../../lib/http/deps.ts';
import type { HttpResponse } from '../../lib/http/response.ts';
import { lazyHandler } from '../../lib/http/route.ts';
import { downloadLinkSchema, errorSchema } from '../../lib/http/schemas.ts';
import { logger } from '../../lib/observability/logger.ts';
import { createCertificateStorage } from '../../lib/storage/s3.ts';
import {
  apiEvent,
  fakePdf,
  insertCertificate,
  insertCourse,
  lambdaContext,
  putPdf,
  type SeededCertificate,
} from '../e2e/http-fixtures.ts';
import { applyEnv, createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';

/** The handlers invoked in-process (as the benchmark does), against the real stack. */

const ORIGIN = 'https://app.example.org';
let t: TestEnv;
let kc: ReturnType<typeof keycloakControl>;
let deps: ReadDeps;
let s3: S3Client;
const ids = { alice: '', staff: '' };
let issued: SeededCertificate;

const download = () =>
  createDownloadHandler({
    ...deps,
    storage: createCertificateStorage(s3, t.bucket),
    download: { defaultTtlSeconds: 3600, maxTtlSeconds: 86400 },
  });

const getCertificate = (certificateId: string, token: string) =>
  createGetCertificateHandler(deps)(
    apiEvent('GET', '/api/v1/certificates/{certificateId}', {
      pathParameters: { certificateId },
      headers: { authorization: `Bearer ${token}` },
    }),
    lambdaContext(),
  );

function downloadEvent(
  certificateId: string,
  token: string,
  query?: Record<string, string>,
): APIGatewayProxyEventV2 {
  return apiEvent('GET', '/api/v1/certificates/{certificateId}/download', {
    pathParameters: { certificateId },
    headers: { authorization: `Bearer ${token}` },
    ...(query ? { query } : {}),
  });
}

const errorOf = (response: HttpResponse) => errorSchema.parse(JSON.parse(response.body)).error;

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  t = await createTestEnv();
  kc = keycloakControl(t.keycloakUrl);
  ids.alice = (await kc.addUser({ firstName: 'Alice' })).id;
  ids.staff = (await kc.addUser({ firstName: 'Grace', realmRoles: ['teacher'] })).id;
  deps = {
    sql: t.sql,
    verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth),
    corsOrigins: [ORIGIN],
  };
  s3 = new S3Client({
    endpoint: t.env.S3_ENDPOINT_URL,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  issued = await insertCertificate(t.sql, { studentId: ids.alice, courseTitle: 'Chemistry' });
  await putPdf(t, issued, fakePdf());
});

afterAll(async () => {
  s3?.destroy();
  await t?.cleanup();
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('download in-process', () => {
  it('a URL past its expiry is refused by S3', async () => {
    const token = await kc.token(ids.alice);
    const fresh = downloadLinkSchema.parse(
      JSON.parse((await download()(downloadEvent(issued.id, token), lambdaContext())).body),
    );
    expect((await fetch(fresh.url)).status).toBe(200);

    // Sign as if it were two hours ago: the default one-hour URL expired an hour ago.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 2 * 3600_000);
    const response = await download()(downloadEvent(issued.id, token), lambdaContext());
    vi.useRealTimers();
    const stale = downloadLinkSchema.parse(JSON.parse(response.body));
    expect(Date.parse(stale.expiresAt)).toBeLessThan(Date.now());
    const refused = await fetch(stale.url);
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('expired');
  });

  it('a link never outlives its certificate: the lifetime is capped at the seconds left (at least 1)', async () => {
    const token = await kc.token(ids.alice);
    const expiresAt = new Date(Date.now() + 5 * 60_000);
    const soon = await insertCertificate(t.sql, { studentId: ids.alice, expiresAt: expiresAt.toISOString() });
    await putPdf(t, soon, fakePdf());
    for (const query of [{ expiresIn: '86400' }, undefined]) {
      const response = await download()(downloadEvent(soon.id, token, query), lambdaContext());
      expect(response.statusCode).toBe(200);
      const link = downloadLinkSchema.parse(JSON.parse(response.body));
      expect(link.expiresIn).toBeLessThanOrEqual(300);
      expect(link.expiresIn).toBeGreaterThan(240);
      expect(Date.parse(link.expiresAt)).toBeLessThanOrEqual(expiresAt.getTime());
      expect(new URL(link.url).searchParams.get('X-Amz-Expires')).toBe(String(link.expiresIn));
    }

    // Less than a second left: the shortest lifetime SigV4 allows.
    const now = new Date();
    const lastMoment = await insertCertificate(t.sql, {
      studentId: ids.alice,
      expiresAt: new Date(now.getTime() + 400).toISOString(),
    });
    // The route reads the clock from its deps when given one (the factory's type does not name it).
    const atNow = {
      ...deps,
      now: () => now,
      storage: createCertificateStorage(s3, t.bucket),
      download: { defaultTtlSeconds: 3600, maxTtlSeconds: 86400 },
    };
    const response = await createDownloadHandler(atNow)(downloadEvent(lastMoment.id, token), lambdaContext());
    expect(response.statusCode).toBe(200);
    expect(downloadLinkSchema.parse(JSON.parse(response.body)).expiresIn).toBe(1);
  });

  it('failed (retrying) -> 409 with Retry-After; superseded and expired -> 410', async () => {
    const token = await kc.token(ids.alice);
    const failed = await insertCertificate(t.sql, { studentId: ids.alice, status: 'failed' });
    const response = await download()(downloadEvent(failed.id, token), lambdaContext());
    expect(response.statusCode).toBe(409);
    expect(response.headers['Retry-After']).toBe('5');
    expect(errorOf(response).certificateStatus).toBe('failed');
    // One waiting out its backoff is not asked about before its next attempt (at most an hour).
    for (const [wait, expected] of [
      ['20 minutes', [1199, 1200]],
      ['3 hours', [3600, 3600]],
    ] as const) {
      await t.sql`UPDATE certificates SET next_attempt_at = now() + ${wait}::interval WHERE id = ${failed.id}`;
      const waiting = await download()(downloadEvent(failed.id, token), lambdaContext());
      expect(waiting.statusCode).toBe(409);
      const seconds = Number(waiting.headers['Retry-After']);
      expect(seconds, wait).toBeGreaterThanOrEqual(expected[0]);
      expect(seconds, wait).toBeLessThanOrEqual(expected[1]);
    }

    const superseded = await insertCertificate(t.sql, { studentId: ids.alice, status: 'superseded' });
    const gone = await download()(downloadEvent(superseded.id, token), lambdaContext());
    expect(gone.statusCode).toBe(410);
    expect(errorOf(gone).code).toBe('certificate_superseded');

    const expired = await insertCertificate(t.sql, {
      studentId: ids.alice,
      expiresAt: new Date(Date.now() - 60_000).toISOString(),
    });
    const old = await download()(downloadEvent(expired.id, token), lambdaContext());
    expect(old.statusCode).toBe(410);
    expect(errorOf(old)).toMatchObject({ code: 'certificate_expired', certificateStatus: 'expired' });
    const verify = await createVerifyHandler(deps)(
      apiEvent('GET', '/api/v1/verify/{verificationCode}', {
        pathParameters: { verificationCode: expired.verificationCode },
        headers: { accept: 'application/json' },
      }),
      lambdaContext(),
    );
    expect(JSON.parse(verify.body)).toMatchObject({ status: 'expired' });
  });
});

describe("another student's certificates", () => {
  let bobs: SeededCertificate;
  beforeAll(async () => {
    const bob = await kc.addUser({ firstName: 'Bob' });
    bobs = await insertCertificate(t.sql, { studentId: bob.id, courseTitle: 'Biology' });
    await putPdf(t, bobs, fakePdf());
  });

  it("a student asking for another student's certificate gets the same 404 as for an unknown id", async () => {
    const token = await kc.token(ids.alice);
    const other = await getCertificate(bobs.id, token);
    const unknown = await getCertificate(randomUUID(), token);
    expect(other.statusCode).toBe(404);
    expect(unknown.statusCode).toBe(404);
    const [a, b] = [errorOf(other), errorOf(unknown)];
    expect({ code: a.code, message: a.message }).toEqual({ code: b.code, message: b.message });
    // Staff read it: the 404 above is the student's scope, not a missing row.
    expect((await getCertificate(bobs.id, await kc.token(ids.staff))).statusCode).toBe(200);
  });

  it("a student asking for a download link of another student's certificate gets 404", async () => {
    const other = await download()(downloadEvent(bobs.id, await kc.token(ids.alice)), lambdaContext());
    expect(other.statusCode).toBe(404);
    expect(other.body).not.toContain('X-Amz-');
    expect(
      (await download()(downloadEvent(bobs.id, await kc.token(ids.staff)), lambdaContext())).statusCode,
    ).toBe(200);
  });

  it("a student asking for another student's latest certificate is refused with 403", async () => {
    const latest = (studentId: string, token: string) =>
      createLatestHandler(deps)(
        apiEvent('GET', '/api/v1/students/{studentId}/certificates/latest', {
          pathParameters: { studentId },
          headers: { authorization: `Bearer ${token}` },
        }),
        lambdaContext(),
      );
    const refused = await latest(bobs.studentId, await kc.token(ids.alice));
    expect(refused.statusCode).toBe(403);
    expect(errorOf(refused).code).toBe('forbidden');
    expect(refused.body).not.toContain(bobs.id);
    // Their own, and staff for anyone, are answered.
    expect((await latest(ids.alice, await kc.token(ids.alice))).statusCode).toBe(200);
    expect((await latest(bobs.studentId, await kc.token(ids.staff))).statusCode).toBe(200);
  });
});

describe('HEAD of a public route', () => {
  it('answers as its GET, status and headers alike, without the content', async () => {
    const ask = (method: string, code: string, accept: string) =>
      createVerifyHandler(deps)(
        apiEvent(method, '/api/v1/verify/{verificationCode}', {
          pathParameters: { verificationCode: code },
          headers: { accept },
        }),
        lambdaContext(),
      );
    for (const [code, accept, status] of [
      [issued.verificationCode, 'text/html', 200],
      [issued.verificationCode, 'application/json', 200],
      ['K7Q2M9X4T8B3N6PZ', 'text/html', 404],
    ] as const) {
      const get = await ask('GET', code, accept);
      const head = await ask('HEAD', code, accept);
      expect(get.statusCode, `${code} ${accept}`).toBe(status);
      expect(get.body.length).toBeGreaterThan(0);
      expect(head.statusCode, `${code} ${accept}`).toBe(status);
      expect(head.body).toBe('');
      const { 'X-Request-Id': _get, ...getHeaders } = get.headers;
      const { 'X-Request-Id': _head, ...headHeaders } = head.headers;
      expect(headHeaders).toEqual(getHeaders);
    }
  });
});

describe('verification with a malformed code', () => {
  const verify = (code: string, headers: Record<string, string>) =>
    createVerifyHandler(deps)(
      apiEvent('GET', '/api/v1/verify/{verificationCode}', {
        pathParameters: { verificationCode: code },
        headers,
      }),
      lambdaContext(),
    );
  // What people type or copy: too short, the code with a space, the URL with trailing punctuation.
  const malformed = ['AB12', `${'K7Q2M9X4'} T8B3N6PZ`, 'K7Q2M9X4T8B3N6PZ.', 'K7Q2M9X4T8B3N6PZ)'];

  it('a browser gets the not-found page in its language, not a JSON 400', async () => {
    for (const code of malformed) {
      const page = await verify(code, {
        accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
        'accept-language': 'de-DE,de;q=0.9',
      });
      expect(page.statusCode, code).toBe(404);
      expect(page.headers['Content-Type'], code).toMatch(/^text\/html/);
      expect(page.headers['Content-Language'], code).toBe('de');
      expect(page.headers['Cache-Control'], code).toBe('no-store');
      expect(page.body, code).toContain('data-status="not-found"');
      // As typed, so the reader can see what went wrong.
      expect(page.body, code).toContain(code);
    }
    // The code is shown as typed, but not a control character that would reorder the page's text.
    const reordering = await verify('K7Q2\u202EM9X4', { accept: 'text/html' });
    expect(reordering.statusCode).toBe(404);
    expect(reordering.body).toContain('data-status="not-found"');
    expect(reordering.body).not.toContain('\u202E');
    expect(reordering.body).toContain('K7Q2\uFFFDM9X4');
    // Not free text: a link to the issuer's own page cannot make it display a sentence.
    for (const spoof of [
      'VALID - genuine certificate, issued to Jane Doe (MSc, distinction). Confirmed by the Registry',
      'VALID-GENUINE-CERTIFICATE-OF-JANE-DOE-MSC-DISTINCTION',
      'Jane Doe <b>verified</b>',
      // Short ones too: no digit, or more than the two pieces a mistyped code makes.
      'VALID - issued to Jane Doe',
      'Verified - Jane Doe',
      'VALID 2026 Jane Doe',
    ]) {
      const page = await verify(spoof, { accept: 'text/html' });
      expect(page.statusCode, spoof).toBe(404);
      expect(page.body, spoof).toContain('data-status="not-found"');
      expect(page.body, spoof).not.toMatch(/Jane|GENUINE|verified/);
      expect(page.body, spoof).not.toContain('class="code"');
    }
  });

  it('a JSON client keeps its 400 naming the parameter; past 128 characters every client gets a 400, a browser as the unknown-code page', async () => {
    for (const code of malformed) {
      const response = await verify(code, { accept: 'application/json' });
      expect(response.statusCode, code).toBe(400);
      expect(errorOf(response), code).toMatchObject({
        code: 'invalid_parameter',
        parameter: 'verificationCode',
        message: 'verificationCode must be 6-64 letters, digits or hyphens',
      });
    }
    const long = await verify('A'.repeat(129), { accept: 'application/json' });
    expect(long.statusCode).toBe(400);
    expect(errorOf(long).parameter).toBe('verificationCode');
    const page = await verify('A'.repeat(129), { accept: 'text/html' });
    expect(page.statusCode).toBe(400);
    expect(page.headers['Content-Type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('data-status="not-found"');
  });
});

describe('verification of a certificate never issued', () => {
  it('the code of a pending, rendering, failed or dead certificate is unknown publicly: a JSON 404 and the not-found page, not "valid"', async () => {
    // The holder's own views show the code while the certificate is being generated; until a
    // PDF was issued (and never for a dead one) nobody may be told it is a valid certificate.
    for (const status of ['pending', 'rendering', 'failed', 'dead'] as const) {
      const { verificationCode } = await insertCertificate(t.sql, { studentId: ids.alice, status });
      const verify = (accept: string) =>
        createVerifyHandler(deps)(
          apiEvent('GET', '/api/v1/verify/{verificationCode}', {
            pathParameters: { verificationCode },
            headers: { accept },
          }),
          lambdaContext(),
        );
      const json = await verify('application/json');
      expect(json.statusCode, status).toBe(404);
      expect(errorOf(json).code, status).toBe('not_found');
      const page = await verify('text/html');
      expect(page.statusCode, status).toBe(404);
      expect(page.body, status).toContain('data-status="not-found"');
    }
  });
});

describe('middleware stack', () => {
  const list = (headers: Record<string, string>) =>
    createListMineHandler(deps)(apiEvent('GET', '/api/v1/me/certificates', { headers }), lambdaContext());

  it('answers CORS only for configured origins', async () => {
    const token = await kc.token(ids.alice);
    const allowed = await list({ authorization: `Bearer ${token}`, origin: ORIGIN });
    expect(allowed.headers['Access-Control-Allow-Origin']).toBe(ORIGIN);
    const denied = await list({ authorization: `Bearer ${token}`, origin: 'https://evil.example.org' });
    expect(denied.statusCode).toBe(200);
    expect(denied.headers['Access-Control-Allow-Origin']).toBeUndefined();
    // Errors carry the CORS and security headers too, so browsers can read them.
    const unauthenticated = await list({ origin: ORIGIN });
    expect(unauthenticated.statusCode).toBe(401);
    expect(unauthenticated.headers['Access-Control-Allow-Origin']).toBe(ORIGIN);
    expect(unauthenticated.headers['X-Content-Type-Options']).toBe('nosniff');
  });

  it('authenticated answers are never cached: Cache-Control: no-store on a certificate, its list and its download link', async () => {
    const token = await kc.token(ids.alice);
    const answers = {
      list: await list({ authorization: `Bearer ${token}` }),
      certificate: await getCertificate(issued.id, token),
      download: await download()(downloadEvent(issued.id, token), lambdaContext()),
    };
    for (const [name, response] of Object.entries(answers)) {
      expect(response.statusCode, name).toBe(200);
      expect(response.headers['Cache-Control'], name).toBe('no-store');
    }
  });

  it('answers the CORS preflight of any path for configured origins only (API Gateway does not: it has no CORS setting)', async () => {
    const preflight = (origin: string, path: string) =>
      createPreflightHandler(deps)(
        apiEvent('OPTIONS', '/{proxy+}', {
          pathParameters: { proxy: path.slice(1) },
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization,content-type',
          },
        }),
        lambdaContext(),
      );
    for (const path of ['/api/v1/me/certificates', '/api/v1/certificates/abc/revoke']) {
      const allowed = await preflight(ORIGIN, path);
      expect(allowed.statusCode).toBe(204);
      expect(allowed.body).toBe('');
      expect(allowed.headers).toMatchObject({
        'Access-Control-Allow-Origin': ORIGIN,
        'Access-Control-Allow-Methods': 'GET,POST,DELETE,OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization,Content-Type',
        'Access-Control-Max-Age': '7200',
      });
      const denied = await preflight('https://evil.example.org', path);
      expect(denied.headers['Access-Control-Allow-Origin']).toBeUndefined();
    }
    // What verifiers fetch stays readable from any origin, whatever CORS_ALLOWED_ORIGINS holds:
    // the keys, and the public record of a certificate, a 404 for an unknown code included.
    const employer = { origin: 'https://employer.example' };
    const keys = await createJwksHandler({ ...deps, apiBaseUrl: 'https://certs.example.org/api/v1' })(
      apiEvent('GET', '/.well-known/jwks.json', { headers: employer }),
      lambdaContext(),
    );
    expect(keys.statusCode).toBe(200);
    expect(keys.headers['Access-Control-Allow-Origin']).toBe('*');
    const verify = (code: string) =>
      createVerifyHandler(deps)(
        apiEvent('GET', '/api/v1/verify/{verificationCode}', {
          pathParameters: { verificationCode: code },
          headers: { ...employer, accept: 'application/json' },
        }),
        lambdaContext(),
      );
    const unknown = await verify('NOSUCHCODE00');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers['Access-Control-Allow-Origin']).toBe('*');
    // A route that is not public keeps to the configured origins.
    const mine = await list({ authorization: `Bearer ${await kc.token(ids.alice)}`, ...employer });
    expect(mine.headers['Access-Control-Allow-Origin']).toBeUndefined();
  });

  it('an unexpected failure answers a generic 500 with headers, and logs the cause', async () => {
    const broken: TokenVerifier = {
      verify: async () => {
        throw new Error('kaboom at /srv/app/secret.ts:12');
      },
    };
    const lines: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    logger.setLogLevel('INFO');
    const response = await createListMineHandler({ ...deps, verifier: broken })(
      apiEvent('GET', '/api/v1/me/certificates', { headers: { authorization: 'Bearer a.b.c' } }),
      lambdaContext(),
    );
    logger.setLogLevel('SILENT');
    vi.restoreAllMocks();
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('kaboom');
    expect(response.body).not.toContain('secret.ts');
    expect(errorOf(response)).toMatchObject({ code: 'internal_error', message: 'Internal server error' });
    expect(response.headers['X-Request-Id']).toBeTruthy();
    expect(response.headers['Strict-Transport-Security']).toContain('max-age=');
    expect(lines.join('')).toContain('kaboom');
  });

  it('never writes the Authorization header or a token to the logs', async () => {
    const lines: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    logger.setLogLevel('DEBUG');
    const token = await kc.token(ids.alice);
    const expired = await kc.token(ids.alice, { expiresInSeconds: -120 });
    await list({ authorization: `Bearer ${token}` });
    await list({ authorization: `Bearer ${expired}` });
    await createListMineHandler({
      ...deps,
      verifier: {
        verify: async () => {
          throw new Error('boom');
        },
      },
    })(
      apiEvent('GET', '/api/v1/me/certificates', { headers: { authorization: `Bearer ${token}` } }),
      lambdaContext(),
    );
    logger.setLogLevel('SILENT');
    vi.restoreAllMocks();
    const output = lines.join('');
    expect(output).toContain('HTTP request'); // the capture works
    expect(output).toContain('expired'); // the 401 reason is logged...
    for (const secret of [token, expired, token.split('.')[1] ?? 'x', expired.split('.')[2] ?? 'x']) {
      expect(output).not.toContain(secret); // ...but never a token or part of one
    }
    expect(output.toLowerCase()).not.toContain('authorization');
    expect(output).not.toContain('Bearer');
  });
});

describe('handler wiring', () => {
  it('the default handler parses its config on first use and reports a bad one as a generic 500', async () => {
    const { handler } = await import('../../functions/http/get-certificate.ts');
    const event = apiEvent('GET', '/api/v1/certificates/{certificateId}', {
      pathParameters: { certificateId: issued.id },
      headers: { authorization: `Bearer ${await kc.token(ids.alice)}` },
    });
    const restoreEmpty = applyEnv({ AUTH_ISSUER: '', AUTH_AUDIENCE: '', DATABASE_URL: '' });
    const misconfigured = await handler(event, lambdaContext());
    restoreEmpty();
    expect(misconfigured.statusCode).toBe(500);
    expect(misconfigured.body).not.toContain('AUTH_');

    const restore = applyEnv(t.env);
    try {
      const response = await handler(event, lambdaContext());
      expect(response.statusCode).toBe(200);
      expect(JSON.parse(response.body)).toMatchObject({ id: issued.id, courseTitle: 'Chemistry' });
    } finally {
      restore();
    }
  });

  it('lazyHandler turns a ConfigError at build time into a 500 and retries the build next time', async () => {
    let builds = 0;
    const handler = lazyHandler(() => {
      builds += 1;
      throw new ConfigError([{ variable: 'X', message: 'is required' }]);
    });
    expect((await handler(apiEvent('GET', '/x'), lambdaContext())).statusCode).toBe(500);
    await handler(apiEvent('GET', '/x'), lambdaContext());
    expect(builds).toBe(2);
  });

  it('lazyHandler builds at the cold start in a Lambda container, and only there', async () => {
    let builds = 0;
    const ok = () => {
      builds += 1;
      return async () => ({ statusCode: 204, headers: {}, body: '' });
    };
    const onLambda = lazyHandler(ok, { AWS_LAMBDA_FUNCTION_NAME: 'course-certificates-test-health' });
    expect(builds).toBe(1); // before any request
    expect((await onLambda(apiEvent('GET', '/x'), lambdaContext())).statusCode).toBe(204);
    expect(builds).toBe(1);
    const elsewhere = lazyHandler(ok, {});
    expect(builds).toBe(1); // importing a handler in a test builds nothing
    await elsewhere(apiEvent('GET', '/x'), lambdaContext());
    expect(builds).toBe(2);
    // A configuration error at the cold start: logged then, and each request tries again.
    let failing = 0;
    const broken = lazyHandler(
      () => {
        failing += 1;
        throw new ConfigError([{ variable: 'DATABASE_URL', message: 'is required' }]);
      },
      { AWS_LAMBDA_FUNCTION_NAME: 'course-certificates-test-health' },
    );
    expect(failing).toBe(1);
    expect((await broken(apiEvent('GET', '/x'), lambdaContext())).statusCode).toBe(500);
    expect(failing).toBe(2);
  });

  it('health answers 503 when the database is unreachable', async () => {
    const unreachable = createSql({
      DATABASE_URL: 'postgres://u:p@127.0.0.1:9/none',
      DB_POOL_MAX: 1,
      DB_CONNECT_TIMEOUT_SECONDS: 2,
    });
    const response = await createHealthHandler({ sql: unreachable, corsOrigins: [] })(
      apiEvent('GET', '/api/v1/health'),
      lambdaContext(),
    );
    await unreachable.end({ timeout: 1 });
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body)).toEqual({ status: 'unavailable', checks: { database: 'unavailable' } });
    const healthy = await createHealthHandler(deps)(apiEvent('GET', '/api/v1/health'), lambdaContext());
    expect(healthy.statusCode).toBe(200);
  });
});

describe('attempt ingestion in-process', () => {
  it('a passing attempt creates a pending certificate and dispatches it at once; a failed dispatch loses nothing', async () => {
    const courseId = await insertCourse(t.sql, 'Physics');
    const dispatched: string[] = [];
    // The testing system's service account (client_credentials), holding the ingestion role.
    const ingestionToken = await kc.serviceAccountToken(
      {
        clientId: 'testing-system',
        secret: 'testing-system-secret',
        serviceAccountRoles: ['certificate-ingestion'],
        audience: ['certificates-frontend'],
      },
      t.env.KEYCLOAK_REALM ?? '',
    );
    const post = (dispatch: (id: string) => Promise<void>, studentId: string, token = ingestionToken) =>
      createAttemptHandler({ ...deps, dispatch, dispatchLeaseSeconds: 300 })(
        apiEvent('POST', '/api/v1/attempts', {
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ studentId, courseId, score: 95, maxScore: 100 }),
        }),
        lambdaContext(),
      );
    // A teacher reads certificates but may not post scores: a posted pass would issue one.
    const byTeacher = await post(async () => undefined, randomUUID(), await kc.token(ids.staff));
    expect(byTeacher.statusCode).toBe(403);
    expect(errorOf(byTeacher).message).toMatch(/ingestion client/);

    const ok = await post(async (id) => {
      dispatched.push(id);
    }, randomUUID());
    expect(ok.statusCode).toBe(201);
    const body = JSON.parse(ok.body) as { certificate: { id: string; status: string }; dispatched: boolean };
    expect(body).toMatchObject({ dispatched: true, certificate: { status: 'pending', created: true } });
    expect(dispatched).toEqual([body.certificate.id]);
    // Who posted it is on record with the certificate: the service account and its client.
    const poster = decodeJwt(ingestionToken).sub;
    const [audit] = await t.sql<{ actor: string; details: Record<string, unknown> }[]>`
      SELECT actor, details FROM certificate_generation_log
      WHERE certificate_id = ${body.certificate.id} AND event = 'created'`;
    expect(audit).toMatchObject({ actor: poster, details: { client_id: 'testing-system' } });

    const failing = await post(async () => {
      throw new Error('lambda down');
    }, randomUUID());
    expect(failing.statusCode).toBe(201);
    const failedBody = JSON.parse(failing.body) as { certificate: { id: string }; dispatched: boolean };
    expect(failedBody.dispatched).toBe(false);
    const [row] = await t.sql<
      { status: string }[]
    >`SELECT status::text FROM certificates WHERE id = ${failedBody.certificate.id}`;
    expect(row?.status).toBe('pending');
  });
});

describe('attempt ingestion dates', () => {
  it('a completedAt outside years 0001-9999 (UTC) is a 400 naming it, not a 500 from PostgreSQL', async () => {
    const courseId = await insertCourse(t.sql, 'Latin');
    const admin = await kc.token(
      (await kc.addUser({ firstName: 'Ada', realmRoles: ['certificate-admin'] })).id,
    );
    const post = (completedAt: string, externalRef?: string, studentId: string = randomUUID()) =>
      createAttemptHandler({ ...deps, dispatch: async () => undefined, dispatchLeaseSeconds: 300 })(
        apiEvent('POST', '/api/v1/attempts', {
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ studentId, courseId, score: 10, maxScore: 100, completedAt, externalRef }),
        }),
        lambdaContext(),
      );
    for (const completedAt of ['0000-06-01T00:00:00Z', '0001-01-01T00:00:00+01:00']) {
      const response = await post(completedAt);
      expect(response.statusCode, completedAt).toBe(400);
      expect(errorOf(response), completedAt).toMatchObject({
        code: 'invalid_parameter',
        parameter: 'completedAt',
      });
    }
    // A body past the 16 KiB a route takes is Content Too Large, not a malformed one.
    const huge = await createAttemptHandler({
      ...deps,
      dispatch: async () => undefined,
      dispatchLeaseSeconds: 300,
    })(
      apiEvent('POST', '/api/v1/attempts', {
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          studentId: randomUUID(),
          courseId,
          score: 10,
          maxScore: 100,
          note: 'x'.repeat(17_000),
        }),
      }),
      lambdaContext(),
    );
    expect(huge.statusCode).toBe(413);
    expect(errorOf(huge)).toMatchObject({ code: 'payload_too_large', parameter: 'body' });
    // The first instant of year 1 is accepted.
    expect((await post('0001-01-01T00:00:00Z')).statusCode).toBe(201);
    // And read back as itself, in years 0001-0099 too: the same request again is the same attempt.
    const studentId = randomUUID();
    for (const completedAt of ['0050-03-01T10:00:00.000Z', '0001-06-15T10:00:00.000Z']) {
      const first = await post(completedAt, `early-${completedAt}`, studentId);
      expect(first.statusCode, first.body).toBe(201);
      expect(JSON.parse(first.body).attempt.completedAt).toBe(completedAt);
      const again = await post(completedAt, `early-${completedAt}`, studentId);
      expect(again.statusCode, again.body).toBe(200);
      expect(JSON.parse(again.body).attempt.completedAt).toBe(completedAt);
    }
  });
});
