import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertCertificate } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { type SqsStandIn, startSqsStandIn } from '../support/sqs-stand-in.ts';
import { stallingServer } from '../support/stalling-server.ts';

/** `npm run failed-invocations` against an SQS stand-in (the real SDK) and the real database. */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let t: TestEnv;
let queue: SqsStandIn;

/** A record as Lambda writes it to generate's on-failure destination. */
const record = (
  certificateId: string,
  timestamp = new Date().toISOString(),
  condition = 'EventAgeExceeded',
) =>
  JSON.stringify({
    version: '1.0',
    timestamp,
    requestContext: { condition, approximateInvokeCount: 0 },
    requestPayload: { certificateId },
    responseContext: { statusCode: 200 },
  });

/** The command's environment against `queueUrl`; a variable given as undefined is unset. */
function commandEnv(queueUrl: string, overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {
    ...process.env,
    ...t.env,
    GENERATE_FAILURE_QUEUE_URL: queueUrl,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    ...overrides,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return env;
}

async function run(target: SqsStandIn, ...args: string[]): Promise<{ stdout: string }> {
  return await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'scripts/failed-invocations.ts', ...args],
    {
      cwd: ROOT,
      env: commandEnv(target.queueUrl),
      // An outer bound: the command must end on its own, however long its queue.
      timeout: 90_000,
    },
  );
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** One run that may fail: its exit code and output. `timeout` kills it (SIGTERM) if it never ends. */
function attempt(
  queueUrl: string,
  overrides: Record<string, string | undefined>,
  timeout: number,
): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/failed-invocations.ts'],
      { cwd: ROOT, env: commandEnv(queueUrl, overrides), timeout, encoding: 'utf8' },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
          signal: error?.signal ?? null,
          stdout,
          stderr,
        }),
    );
  });
}

/** The lines the command itself printed: the SDK warns on two lines that a QueueUrl is not AWS's. */
const ownLines = (stderr: string): string[] =>
  stderr
    .split('\n')
    .filter(
      (line) => line !== '' && !/differs from SQSClient resolved endpoint|useQueueUrlAsEndpoint/.test(line),
    );

beforeAll(async () => {
  t = await createTestEnv();
  // Real seconds: the command hides what it receives for 900 s, so a listing never outlasts that
  // (a shortened one would let a slow listing see the queue go round), and what is visible after
  // a run is what the command made visible again, not what the clock let back.
  queue = await startSqsStandIn();
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
    // A queue of its own: the test holds whether it runs alone or after the others.
    const own = await startSqsStandIn();
    try {
      own.send('not a Lambda record');
      own.send(JSON.stringify({ requestPayload: { certificateId: 'not-a-uuid' } }));
      own.send(record(randomUUID()));
      const pending = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'pending' });
      await t.sql`UPDATE certificates SET dispatched_until = now() + interval '5 minutes' WHERE id = ${pending.id}`;
      const issued = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'issued' });
      // Dropped 7 hours ago, and handed out again since: its live lease is that dispatch's.
      const redispatched = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'pending' });
      await t.sql`UPDATE certificates SET dispatched_until = now() + interval '5 minutes' WHERE id = ${redispatched.id}`;
      // Dropped for its age just now: it was queued six hours ago, and the live lease is a newer dispatch's.
      const aged = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'pending' });
      await t.sql`UPDATE certificates SET dispatched_until = now() + interval '5 minutes' WHERE id = ${aged.id}`;
      // The handler threw just now: the lease is this very invocation's.
      own.send(record(pending.id, undefined, 'RetriesExhausted'));
      own.send(record(issued.id));
      own.send(record(redispatched.id, new Date(Date.now() - 7 * 3600_000).toISOString()));
      own.send(record(aged.id));
      const { stdout } = await run(own, '--requeue');
      expect(stdout).toMatch(
        new RegExp(`${pending.id}  RetriesExhausted .*-> pending, released to the scan`),
      );
      for (const left of [redispatched.id, aged.id]) {
        expect(stdout).toMatch(
          new RegExp(
            `${left}  EventAgeExceeded .*-> pending, dispatched again since it was dropped: left to that dispatch`,
          ),
        );
        const [kept] = await t.sql<{ dispatched_until: Date | null }[]>`
        SELECT dispatched_until FROM certificates WHERE id = ${left}`;
        expect(kept?.dispatched_until).not.toBeNull();
      }
      expect(stdout).toMatch(new RegExp(`${issued.id}  EventAgeExceeded .*-> issued, nothing to do`));
      const [row] = await t.sql<{ dispatched_until: Date | null }[]>`
      SELECT dispatched_until FROM certificates WHERE id = ${pending.id}`;
      // A certificate that does not exist: reported, and its message deleted too.
      expect(row?.dispatched_until).toBeNull();
      expect(stdout).toMatch(/no such certificate/);
      // Only what is not a generate failure record stays, visible again, and is counted apart.
      expect(stdout).toMatch(
        /^\d+ message\(s\) handled, 2 left in the queue \(not generate failure records\)\.$/m,
      );
      expect(own.bodies()).toHaveLength(2);
      expect(own.visible()).toHaveLength(2);
    } finally {
      await own.stop();
    }
  });

  it('gives up on an SQS endpoint that accepts and never answers, with one line and no stack trace', async () => {
    // What a proxy or tunnel with nothing behind it looks like: without request timeouts the
    // SDK waited for ever.
    const silent = await stallingServer('');
    try {
      // The outer bound only stops a run that never ends; the command gives up well before it.
      const outcome = await attempt(`${silent.url}/000000000000/generate-failures`, {}, 240_000);
      expect(outcome.signal).toBeNull();
      expect(outcome.code).toBe(1);
      expect(silent.requests()).toBeGreaterThan(0);
      expect(outcome.stdout).toBe('');
      expect(ownLines(outcome.stderr)).toEqual([
        expect.stringMatching(/^npm run failed-invocations: .*timeout/i),
      ]);
      expect(outcome.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await silent.close();
    }
  }, 300_000);

  it('takes an empty AWS_REGION as unset (the default region), as every other variable', async () => {
    const empty = await startSqsStandIn();
    try {
      const outcome = await attempt(empty.queueUrl, { AWS_REGION: '' }, 90_000);
      expect(outcome.stderr).not.toMatch(/Invalid configuration/);
      expect(outcome).toMatchObject({ code: 0, stdout: 'The failure queue is empty.\n' });
    } finally {
      await empty.stop();
    }
  });

  it('names the variable at fault and why, exit 1 as for any configuration error', async () => {
    const cases: [Record<string, string | undefined>, string][] = [
      [
        { GENERATE_FAILURE_QUEUE_URL: undefined },
        'GENERATE_FAILURE_QUEUE_URL is required (the stack output GenerateFailureQueueUrl)',
      ],
      [
        { GENERATE_FAILURE_QUEUE_URL: '' },
        'GENERATE_FAILURE_QUEUE_URL is required (the stack output GenerateFailureQueueUrl)',
      ],
      [
        { GENERATE_FAILURE_QUEUE_URL: 'not-a-url' },
        'GENERATE_FAILURE_QUEUE_URL must be an http(s) URL (the stack output GenerateFailureQueueUrl)',
      ],
      [
        { GENERATE_FAILURE_QUEUE_URL: 'ftp://sqs.example.org/000000000000/q' },
        'GENERATE_FAILURE_QUEUE_URL must be an http(s) URL (the stack output GenerateFailureQueueUrl)',
      ],
      // The SDK refuses a region that is not a host label with an error naming no variable.
      [
        { AWS_REGION: 'eu west 1' },
        "AWS_REGION must be an AWS region name such as eu-west-1 (the stack's region)",
      ],
    ];
    for (const [overrides, reason] of cases) {
      // The stand-in is never asked: a configuration error stops the command before any request.
      const outcome = await attempt(queue.queueUrl, overrides, 90_000);
      const label = JSON.stringify(overrides);
      expect(outcome.code, label).toBe(1);
      expect(ownLines(outcome.stderr), label).toEqual([
        `npm run failed-invocations: Invalid configuration: ${reason}`,
      ]);
      expect(outcome.stdout, label).toBe('');
    }
  });
});
