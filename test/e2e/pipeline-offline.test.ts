import { readdir, readFile } from 'node:fs/promises';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createS3Client } from '../../lib/storage/s3.ts';
import { applyEnv, createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { type Offline, startOffline } from '../support/offline.ts';
import { pdfText } from '../support/pdf.ts';
import { readableStorage } from '../support/s3-objects.ts';

let t: TestEnv;
let offline: Offline;
let restoreEnv: () => void;

beforeAll(async () => {
  t = await createTestEnv();
  restoreEnv = applyEnv({
    AWS_ACCESS_KEY_ID: t.env.AWS_ACCESS_KEY_ID ?? 'S3RVER',
    AWS_SECRET_ACCESS_KEY: t.env.AWS_SECRET_ACCESS_KEY ?? 'S3RVER',
  });
  // INFO so the guide's log lines can be checked in offline's output.
  offline = await startOffline({ ...t.env, LOG_LEVEL: 'INFO' });
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

describe('pipeline through serverless offline', () => {
  it('scan -> async invoke of generate -> PDF in the bucket -> certificate issued', async () => {
    const user = await keycloakControl(inject('stack').keycloakUrl).addUser({
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
      expect(result).toMatchObject({ certificatesCreated: 1, dispatched: 1, dispatchFailed: 0 });
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
