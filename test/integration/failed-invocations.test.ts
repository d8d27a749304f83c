import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertCertificate } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { type SqsStandIn, startSqsStandIn } from '../support/sqs-stand-in.ts';

/** `npm run failed-invocations` against an SQS stand-in (the real SDK) and the real database. */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let t: TestEnv;
let queue: SqsStandIn;

/** A record as Lambda writes it to generate's on-failure destination. */
const record = (certificateId: string) =>
  JSON.stringify({
    version: '1.0',
    timestamp: '2026-12-04T10:00:00.000Z',
    requestContext: { condition: 'EventAgeExceeded', approximateInvokeCount: 0 },
    requestPayload: { certificateId },
    responseContext: { statusCode: 200 },
  });

async function run(target: SqsStandIn, ...args: string[]): Promise<{ stdout: string }> {
  return await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'scripts/failed-invocations.ts', ...args],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        ...t.env,
        GENERATE_FAILURE_QUEUE_URL: target.queueUrl,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
      },
      // An outer bound: the command must end on its own, however long its queue.
      timeout: 90_000,
    },
  );
}

beforeAll(async () => {
  t = await createTestEnv();
  // The command hides what it receives for 900 "seconds": 900 ms here.
  queue = await startSqsStandIn({ msPerSecond: 1 });
});
afterAll(async () => {
  await queue?.stop();
  await t?.cleanup();
});

describe('npm run failed-invocations', () => {
  it('lists each message once, ends, and leaves every message visible for the next run', async () => {
    const ids = Array.from({ length: 23 }, () => randomUUID());
    for (const id of ids) queue.send(record(id));
    queue.send('not a Lambda record');
    queue.send(JSON.stringify({ requestPayload: { certificateId: 'not-a-uuid' } }));
    const { stdout } = await run(queue);
    for (const id of ids) expect(stdout.split(id).length - 1, id).toBe(1);
    expect(stdout).toContain('25 message(s) listed.');
    expect(queue.bodies()).toHaveLength(25);
    // Received hidden for 15 "minutes", then made visible again at the end.
    expect(queue.visible()).toHaveLength(25);
  });

  it('ends even when the queue goes round (a listing longer than the visibility timeout), listing none twice', async () => {
    // Visibility of 900 "seconds" lasts under a millisecond here: listed messages come straight back.
    const fast = await startSqsStandIn({ msPerSecond: 0.001 });
    try {
      const ids = Array.from({ length: 25 }, () => randomUUID());
      for (const id of ids) fast.send(record(id));
      const { stdout } = await run(fast);
      for (const id of ids) expect(stdout.split(id).length - 1, id).toBeLessThanOrEqual(1);
      expect(stdout).toMatch(/\d+ message\(s\) listed\./);
    } finally {
      await fast.stop();
    }
  });

  it('--requeue releases dropped certificates to the scan, deletes their messages and leaves the rest', async () => {
    const pending = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'pending' });
    await t.sql`UPDATE certificates SET dispatched_until = now() + interval '5 minutes' WHERE id = ${pending.id}`;
    const issued = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'issued' });
    queue.send(record(pending.id));
    queue.send(record(issued.id));
    const { stdout } = await run(queue, '--requeue');
    expect(stdout).toMatch(new RegExp(`${pending.id}  EventAgeExceeded .*-> pending, released to the scan`));
    expect(stdout).toMatch(new RegExp(`${issued.id}  EventAgeExceeded .*-> issued, nothing to do`));
    const [row] = await t.sql<{ dispatched_until: Date | null }[]>`
      SELECT dispatched_until FROM certificates WHERE id = ${pending.id}`;
    // The earlier test's certificates do not exist: reported, and their messages deleted too.
    expect(row?.dispatched_until).toBeNull();
    expect(stdout).toMatch(/no such certificate/);
    // Only what is not a generate failure record stays, visible again.
    expect(queue.bodies()).toHaveLength(2);
    expect(queue.visible()).toHaveLength(2);
  });
});
