import { randomUUID } from 'node:crypto';
import { generateSigningJwk } from '../../lib/credentials/keys.ts';
import type { Sql } from '../../lib/db/client.ts';
import { startOffline } from '../../test/support/offline.ts';
import { type ErrorTally, type LatencySummary, recordError, round, summarize } from './stats.ts';

export interface ImmediateBench {
  certificates: number;
  /** The first certificate: generate's cold start inside serverless offline included. */
  firstMs: number;
  /** Passed attempt recorded -> download answers 200, for the warm ones after it. */
  latency: LatencySummary;
  errors: ErrorTally;
}

async function addUser(keycloakUrl: string, user: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${keycloakUrl}/__stand-in/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(user),
  });
  if (!response.ok) throw new Error(`could not add a user: ${response.status}`);
}

/**
 * (g) Passed-to-downloadable latency through the immediate trigger, over HTTP against
 * serverless offline: POST /api/v1/attempts with a passing score (the route invokes `generate`
 * at once when the budget has room), then GET the certificate's download every 20 ms until it
 * answers 200. One certificate at a time: latency, not throughput. The first one (generate's
 * cold start in offline) is reported apart.
 */
export async function benchImmediate(options: {
  sql: Sql;
  env: Record<string, string>;
  keycloakUrl: string;
  certificates: number;
}): Promise<ImmediateBench> {
  const adminId = randomUUID();
  await addUser(options.keycloakUrl, {
    id: adminId,
    username: `bench-admin-${adminId.slice(0, 8)}`,
    firstName: 'Bench',
    lastName: 'Admin',
    realmRoles: ['certificate-admin'],
  });
  const tokenResponse = await fetch(`${options.keycloakUrl}/__stand-in/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: adminId, expiresInSeconds: 3600 }),
  });
  if (!tokenResponse.ok) throw new Error(`could not mint a token: ${tokenResponse.status}`);
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const [course] = await options.sql<{ id: string }[]>`
    INSERT INTO courses (title, locale) VALUES ('Immediate Trigger Benchmark', 'en') RETURNING id`;
  if (!course) throw new Error('no course');

  const offline = await startOffline(
    // The esbuild bundles, as deployed (offline on a local stage otherwise runs the sources).
    {
      ...options.env,
      SIGNING_KEY: JSON.stringify(await generateSigningJwk()),
      CREDENTIAL_SIGNING_KEY: JSON.stringify(await generateSigningJwk('RS256')),
      LOG_LEVEL: 'WARN',
      OFFLINE_BUNDLE: 'true',
    },
    { scheduleEnabled: false },
  );
  const errors: ErrorTally = { count: 0 };
  const oneCertificate = async (index: number): Promise<number> => {
    const studentId = randomUUID();
    await addUser(options.keycloakUrl, {
      id: studentId,
      username: `bench-immediate-${studentId.slice(0, 8)}`,
      firstName: 'Immediate',
      lastName: `Student ${index}`,
    });
    const started = performance.now();
    const created = await fetch(`${offline.baseUrl}/api/v1/attempts`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        studentId,
        courseId: course.id,
        score: 92,
        maxScore: 100,
        externalRef: `bench-immediate-${studentId}`,
      }),
    });
    const body = (await created.json()) as { certificate?: { id: string } | null };
    if (created.status !== 201 || !body.certificate)
      throw new Error(
        `recording the attempt answered ${created.status}: ${JSON.stringify(body).slice(0, 300)}`,
      );
    const download = `${offline.baseUrl}/api/v1/certificates/${body.certificate.id}/download`;
    for (;;) {
      const response = await fetch(download, { headers });
      await response.arrayBuffer();
      if (response.status === 200) return performance.now() - started;
      if (response.status !== 409) throw new Error(`download answered ${response.status}`);
      if (performance.now() - started > 120_000) throw new Error('not downloadable after 120 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  try {
    const firstMs = await oneCertificate(0);
    const samples: number[] = [];
    for (let i = 1; i <= options.certificates; i += 1) {
      try {
        samples.push(await oneCertificate(i));
      } catch (error) {
        recordError(errors, error);
      }
    }
    return {
      certificates: options.certificates,
      firstMs: round(firstMs, 0),
      latency: summarize(samples),
      errors,
    };
  } finally {
    await offline.stop();
  }
}
