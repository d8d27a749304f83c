import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSigningKey } from '../../lib/credentials/key-store.ts';
import { generateSigningJwk, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import {
  certificatePageSchema,
  certificateSchema,
  downloadLinkSchema,
  errorSchema,
  publicVerificationSchema,
} from '../../lib/http/schemas.ts';
import { createS3Client } from '../../lib/storage/s3.ts';
import { applyS3Credentials, createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { type Offline, startOffline } from '../support/offline.ts';
import { pdfText } from '../support/pdf.ts';
import { readableStorage } from '../support/s3-objects.ts';
import {
  fakePdf,
  insertCertificate,
  insertCourse,
  putPdf,
  type SeededCertificate,
  startTestSigner,
  type TestSigner,
  unsignedToken,
  userClaims,
} from './http-fixtures.ts';

/**
 * The HTTP API over serverless offline: real JWTs from the Keycloak stand-in, real PostgreSQL,
 * real S3 server; and the pipeline (scan -> async invoke of generate) through the same offline.
 * One offline instance for the whole file: each start bundles every function (~14 s of CPU).
 */

const ORIGIN = 'https://app.example.org';
const MAX_TTL = 7200;

let t: TestEnv;
let offline: Offline;
let restoreEnv: () => void;
let signer: TestSigner;
let kc: ReturnType<typeof keycloakControl>;
let issuer: string;

const ids = { alice: '', bob: '', carol: '', staff: '', clientStaff: '' };
const certs: Record<string, SeededCertificate> = {};
let alicePdf: Uint8Array;

async function get(path: string, token?: string, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(`${offline.baseUrl}${path}`, {
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
}

async function errorOf(response: Response) {
  return errorSchema.parse(await response.json()).error;
}

beforeAll(async () => {
  t = await createTestEnv();
  kc = keycloakControl(t.keycloakUrl);
  issuer = t.env.AUTH_ISSUER ?? '';
  signer = await startTestSigner(`${issuer}/protocol/openid-connect/certs`);

  ids.alice = (await kc.addUser({ firstName: 'Alice', lastName: 'Example' })).id;
  ids.bob = (await kc.addUser({ firstName: 'Bob', lastName: 'Example' })).id;
  ids.carol = (await kc.addUser({ firstName: 'Carol', lastName: 'Example' })).id;
  ids.staff = (await kc.addUser({ firstName: 'Grace', realmRoles: ['certificate-admin'] })).id;
  ids.clientStaff = (
    await kc.addUser({ firstName: 'Tess', clientRoles: { 'certificates-frontend': ['teacher'] } })
  ).id;

  certs.aliceIssued = await insertCertificate(t.sql, {
    studentId: ids.alice,
    courseTitle: 'Intro to "Quoting" / Paths: 101',
    studentName: 'Alice Ñandú',
    createdAt: '2026-01-01T10:00:00Z',
  });
  alicePdf = fakePdf();
  await putPdf(t, certs.aliceIssued, alicePdf);
  certs.alicePending = await insertCertificate(t.sql, {
    studentId: ids.alice,
    status: 'pending',
    createdAt: '2026-01-02T10:00:00Z',
  });
  certs.aliceDead = await insertCertificate(t.sql, {
    studentId: ids.alice,
    status: 'dead',
    createdAt: '2026-01-03T10:00:00Z',
  });
  certs.aliceRevoked = await insertCertificate(t.sql, {
    studentId: ids.alice,
    status: 'revoked',
    createdAt: '2026-01-04T10:00:00Z',
  });
  certs.bobIssued = await insertCertificate(t.sql, { studentId: ids.bob, studentName: 'Bob Example' });

  offline = await startOffline({
    ...t.env,
    AUTH_JWKS_URL: signer.jwksUrl,
    // The shortest cooldown allowed: the key rotation test waits it out before its next token.
    AUTH_JWKS_COOLDOWN_SECONDS: '1',
    CORS_ALLOWED_ORIGINS: ORIGIN,
    DOWNLOAD_URL_MAX_TTL_SECONDS: String(MAX_TTL),
    // The testing system's service account, known by its client id (azp).
    AUTH_INGESTION_CLIENTS: 'testing-system',
    // INFO so the guide's log lines can be checked in offline's output.
    LOG_LEVEL: 'INFO',
    // Room for every due certificate of this file's data, so the pipeline test's own is among
    // those the scan dispatches (the budget itself is tested in pipeline-budget.test.ts).
    GENERATE_MAX_CONCURRENCY: '20',
  });
  // The Lambda client of the pipeline test reads credentials the way a function does.
  restoreEnv = applyS3Credentials(t);
});

/**
 * Chromium launched by generate inside offline runs detached with its profile in /tmp (the
 * Lambda worker does not inherit TMPDIR), so stopping offline does not take it along: kill
 * exactly the browsers whose environment names this file's bucket.
 */
async function killBrowsersOf(bucket: string): Promise<void> {
  const marker = `S3_BUCKET=${bucket}`;
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '');
    if (!environ.split('\0').includes(marker)) continue;
    const command = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (!command.startsWith('chrom')) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

afterAll(async () => {
  await offline?.stop();
  if (t) await killBrowsersOf(t.bucket);
  await signer?.stop();
  await t?.cleanup();
  restoreEnv?.();
});

async function poll<T>(read: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return undefined;
}

describe('authentication matrix', () => {
  it('no token -> 401 with a bare Bearer challenge', async () => {
    const response = await get('/api/v1/me/certificates');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="course-certificates"');
    const error = await errorOf(response);
    expect(error.code).toBe('unauthenticated');
    expect(error.requestId).not.toBe('');
  });

  it('a non-Bearer scheme counts as no token', async () => {
    const response = await get('/api/v1/me/certificates', undefined, {
      authorization: 'Basic YWxpY2U6c2VjcmV0',
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).not.toContain('error=');
  });

  it('a valid stand-in token -> 200', async () => {
    const response = await get('/api/v1/me/certificates', await kc.token(ids.alice));
    expect(response.status).toBe(200);
  });

  const rejected: [string, () => Promise<string>][] = [
    ['expired', async () => await kc.token(ids.alice, { expiresInSeconds: -120 })],
    [
      'wrong issuer',
      async () => await signer.sign(userClaims('https://evil.example.org/realms/student', ids.alice)),
    ],
    ['wrong audience', async () => await kc.token(ids.alice, { clientId: 'some-other-app' })],
    ['alg none', async () => unsignedToken(userClaims(issuer, ids.alice))],
    [
      'foreign key, unknown kid',
      async () => await signer.sign(userClaims(issuer, ids.alice), { foreign: true, kid: 'nope' }),
    ],
    [
      'foreign key posing as the realm key',
      async () => {
        const { kid } = decodeProtectedHeader(await kc.token(ids.alice));
        return await signer.sign(userClaims(issuer, ids.alice), { foreign: true, ...(kid ? { kid } : {}) });
      },
    ],
    [
      'an ID token instead of an access token',
      async () => await kc.token(ids.alice, { claims: { typ: 'ID' } }),
    ],
    ['garbage', async () => 'not.a.jwt'],
  ];
  for (const [name, mint] of rejected) {
    it(`${name} -> 401 invalid_token`, async () => {
      const response = await get('/api/v1/me/certificates', await mint());
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(
        /^Bearer realm="course-certificates", error="invalid_token"/,
      );
      expect((await errorOf(response)).code).toBe('unauthenticated');
    });
  }

  it('the wrong-issuer rejection is the issuer check: the same key with the right issuer is accepted', async () => {
    const response = await get('/api/v1/me/certificates', await signer.sign(userClaims(issuer, ids.alice)));
    expect(response.status).toBe(200);
  });

  it('an expired token says so', async () => {
    const response = await get(
      '/api/v1/me/certificates',
      await kc.token(ids.alice, { expiresInSeconds: -120 }),
    );
    expect(response.headers.get('www-authenticate')).toContain(
      'error_description="The access token expired"',
    );
  });

  it('a token signed after a key rotation is accepted', async () => {
    const before = await kc.token(ids.alice);
    await kc.rotateKey();
    // Every function's last key-set fetch is then older than AUTH_JWKS_COOLDOWN_SECONDS (1), so
    // the new kid makes it refetch.
    await sleep(1100);
    const after = await kc.token(ids.alice);
    expect(decodeProtectedHeader(after).kid).not.toBe(decodeProtectedHeader(before).kid);
    expect((await get('/api/v1/me/certificates', after)).status).toBe(200);
    expect((await get('/api/v1/me/certificates', before)).status).toBe(200);
  });
});

describe('authorisation', () => {
  it("a student's own list holds exactly their certificates, newest first", async () => {
    const response = await get('/api/v1/me/certificates', await kc.token(ids.alice));
    const page = certificatePageSchema.parse(await response.json());
    expect(page.items.map((item) => item.id)).toEqual([
      certs.aliceRevoked?.id,
      certs.aliceDead?.id,
      certs.alicePending?.id,
      certs.aliceIssued?.id,
    ]);
    expect(page.nextCursor).toBeNull();
    const pending = page.items.find((item) => item.id === certs.alicePending?.id);
    expect(pending).toMatchObject({ status: 'pending', downloadable: false, studentName: null });
    expect(page.items.find((item) => item.id === certs.aliceIssued?.id)).toMatchObject({
      status: 'issued',
      downloadable: true,
      studentName: 'Alice Ñandú',
      score: 87,
      maxScore: 100,
      issuedOn: '2026-11-20',
    });
  });

  it("another student's list -> 403", async () => {
    const response = await get(`/api/v1/students/${ids.bob}/certificates`, await kc.token(ids.alice));
    expect(response.status).toBe(403);
    expect((await errorOf(response)).code).toBe('forbidden');
    const latest = await get(`/api/v1/students/${ids.bob}/certificates/latest`, await kc.token(ids.alice));
    expect(latest.status).toBe(403);
  });

  it("another student's certificate -> 404, indistinguishable from an unknown id", async () => {
    const token = await kc.token(ids.alice);
    const other = await get(`/api/v1/certificates/${certs.bobIssued?.id}`, token);
    const unknown = await get(`/api/v1/certificates/${randomUUID()}`, token);
    expect(other.status).toBe(404);
    expect(unknown.status).toBe(404);
    const [a, b] = [await errorOf(other), await errorOf(unknown)];
    expect({ code: a.code, message: a.message }).toEqual({ code: b.code, message: b.message });
    expect((await get(`/api/v1/certificates/${certs.bobIssued?.id}/download`, token)).status).toBe(404);
  });

  it('course lists are staff-only, and non-staff cannot tell whether a course exists', async () => {
    const token = await kc.token(ids.alice);
    expect((await get(`/api/v1/courses/${certs.aliceIssued?.courseId}/certificates`, token)).status).toBe(
      403,
    );
    expect((await get(`/api/v1/courses/${randomUUID()}/certificates`, token)).status).toBe(403);
  });

  it('staff (realm role) read any student, certificate and course', async () => {
    const token = await kc.token(ids.staff);
    const list = await get(`/api/v1/students/${ids.bob}/certificates`, token);
    expect(list.status).toBe(200);
    expect(certificatePageSchema.parse(await list.json()).items.map((item) => item.id)).toEqual([
      certs.bobIssued?.id,
    ]);
    const one = await get(`/api/v1/certificates/${certs.bobIssued?.id}`, token);
    expect(certificateSchema.parse(await one.json()).studentId).toBe(ids.bob);
    const course = await get(`/api/v1/courses/${certs.bobIssued?.courseId}/certificates`, token);
    expect(certificatePageSchema.parse(await course.json()).items.map((item) => item.id)).toEqual([
      certs.bobIssued?.id,
    ]);
    expect((await get(`/api/v1/courses/${randomUUID()}/certificates`, token)).status).toBe(404);
    expect((await get(`/api/v1/certificates/${certs.bobIssued?.id}/download`, token)).status).toBe(200);
  });

  it('staff by client role (resource_access) count as staff', async () => {
    const response = await get(
      `/api/v1/courses/${certs.bobIssued?.courseId}/certificates`,
      await kc.token(ids.clientStaff),
    );
    expect(response.status).toBe(200);
  });

  it("latest: a student's newest certificate; 404 when they have none", async () => {
    const response = await get(
      `/api/v1/students/${ids.alice}/certificates/latest`,
      await kc.token(ids.alice),
    );
    expect(certificateSchema.parse(await response.json()).id).toBe(certs.aliceRevoked?.id);
    const none = await get(`/api/v1/students/${ids.carol}/certificates/latest`, await kc.token(ids.staff));
    expect(none.status).toBe(404);
  });
});

describe('malformed and unknown ids', () => {
  const cases: [string, string][] = [
    ['/api/v1/certificates/not-a-uuid', 'certificateId'],
    ['/api/v1/certificates/123/download', 'certificateId'],
    ['/api/v1/students/alice/certificates', 'studentId'],
    ['/api/v1/students/alice/certificates/latest', 'studentId'],
    ['/api/v1/courses/42/certificates', 'courseId'],
    ['/api/v1/me/certificates?limit=0', 'limit'],
    ['/api/v1/me/certificates?limit=abc', 'limit'],
    ['/api/v1/me/certificates?cursor=garbage!', 'cursor'],
    ['/api/v1/me/certificates?cursor=eyJ2IjoxfQ', 'cursor'],
  ];
  for (const [path, parameter] of cases) {
    it(`${path} -> 400 naming ${parameter}`, async () => {
      const response = await get(path, await kc.token(ids.staff));
      expect(response.status).toBe(400);
      const error = await errorOf(response);
      expect(error).toMatchObject({ code: 'invalid_parameter', parameter });
      expect(error.message).toContain(parameter);
    });
  }

  it('expiresIn that is not a positive integer -> 400 naming expiresIn', async () => {
    const response = await get(
      `/api/v1/certificates/${certs.aliceIssued?.id}/download?expiresIn=-5`,
      await kc.token(ids.alice),
    );
    expect(response.status).toBe(400);
    expect((await errorOf(response)).parameter).toBe('expiresIn');
  });

  it('unknown certificate -> 404 for download too', async () => {
    const response = await get(`/api/v1/certificates/${randomUUID()}/download`, await kc.token(ids.staff));
    expect(response.status).toBe(404);
    expect((await errorOf(response)).code).toBe('not_found');
  });
});

describe('download', () => {
  it('returns a presigned URL that plain fetch turns into the exact PDF bytes', async () => {
    const before = Date.now();
    const response = await get(
      `/api/v1/certificates/${certs.aliceIssued?.id}/download`,
      await kc.token(ids.alice),
    );
    expect(response.status).toBe(200);
    const link = downloadLinkSchema.parse(await response.json());
    expect(link.expiresIn).toBe(3600);
    const expiresAt = Date.parse(link.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3600_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect(new URL(link.url).searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(link.fileName).toBe('Certificate - Intro to Quoting Paths 101 - Alice Ñandú.pdf');

    const pdf = await fetch(link.url);
    expect(pdf.status).toBe(200);
    expect(new Uint8Array(await pdf.arrayBuffer())).toEqual(alicePdf);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    const disposition = pdf.headers.get('content-disposition') ?? '';
    expect(disposition).toMatch(
      /^attachment; filename="Certificate - Intro to Quoting Paths 101 - Alice Nandu.pdf"/,
    );
    expect(disposition).toContain(`filename*=UTF-8''${encodeURIComponent(link.fileName)}`);
  });

  it('honours expiresIn and caps it at the configured maximum', async () => {
    const token = await kc.token(ids.alice);
    const short = downloadLinkSchema.parse(
      await (await get(`/api/v1/certificates/${certs.aliceIssued?.id}/download?expiresIn=60`, token)).json(),
    );
    expect(short.expiresIn).toBe(60);
    expect(new URL(short.url).searchParams.get('X-Amz-Expires')).toBe('60');
    const long = downloadLinkSchema.parse(
      await (
        await get(`/api/v1/certificates/${certs.aliceIssued?.id}/download?expiresIn=999999`, token)
      ).json(),
    );
    expect(long.expiresIn).toBe(MAX_TTL);
    expect(new URL(long.url).searchParams.get('X-Amz-Expires')).toBe(String(MAX_TTL));
    // Any integer the document allows (no maximum), ten digits and more, is capped too.
    const huge = downloadLinkSchema.parse(
      await (
        await get(`/api/v1/certificates/${certs.aliceIssued?.id}/download?expiresIn=1000000000000`, token)
      ).json(),
    );
    expect(huge.expiresIn).toBe(MAX_TTL);
  });

  it('a certificate being generated -> 409 with its status and Retry-After', async () => {
    const response = await get(
      `/api/v1/certificates/${certs.alicePending?.id}/download`,
      await kc.token(ids.alice),
    );
    expect(response.status).toBe(409);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await errorOf(response)).toMatchObject({
      code: 'certificate_not_ready',
      certificateStatus: 'pending',
    });
  });

  it('a certificate whose generation failed for good -> 409 dead', async () => {
    const response = await get(
      `/api/v1/certificates/${certs.aliceDead?.id}/download`,
      await kc.token(ids.alice),
    );
    expect(response.status).toBe(409);
    expect(await errorOf(response)).toMatchObject({
      code: 'certificate_generation_failed',
      certificateStatus: 'dead',
    });
  });

  it('a revoked certificate -> 410', async () => {
    const response = await get(
      `/api/v1/certificates/${certs.aliceRevoked?.id}/download`,
      await kc.token(ids.alice),
    );
    expect(response.status).toBe(410);
    expect(await errorOf(response)).toMatchObject({
      code: 'certificate_revoked',
      certificateStatus: 'revoked',
    });
  });
});

describe('pagination', () => {
  it('pages through 25 certificates, most sharing one created_at, without loss or repeats', async () => {
    const shared = '2026-03-01T12:00:00.000000Z';
    const seeded: SeededCertificate[] = [];
    for (let i = 0; i < 20; i += 1)
      seeded.push(await insertCertificate(t.sql, { studentId: ids.carol, createdAt: shared }));
    // Five more within the same millisecond, microseconds apart: a JS Date cursor would lose them.
    for (let i = 1; i <= 5; i += 1) {
      seeded.push(
        await insertCertificate(t.sql, { studentId: ids.carol, createdAt: `2026-03-01T12:00:00.00000${i}Z` }),
      );
    }
    const expected = [
      ...seeded.slice(20).reverse(),
      ...seeded.slice(0, 20).sort((a, b) => (a.id < b.id ? 1 : -1)),
    ].map((item) => item.id);

    const token = await kc.token(ids.carol);
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const response = await get(`/api/v1/me/certificates?limit=10${query}`, token);
      expect(response.status).toBe(200);
      const page = certificatePageSchema.parse(await response.json());
      sizes.push(page.items.length);
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
    } while (cursor !== null && sizes.length < 10);
    expect(sizes).toEqual([10, 10, 5]);
    expect(seen).toEqual(expected);
    expect(new Set(seen).size).toBe(25);
  });

  it("pages through a course's certificates as staff", async () => {
    const courseId = await insertCourse(t.sql, 'Paged course');
    const created: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      created.push(
        (await insertCertificate(t.sql, { studentId: randomUUID(), courseId, courseTitle: 'Paged course' }))
          .id,
      );
    }
    const token = await kc.token(ids.staff);
    const first = certificatePageSchema.parse(
      await (await get(`/api/v1/courses/${courseId}/certificates?limit=5`, token)).json(),
    );
    expect(first.items).toHaveLength(5);
    const second = certificatePageSchema.parse(
      await (
        await get(`/api/v1/courses/${courseId}/certificates?limit=5&cursor=${first.nextCursor}`, token)
      ).json(),
    );
    expect(second.items).toHaveLength(2);
    expect(second.nextCursor).toBeNull();
    expect(new Set([...first.items, ...second.items].map((item) => item.id))).toEqual(new Set(created));
  });
});

describe('responses', () => {
  it('sets security headers, no-store and a request id', async () => {
    const response = await get('/api/v1/me/certificates', await kc.token(ids.alice));
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('strict-transport-security')).toContain('max-age=');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(response.headers.get('content-type')).toContain('application/json');
  });

  it('allows configured CORS origins; the preflight reaches the preflight function', async () => {
    const token = await kc.token(ids.alice);
    const allowed = await get('/api/v1/me/certificates', token, { origin: ORIGIN });
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const preflight = (origin: string) =>
      fetch(`${offline.baseUrl}/api/v1/me/certificates`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      });
    const answered = await preflight(ORIGIN);
    expect(answered.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    // The function's own answer (offline alone would echo the requested method and headers).
    expect(answered.headers.get('access-control-allow-methods')).toBe('GET,POST,DELETE,OPTIONS');
    expect(answered.headers.get('access-control-allow-headers')).toBe('Authorization,Content-Type');
    expect(answered.headers.get('x-request-id')).toBeTruthy();
    // serverless-offline, given no `httpApi.cors` (as API Gateway is not), echoes any Origin it
    // gets where a function sends none; API Gateway adds nothing. So the refusal of other
    // origins is asserted in-process: test/integration/http-handlers.test.ts.
  });

  // A 500's body (where a leak would matter most) is checked in-process, where a failure can be
  // injected: test/integration/http-handlers.test.ts and test/unit/http-errors.test.ts.
  it('an error response through offline (a 400 for a malformed id) carries no stack trace', async () => {
    const response = await get('/api/v1/certificates/not-a-uuid', await kc.token(ids.alice));
    const text = await response.text();
    expect(text).not.toMatch(/\bat .+\.(ts|js):\d+/);
    expect(text).not.toContain('stack');
  });

  it('health checks the database', async () => {
    const response = await get('/api/v1/health');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', checks: { database: 'ok' } });
  });

  it('serves the OpenAPI document', async () => {
    const response = await get('/api/v1/openapi.json');
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toContain('/api/v1/certificates/{certificateId}/download');
  });
});

describe('public verification', () => {
  const asJson = { accept: 'application/json' };

  it('shows minimal data of an issued certificate without a token (JSON on request)', async () => {
    const response = await get(`/api/v1/verify/${certs.aliceIssued?.verificationCode}`, undefined, asJson);
    expect(response.status).toBe(200);
    expect(publicVerificationSchema.parse(await response.json())).toEqual({
      verificationCode: certs.aliceIssued?.verificationCode,
      studentName: 'Alice Ñandú',
      courseTitle: 'Intro to "Quoting" / Paths: 101',
      issuedOn: '2026-11-20',
      status: 'valid',
      revokedAt: null,
      revocationReason: null,
      expiresAt: null,
      supersededBy: null,
      pdfSha256: (
        await t.sql<{ pdf_sha256: string }[]>`
          SELECT pdf_sha256 FROM certificates WHERE id = ${certs.aliceIssued?.id ?? ''}`
      )[0]?.pdf_sha256,
      signedWithRevokedKey: false,
    });
  });

  it('says revoked for a revoked certificate; pending ones do not exist publicly', async () => {
    const revoked = await get(`/api/v1/verify/${certs.aliceRevoked?.verificationCode}`, undefined, asJson);
    expect(publicVerificationSchema.parse(await revoked.json()).status).toBe('revoked');
    expect(
      (await get(`/api/v1/verify/${certs.alicePending?.verificationCode}`, undefined, asJson)).status,
    ).toBe(404);
    expect((await get('/api/v1/verify/NOPE-NOT-A-CODE', undefined, asJson)).status).toBe(404);
    const malformed = await get('/api/v1/verify/%3Cscript%3E', undefined, asJson);
    expect(malformed.status).toBe(400);
    expect((await errorOf(malformed)).parameter).toBe('verificationCode');
  });

  it('answers a browser with the HTML page and its own strict CSP; an unknown code is a 404 page', async () => {
    const page = await get(`/api/v1/verify/${certs.aliceIssued?.verificationCode}`, undefined, {
      accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'sha256-[^']+'/);
    expect(await page.text()).toContain('data-status="valid"');
    const unknown = await get('/api/v1/verify/NOPE-NOT-A-CODE');
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('data-status="not-found"');
  });

  it('publishes the JWKS at /.well-known/jwks.json for any origin', async () => {
    // A key published as generate publishes it (its first signature), then read through offline.
    const key = await signingKeyFromJwk(await generateSigningJwk());
    await registerSigningKey(t.sql, key);
    const response = await get('/.well-known/jwks.json', undefined, { origin: 'https://employer.example' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toMatch(/public, max-age=\d+/);
    // The function's `*` reaches the browser (API Gateway has no CORS setting to replace it).
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const document = (await response.json()) as { keys: { kid: string; kty: string; d?: string }[] };
    const published = document.keys.find((entry) => entry.kid === key.kid);
    expect(published).toMatchObject({ kty: 'EC', kid: key.kid });
    // The public half only.
    expect(published?.d).toBeUndefined();
  });
});

describe('attempt ingestion', () => {
  it('the ingestion client records a failing attempt (201, no certificate); students and teachers may not post', async () => {
    const courseId = await insertCourse(t.sql, 'Ingested course');
    const body = JSON.stringify({
      studentId: ids.bob,
      courseId,
      score: 10,
      maxScore: 100,
      externalRef: randomUUID(),
    });
    const post = async (token: string, payload = body) =>
      await fetch(`${offline.baseUrl}/api/v1/attempts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: payload,
      });
    expect((await post(await kc.token(ids.bob))).status).toBe(403);
    // A teacher (client role) reads certificates but may not post scores.
    const byTeacher = await post(await kc.token(ids.clientStaff));
    expect(byTeacher.status).toBe(403);
    expect((await errorOf(byTeacher)).message).toMatch(/ingestion client/);
    // The testing system: a confidential client's token from the real token endpoint, with an
    // audience mapper naming this API, and no role at all: its azp is in AUTH_INGESTION_CLIENTS.
    const ingestion = await kc.serviceAccountToken(
      {
        clientId: 'testing-system',
        secret: 'e2e-secret',
        serviceAccountRoles: [],
        audience: ['certificates-frontend'],
      },
      t.env.KEYCLOAK_REALM ?? '',
    );
    const created = await post(ingestion);
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      created: true,
      certificate: null,
      attempt: { passed: false },
    });
    // certificate-admin holds every permission, recording attempts included.
    const replay = await post(await kc.token(ids.staff));
    expect(replay.status).toBe(200);
    const invalid = await post(
      await kc.token(ids.staff),
      JSON.stringify({ studentId: ids.bob, courseId, score: 'x' }),
    );
    expect(invalid.status).toBe(400);
    expect((await errorOf(invalid)).parameter).toBe('score');
  });
});

describe('pipeline through serverless offline', () => {
  it('scan -> async invoke of generate -> PDF in the bucket -> certificate issued', async () => {
    const user = await kc.addUser({
      firstName: 'Offline',
      lastName: 'Graduate',
    });
    const [course] = await t.sql<{ id: string }[]>`
      INSERT INTO courses (title, pass_percentage) VALUES ('End to End Testing', 60) RETURNING id`;
    const courseId = course?.id ?? '';
    const [attempt] = await t.sql<{ id: string }[]>`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed)
      VALUES (${user.id}, ${courseId}, 45, 50, true) RETURNING id`;
    const attemptId = attempt?.id ?? '';

    // The scan also hands out the due certificates seeded for the HTTP tests above (the pending one).
    const [due] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificates
      WHERE status IN ('pending', 'failed') AND next_attempt_at <= now()
        AND (dispatched_until IS NULL OR dispatched_until < now())`;
    const lambda = new LambdaClient({ endpoint: offline.lambdaEndpoint, region: 'us-east-1' });
    try {
      const response = await lambda.send(
        new InvokeCommand({
          FunctionName: `${offline.functionPrefix}scan`,
          InvocationType: 'RequestResponse',
        }),
      );
      expect(response.FunctionError, new TextDecoder().decode(response.Payload)).toBeUndefined();
      const result = JSON.parse(new TextDecoder().decode(response.Payload)) as Record<string, number>;
      expect(result).toMatchObject({
        certificatesCreated: 1,
        dispatched: (due?.n ?? 0) + 1,
        dispatchFailed: 0,
      });
    } finally {
      lambda.destroy();
    }

    // The scan returned after dispatching; generate runs on its own (InvocationType Event).
    const issued = await poll(async () => {
      const [row] = await t.sql`SELECT * FROM certificates WHERE test_attempt_id = ${attemptId}`;
      // A recorded failure ends the wait too, so its last_error shows up in the assertion.
      return row && ['issued', 'failed', 'dead'].includes(row.status) ? row : undefined;
      // An outer bound only: on a busy 2-core machine the first generate (fresh worker, esbuild
      // bundle, Chromium launch) can take minutes; the poll returns as soon as the row settles.
    }, 240_000);
    expect(issued, offline.output().slice(-4000)).toBeDefined();
    expect(issued, `last_error: ${issued?.last_error}`).toMatchObject({
      status: 'issued',
      student_name: 'Offline Graduate',
      course_name: 'End to End Testing',
      percentage: '90.00',
      s3_key: `certificates/${courseId}/${user.id}/${issued?.id}.pdf`,
    });
    const storage = readableStorage(
      createS3Client({
        S3_BUCKET: t.bucket,
        S3_ENDPOINT_URL: t.env.S3_ENDPOINT_URL,
        S3_REGION: 'us-east-1',
        S3_FORCE_PATH_STYLE: true,
        S3_KEY_PREFIX: 'certificates',
      }),
      t.bucket,
    );
    const text = await pdfText(await storage.getObject(issued?.s3_key));
    expect(text).toContain('Offline Graduate');
    expect(text).toContain('End to End Testing');
    expect(offline.output()).toContain('Certificate generated successfully: certificate_id=');
  }, 300_000);
});
