import { randomUUID } from 'node:crypto';
import { createHandler as createDownloadHandler } from '../../functions/http/get-certificate-download.ts';
import { createHandler as createListHandler } from '../../functions/http/list-my-certificates.ts';
import { createTokenVerifier } from '../../lib/auth/verifier.ts';
import { loadConfig } from '../../lib/config.ts';
import { createSql, type Sql } from '../../lib/db/client.ts';
import { createCertificateStorage, createS3Client } from '../../lib/storage/s3.ts';
import { apiEvent, lambdaContext } from '../../test/e2e/http-fixtures.ts';
import { startOffline } from '../../test/support/offline.ts';
import { type ErrorTally, type LatencySummary, round, runPool, summarize, timed } from './stats.ts';

type Throughput = LatencySummary & { perSecond: number; errors: ErrorTally };

export interface HttpOfflineBench {
  requests: number;
  concurrency: number;
  /** lambdaTimeouts: timeouts offline reported during the measured requests (see overHttp). */
  list: Throughput & { lambdaTimeouts: number };
  download: Throughput & { lambdaTimeouts: number };
}

export interface HttpInProcessBench {
  list: LatencySummary & { errors: ErrorTally };
  download: LatencySummary & { errors: ErrorTally };
}

/** What both HTTP measurements share: a student with a full page of certificates and a token. */
export interface HttpFixture {
  env: Record<string, string>;
  authorization: { authorization: string };
  pick(i: number): string;
}

/** A student with `count` issued certificates (one per course), so a list page is full. */
async function seedStudent(
  sql: Sql,
  keycloakUrl: string,
  count: number,
): Promise<{ studentId: string; certificateIds: string[] }> {
  const studentId = randomUUID();
  const response = await fetch(`${keycloakUrl}/__stand-in/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      id: studentId,
      username: `http-bench-${studentId.slice(0, 8)}`,
      firstName: 'Http',
      lastName: 'Bench',
    }),
  });
  if (!response.ok) throw new Error(`could not add bench user: ${response.status}`);
  const rows = await sql<{ id: string }[]>`
    WITH c AS (
      INSERT INTO courses (title) SELECT 'HTTP bench course ' || g FROM generate_series(1, ${count}) g RETURNING id
    ), a AS (
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, certificate_enqueued_at)
      SELECT ${studentId}, id, 90, 100, true, now() FROM c RETURNING id, course_id
    )
    INSERT INTO certificates (student_id, course_id, test_attempt_id, status, s3_key, pdf_sha256, generated_at,
                              student_name, course_name, score, max_score, percentage, issued_on)
    SELECT ${studentId}, a.course_id, a.id, 'issued', 'certificates/' || a.course_id || '/' || ${studentId} || '/' || a.id || '.pdf',
           repeat('0', 64), now(), 'Http Bench', 'HTTP bench course', 90, 100, 90, current_date
    FROM a RETURNING id`;
  return { studentId, certificateIds: rows.map((row) => row.id) };
}

async function mintToken(keycloakUrl: string, userId: string): Promise<string> {
  const response = await fetch(`${keycloakUrl}/__stand-in/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, expiresInSeconds: 3600 }),
  });
  if (!response.ok) throw new Error(`could not mint token: ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** Seeds a student with 25 issued certificates and mints their token. */
export async function prepareHttpBench(
  env: Record<string, string>,
  keycloakUrl: string,
): Promise<HttpFixture> {
  const seedSql = createSql({
    DATABASE_URL: env.DATABASE_URL ?? '',
    DB_POOL_MAX: 2,
    DB_CONNECT_TIMEOUT_SECONDS: 10,
  });
  const { studentId, certificateIds } = await seedStudent(seedSql, keycloakUrl, 25).finally(() =>
    seedSql.end(),
  );
  const token = await mintToken(keycloakUrl, studentId);
  return {
    env,
    authorization: { authorization: `Bearer ${token}` },
    pick: (i: number) => certificateIds[i % certificateIds.length] as string,
  };
}

/**
 * (e) Latency of the list and download routes with `concurrency` requests at once through
 * serverless offline (HTTP, esbuild bundle, worker threads: what a developer runs). A request
 * that fails (a 5xx, a reset connection when offline falls over) is counted, not fatal.
 */
export async function benchHttpOffline(
  fixture: HttpFixture,
  options: { requests: number; concurrency: number },
): Promise<HttpOfflineBench> {
  const { authorization } = fixture;
  // The esbuild bundles, as deployed (offline on a local stage otherwise runs the sources).
  const offline = await startOffline(
    { ...fixture.env, LOG_LEVEL: 'WARN', OFFLINE_BUNDLE: 'true' },
    { scheduleEnabled: false },
  );
  const request = async (path: string) => {
    const response = await fetch(`${offline.baseUrl}${path}`, { headers: authorization });
    const body = await response.text();
    if (response.status !== 200)
      throw new Error(`${path} answered ${response.status}: ${body.slice(0, 300)}`);
  };
  // Offline runs each concurrent invocation in a worker thread of its own. A worker still loading
  // its handler when the function's timeout (10 s) passes is reported as a Lambda timeout and
  // its worker terminated, and requests kept landing on instances that timed out again: with 50
  // workers loading at once on 2 cores it lasted the whole run (461 timeouts, download p50 ~11 s).
  // So the warm-up adds workers 8 at a time, and the timeouts during the measured requests are
  // counted from offline's output, so the table says if it happened anyway.
  const timeoutsSince = (from: number): number =>
    (
      offline
        .output()
        .slice(from)
        .match(/\[504\] - Lambda timeout/g) ?? []
    ).length;
  const overHttp = async (path: (i: number) => string): Promise<Throughput & { lambdaTimeouts: number }> => {
    for (let concurrency = 8; ; concurrency = Math.min(options.concurrency, concurrency + 8)) {
      await runPool(concurrency, concurrency, (i) => request(path(i)), { count: 0 });
      if (concurrency >= options.concurrency) break;
    }
    const errors: ErrorTally = { count: 0 };
    const outputBefore = offline.output().length;
    const run = await timed(() =>
      runPool(options.requests, options.concurrency, (i) => request(path(i)), errors),
    );
    return {
      ...summarize(run.value),
      perSecond: round(run.value.length / (run.ms / 1000)),
      errors,
      lambdaTimeouts: timeoutsSince(outputBefore),
    };
  };
  try {
    return {
      requests: options.requests,
      concurrency: options.concurrency,
      list: await overHttp(() => '/api/v1/me/certificates?limit=20'),
      download: await overHttp((i) => `/api/v1/certificates/${fixture.pick(i)}/download`),
    };
  } finally {
    await offline.stop();
  }
}

/** (e) The same middy handlers called in-process one at a time (what one warm Lambda container does). */
export async function benchHttpInProcess(
  fixture: HttpFixture,
  options: { requests: number },
): Promise<HttpInProcessBench> {
  const { authorization, pick } = fixture;
  const config = loadConfig(['db', 'auth', 's3', 'http'], { ...fixture.env });
  const sql = createSql(config.db);
  const deps = {
    sql,
    verifier: createTokenVerifier(config.auth),
    corsOrigins: config.http.CORS_ALLOWED_ORIGINS,
    storage: createCertificateStorage(createS3Client(config.s3), config.s3.S3_BUCKET),
    download: {
      defaultTtlSeconds: config.http.DOWNLOAD_URL_TTL_SECONDS,
      maxTtlSeconds: config.http.DOWNLOAD_URL_MAX_TTL_SECONDS,
    },
  };
  const list = createListHandler(deps);
  const download = createDownloadHandler(deps);
  const inProcess = async (call: (i: number) => Promise<{ statusCode?: number }>) => {
    for (let i = 0; i < 20; i += 1) await call(i);
    const errors: ErrorTally = { count: 0 };
    const run = await runPool(
      options.requests,
      1,
      async (i) => {
        const result = await call(i);
        if (result.statusCode !== 200) throw new Error(`in-process handler answered ${result.statusCode}`);
      },
      errors,
    );
    return { ...summarize(run), errors };
  };
  try {
    return {
      list: await inProcess(
        () =>
          list(
            apiEvent('GET', '/api/v1/me/certificates', { headers: authorization, query: { limit: '20' } }),
            lambdaContext(),
          ) as Promise<{ statusCode?: number }>,
      ),
      download: await inProcess(
        (i) =>
          download(
            apiEvent('GET', '/api/v1/certificates/{certificateId}/download', {
              headers: authorization,
              pathParameters: { certificateId: pick(i) },
            }),
            lambdaContext(),
          ) as Promise<{ statusCode?: number }>,
      ),
    };
  } finally {
    await sql.end();
  }
}
