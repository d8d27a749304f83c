import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { Sql } from '../../lib/db/client.ts';
import { createCertificateStorage } from '../../lib/storage/s3.ts';
import type { TestEnv } from '../support/env.ts';

/** Shared set-up of the HTTP API tests (in-process and over serverless offline). */

export type Status = 'pending' | 'rendering' | 'issued' | 'failed' | 'dead' | 'revoked' | 'superseded';

export interface SeededCertificate {
  id: string;
  studentId: string;
  courseId: string;
  courseTitle: string;
  status: Status;
  s3Key: string | null;
  verificationCode: string;
}

export async function insertCourse(sql: Sql, title = `Course ${randomUUID().slice(0, 8)}`): Promise<string> {
  const [row] = await sql<{ id: string }[]>`INSERT INTO courses (title) VALUES (${title}) RETURNING id`;
  if (!row) throw new Error('course insert returned nothing');
  return row.id;
}

/**
 * Inserts a course (unless given), a passing attempt and a certificate in `status`. Issued ones
 * get the snapshot fields and an s3 key (put the bytes there with `putPdf`).
 */
export async function insertCertificate(
  sql: Sql,
  options: {
    studentId: string;
    courseId?: string;
    courseTitle?: string;
    status?: Status;
    studentName?: string;
    createdAt?: string;
    expiresAt?: string;
  },
): Promise<SeededCertificate> {
  const courseTitle = options.courseTitle ?? `Course ${randomUUID().slice(0, 8)}`;
  const courseId = options.courseId ?? (await insertCourse(sql, courseTitle));
  const status = options.status ?? 'issued';
  const id = randomUUID();
  const [attempt] = await sql<{ id: string }[]>`
    INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, certificate_enqueued_at)
    VALUES (${options.studentId}, ${courseId}, 87, 100, true, now()) RETURNING id`;
  if (!attempt) throw new Error('attempt insert returned nothing');
  const generated = ['issued', 'revoked', 'superseded'].includes(status);
  const s3Key = generated ? `certificates/${courseId}/${options.studentId}/${id}.pdf` : null;
  const [row] = await sql<{ verification_code: string }[]>`
    INSERT INTO certificates (
      id, student_id, course_id, test_attempt_id, status, student_name, course_name, score, max_score,
      percentage, issued_on, locale, s3_key, pdf_sha256, pdf_bytes, generated_at, revoked_at, revocation_reason, revoked_reason,
      lease_owner, lease_expires_at, created_at, expires_at)
    VALUES (
      ${id}, ${options.studentId}, ${courseId}, ${attempt.id}, ${status},
      ${generated ? (options.studentName ?? 'Ada Lovelace') : null}, ${generated ? courseTitle : null},
      ${generated ? 87 : null}, ${generated ? 100 : null}, ${generated ? 87 : null},
      ${generated ? '2026-11-20' : null}, ${generated ? 'en' : null}, ${s3Key},
      ${generated ? 'a'.repeat(64) : null}, ${generated ? 1234 : null}, ${generated ? sql`now()` : null},
      ${status === 'revoked' ? sql`now()` : null}, ${status === 'revoked' ? 'other' : null},
      ${status === 'revoked' ? 'internal note' : null},
      ${status === 'rendering' ? 'test-worker' : null}, ${status === 'rendering' ? sql`now() + interval '1 minute'` : null},
      coalesce(${options.createdAt ?? null}::text::timestamptz, now()), ${options.expiresAt ?? null}::text::timestamptz)
    RETURNING verification_code`;
  if (!row) throw new Error('certificate insert returned nothing');
  return {
    id,
    studentId: options.studentId,
    courseId,
    courseTitle,
    status,
    s3Key,
    verificationCode: row.verification_code,
  };
}

/** Puts PDF bytes at the certificate's key and records their hash and size, as generate would. */
export async function putPdf(t: TestEnv, certificate: SeededCertificate, bytes: Uint8Array): Promise<void> {
  if (!certificate.s3Key) throw new Error('certificate has no s3 key');
  const client = new S3Client({
    endpoint: t.env.S3_ENDPOINT_URL,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await createCertificateStorage(client, t.bucket).putPdf(certificate.s3Key, bytes, {});
  client.destroy();
  const sha = createHash('sha256').update(bytes).digest('hex');
  await t.sql`UPDATE certificates SET pdf_sha256 = ${sha}, pdf_bytes = ${bytes.byteLength} WHERE id = ${certificate.id}`;
}

/** Bytes that look like a PDF and differ per call, so a wrong object cannot match by accident. */
export function fakePdf(): Uint8Array {
  return new Uint8Array(
    Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from(randomUUID()), Buffer.alloc(2048, 7)]),
  );
}

// ---- tokens the stand-in cannot mint ----

/**
 * A JWKS endpoint serving the stand-in's keys plus one key of the test's own, so tests can sign
 * tokens the realm would never issue (another issuer...) with a key the service trusts.
 * `foreign` is a key nobody trusts.
 */
export interface TestSigner {
  jwksUrl: string;
  sign(
    claims: Record<string, unknown>,
    options?: { foreign?: boolean; kid?: string; expiresIn?: number },
  ): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestSigner(standInJwksUrl: string): Promise<TestSigner> {
  const trusted = await generateKeyPair('RS256', { extractable: true });
  const foreign = await generateKeyPair('RS256', { extractable: true });
  const trustedKid = `test-${randomUUID()}`;
  const trustedJwk: JWK = {
    ...(await exportJWK(trusted.publicKey)),
    kid: trustedKid,
    alg: 'RS256',
    use: 'sig',
  };
  const server: Server = createServer((_req, res) => {
    fetch(standInJwksUrl)
      .then((response) => response.json() as Promise<{ keys: JWK[] }>)
      .then((jwks) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [...jwks.keys, trustedJwk] }));
      })
      .catch(() => {
        res.writeHead(502);
        res.end();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return {
    jwksUrl: `http://127.0.0.1:${address.port}/certs`,
    async sign(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      return await new SignJWT({ typ: 'Bearer', ...claims })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: options.kid ?? trustedKid })
        .setIssuedAt(now)
        .setExpirationTime(now + (options.expiresIn ?? 300))
        .sign(options.foreign ? foreign.privateKey : trusted.privateKey);
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An unsigned token (`alg: none`) carrying otherwise valid claims. */
export function unsignedToken(claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ typ: 'Bearer', iat: now, exp: now + 300, ...claims })}.`;
}

/** Claims of a valid stand-in-like user token. */
export function userClaims(
  issuer: string,
  sub: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    iss: issuer,
    sub,
    aud: ['account', 'certificates-frontend'],
    azp: 'certificates-frontend',
    realm_access: { roles: ['default-roles-student'] },
    ...extra,
  };
}

// ---- in-process invocation ----

export function apiEvent(
  method: string,
  routePath: string,
  options: {
    pathParameters?: Record<string, string>;
    query?: Record<string, string>;
    headers?: Record<string, string>;
    body?: string;
  } = {},
): APIGatewayProxyEventV2 {
  let rawPath = routePath;
  for (const [name, value] of Object.entries(options.pathParameters ?? {})) {
    rawPath = rawPath.replace(`{${name}}`, encodeURIComponent(value));
  }
  const rawQueryString = new URLSearchParams(options.query ?? {}).toString();
  const requestId = randomUUID();
  return {
    version: '2.0',
    routeKey: `${method} ${routePath}`,
    rawPath,
    rawQueryString,
    headers: Object.fromEntries(Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    ...(options.query ? { queryStringParameters: options.query } : {}),
    ...(options.pathParameters ? { pathParameters: options.pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId,
      routeKey: `${method} ${routePath}`,
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    ...(options.body === undefined ? {} : { body: options.body }),
    isBase64Encoded: false,
  };
}

export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:test',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/test',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
