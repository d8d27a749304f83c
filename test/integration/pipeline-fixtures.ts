import { randomUUID } from 'node:crypto';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import type { CredentialSigner } from '../../lib/certificates/facts.ts';
import type {
  CertificateRenderer,
  CertificateStore,
  GenerateDeps,
  GenerateOptions,
  Log,
  OpenBadgeIssuer,
  PipelineMetrics,
} from '../../lib/certificates/ports.ts';
import { type CredentialSettings, createOpenBadgeIssuer } from '../../lib/credentials/credential-service.ts';
import { createKeyStateReader } from '../../lib/credentials/key-store.ts';
import type { SigningKey } from '../../lib/credentials/keys.ts';
import { createCredentialSigner, createIssuerKey } from '../../lib/credentials/signer.ts';
import type { Sql } from '../../lib/db/client.ts';
import { createKeycloakDirectory } from '../../lib/identity/keycloak-directory.ts';
import { createPdfPrinter } from '../../lib/render/browser.ts';
import { createCertificateRenderer } from '../../lib/render/renderer.ts';
import { createCertificateStorage, createS3Client } from '../../lib/storage/s3.ts';
import { type TestEnv, testEnvPerFile } from '../support/env.ts';
import { gate } from '../support/gate.ts';
import { keycloakControl } from '../support/keycloak.ts';

/** Shared set-up for the pipeline tests: real database, S3 server, Keycloak stand-in and Chromium. */

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

export function recordingLog(): Log & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (message: string, ...extra: Record<string, unknown>[]) => {
      entries.push({ level, message, fields: Object.assign({}, ...extra) });
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function recordingMetrics(): PipelineMetrics & { counts: Record<string, number> } {
  const counts: Record<string, number> = { generated: 0, failed: 0, s3Errors: 0, durations: 0, dead: 0 };
  return {
    counts,
    certificateGenerated: () => {
      counts.generated = (counts.generated ?? 0) + 1;
      counts.durations = (counts.durations ?? 0) + 1;
    },
    certificateFailed: () => {
      counts.failed = (counts.failed ?? 0) + 1;
    },
    s3Error: () => {
      counts.s3Errors = (counts.s3Errors ?? 0) + 1;
    },
    configurationError() {
      counts.configurationErrors = (counts.configurationErrors ?? 0) + 1;
    },
    certificateDead() {
      counts.dead = (counts.dead ?? 0) + 1;
    },
  };
}

/**
 * A pipeline test file's frame: its own database (testEnvPerFile, handed to `receive` before
 * the file's tests run), a renderer on the stack's Chromium that is closed after them, the
 * Keycloak stand-in and a recording log.
 */
export function pipelineTestFile(receive: (t: TestEnv) => void, options: { maxPages?: number } = {}) {
  const renderer = stackRenderer(options);
  testEnvPerFile(receive, [renderer]);
  return { renderer, keycloak: keycloakControl(inject('stack').keycloakUrl), log: recordingLog() };
}

/** A renderer on the test stack's Chromium, as generate builds its own (30 s to print). */
export function stackRenderer(options: { maxPages?: number } = {}): CertificateRenderer {
  return createCertificateRenderer(
    createPdfPrinter({ executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH, ...options }),
    { timeoutMs: 30_000 },
  );
}

export function generateOptions(overrides: Partial<GenerateOptions> = {}): GenerateOptions {
  return {
    keyPrefix: 'certificates',
    verifyBaseUrl: 'https://certificates.example.org/verify',
    issuerName: 'Example Academy',
    defaultLocale: 'en',
    leaseSeconds: 180,
    maxAttempts: 5,
    retryBaseSeconds: 60,
    retryMaxSeconds: 3600,
    ...overrides,
  };
}

/**
 * Where the Open Badges credentials of certificates generated with `options` say they live, as
 * credentialSettingsFromConfig would make them for that issuer.
 */
export function credentialSettingsFor(options: GenerateOptions): CredentialSettings {
  return {
    apiBaseUrl: 'https://certs.example.org/api/v1',
    verifyBaseUrl: options.verifyBaseUrl,
    issuer: { id: 'https://certs.example.org', name: options.issuerName },
    statusListTtlSeconds: 300,
  };
}

/**
 * A generate container's two signers, built as functions/generate.ts builds them: the facts
 * signed with the ES256 key, the Open Badges credential with the RS256 key, both keys' states read
 * in one statement per certificate. `sql` may be a counting proxy of the pool.
 */
export function generateSigners(
  sql: Sql,
  keys: { facts: SigningKey; credentials: SigningKey },
  settings: CredentialSettings,
): { signer: CredentialSigner; openBadge: OpenBadgeIssuer } {
  const options = { reloadAfterMs: 3_600_000, readState: createKeyStateReader(sql) };
  return {
    signer: createCredentialSigner(createIssuerKey(sql, async () => keys.facts, options)),
    openBadge: createOpenBadgeIssuer(
      { key: createIssuerKey(sql, async () => keys.credentials, options) },
      settings,
    ),
  };
}

/** A 1x1 PNG, base64: a template asset small enough for any test. */
export const TINY_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

export function s3ConfigFor(t: TestEnv, endpoint = t.env.S3_ENDPOINT_URL) {
  return {
    S3_BUCKET: t.bucket,
    S3_ENDPOINT_URL: endpoint,
    S3_REGION: 'us-east-1',
    S3_FORCE_PATH_STYLE: true,
    S3_KEY_PREFIX: 'certificates',
  };
}

export function makeGenerateDeps(
  t: TestEnv,
  renderer: CertificateRenderer,
  overrides: Partial<GenerateDeps> = {},
): GenerateDeps & { log: ReturnType<typeof recordingLog>; metrics: ReturnType<typeof recordingMetrics> } {
  return {
    sql: t.sql,
    directory: createKeycloakDirectory({
      baseUrl: t.env.KEYCLOAK_URL ?? '',
      realm: t.env.KEYCLOAK_REALM ?? 'student',
      clientId: t.env.KEYCLOAK_CLIENT_ID ?? '',
      clientSecret: t.env.KEYCLOAK_CLIENT_SECRET ?? '',
      timeoutMs: 5000,
      profileCacheSeconds: 300,
    }),
    renderer,
    storage: createCertificateStorage(createS3Client(s3ConfigFor(t)), t.bucket),
    log: recordingLog(),
    metrics: recordingMetrics(),
    random: () => 0.5,
    ...overrides,
  } as GenerateDeps & { log: ReturnType<typeof recordingLog>; metrics: ReturnType<typeof recordingMetrics> };
}

export async function createCourse(
  sql: Sql,
  course: { title?: string; passPercentage?: number; locale?: string } = {},
): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO courses (title, pass_percentage, locale)
    VALUES (${course.title ?? `Course ${randomUUID().slice(0, 8)}`}, ${course.passPercentage ?? 70},
            ${course.locale ?? 'en'})
    RETURNING id`;
  if (!row) throw new Error('course not created');
  return row.id;
}

export async function createAttempt(
  sql: Sql,
  attempt: { studentId: string; courseId: string; score: number; maxScore?: number; passed?: boolean },
): Promise<string> {
  const maxScore = attempt.maxScore ?? 100;
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO test_attempts (student_id, course_id, score, max_score, passed)
    VALUES (${attempt.studentId}, ${attempt.courseId}, ${attempt.score}, ${maxScore},
            ${attempt.passed ?? attempt.score / maxScore >= 0.7})
    RETURNING id`;
  if (!row) throw new Error('attempt not created');
  return row.id;
}

/** A pending certificate for a fresh passing attempt, created the way the scan does it. */
export async function createPendingCertificate(
  sql: Sql,
  input: { studentId: string; courseId: string; score?: number; maxScore?: number },
): Promise<string> {
  const attemptId = await createAttempt(sql, { score: 90, ...input, passed: true });
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO certificates (student_id, course_id, test_attempt_id)
    VALUES (${input.studentId}, ${input.courseId}, ${attemptId}) RETURNING id`;
  await sql`UPDATE test_attempts SET certificate_enqueued_at = now() WHERE id = ${attemptId}`;
  if (!row) throw new Error('certificate not created');
  return row.id;
}

/** Time travel without sleeping: the retry is due now. */
export async function makeDue(sql: Sql, certificateId: string): Promise<void> {
  await sql`UPDATE certificates SET next_attempt_at = now() WHERE id = ${certificateId}`;
}

export async function secondsUntilDue(sql: Sql, certificateId: string): Promise<number> {
  const [row] = await sql<{ wait: number }[]>`
    SELECT extract(epoch FROM next_attempt_at - now())::float AS wait FROM certificates WHERE id = ${certificateId}`;
  if (!row) throw new Error(`certificate ${certificateId} not found`);
  return row.wait;
}

export async function certificateRow(sql: Sql, certificateId: string) {
  const [row] = await sql`SELECT * FROM certificates WHERE id = ${certificateId}`;
  if (!row) throw new Error(`certificate ${certificateId} not found`);
  return row;
}

export async function auditEvents(sql: Sql, certificateId: string): Promise<string[]> {
  const rows = await sql<{ event: string }[]>`
    SELECT event FROM certificate_generation_log WHERE certificate_id = ${certificateId} ORDER BY id`;
  return rows.map((row) => row.event);
}

export async function listKeys(t: TestEnv): Promise<string[]> {
  const client = new S3Client({
    endpoint: t.env.S3_ENDPOINT_URL,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: t.bucket, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.NextContinuationToken;
    } while (token);
    return keys.sort();
  } finally {
    client.destroy();
  }
}

/** `storage` with each upload held at a gate until the test opens it (`upload.reached`: one is waiting). */
export function heldUploads(storage: CertificateStore): {
  storage: CertificateStore;
  upload: ReturnType<typeof gate>;
} {
  const upload = gate();
  return {
    upload,
    storage: {
      putPdf: async (key, pdf, metadata) => {
        await upload.wait();
        return storage.putPdf(key, pdf, metadata);
      },
    },
  };
}
