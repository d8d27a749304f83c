import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureEmf } from '../support/emf.ts';
import { applyEnv, createTestEnv, type TestEnv } from '../support/env.ts';
import { createCourse } from './pipeline-fixtures.ts';

/**
 * The real scan handler, with its module-scope configuration and clients, against this file's
 * database and a stand-in for Lambda's Invoke API (an AWS-only service) that speaks its REST
 * protocol: POST /2015-03-31/functions/{name}/invocations, answered 202 for an async invoke.
 */

let t: TestEnv;
let restoreEnv: () => void;
let lambda: Server;
const invoked: { functionName: string; invocationType: string | undefined; certificateId: string }[] = [];
/** How the stand-in answers: as Lambda does, or refusing as it does a role without lambda:InvokeFunction, or throttling. */
let answer: 'accept' | 'deny' | 'throttle' | 'conflict' = 'accept';

beforeAll(async () => {
  t = await createTestEnv();
  lambda = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(request.url ?? '');
      if (request.method !== 'POST' || !match) {
        response.writeHead(404).end();
        return;
      }
      if (answer !== 'accept') {
        const refusals: Record<typeof answer, [number, string]> = {
          deny: [403, 'AccessDeniedException'],
          throttle: [429, 'TooManyRequestsException'],
          // A client fault that passes: another operation on the function is in progress.
          conflict: [409, 'ResourceConflictException'],
        };
        const [status, type] = refusals[answer];
        response
          .writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type })
          .end(JSON.stringify({ Type: 'User', message: `${type} from the stand-in` }));
        return;
      }
      const payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { certificateId: string };
      invoked.push({
        functionName: decodeURIComponent(match[1] ?? ''),
        invocationType: request.headers['x-amz-invocation-type'] as string | undefined,
        certificateId: payload.certificateId,
      });
      response.writeHead(202, { 'content-type': 'application/json' }).end();
    });
  });
  await new Promise<void>((resolve) => lambda.listen(0, '127.0.0.1', resolve));
  const address = lambda.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  restoreEnv = applyEnv({
    ...t.env,
    GENERATE_FUNCTION_NAME: 'certificates-test-generate',
    LAMBDA_ENDPOINT_URL: `http://127.0.0.1:${port}`,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    GENERATE_MAX_CONCURRENCY: '2',
    SCAN_FILL_SECONDS: '0',
    SCAN_NOT_BEFORE: '2025-01-01T00:00:00Z',
    // Written to stdout as EMF lines: the refused tick's test reads them.
    POWERTOOLS_METRICS_DISABLED: 'false',
    LOG_LEVEL: 'SILENT',
  });
});
afterAll(async () => {
  await new Promise<void>((resolve) => lambda.close(() => resolve()));
  await t.cleanup();
  restoreEnv();
});

describe('scan handler', () => {
  it('reads SCAN_NOT_BEFORE and GENERATE_MAX_CONCURRENCY from its configuration and invokes generate asynchronously', async () => {
    const { handler } = await import('../../functions/scan.ts');
    const courseId = await createCourse(t.sql);
    // Five recent passes, and one from before SCAN_NOT_BEFORE (history: the backfill's, not the scan's).
    for (let i = 0; i < 5; i++)
      await t.sql`INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at)
                  VALUES (${randomUUID()}, ${courseId}, 90, 100, true, now())`;
    const [old] = await t.sql<{ id: string }[]>`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at)
      VALUES (${randomUUID()}, ${courseId}, 90, 100, true, '2024-06-01T00:00:00Z') RETURNING id`;

    const result = await handler({});

    expect(result.certificatesCreated).toBe(5);
    // The budget of 2: the other three wait in PostgreSQL for the next tick.
    expect(result.dispatched).toBe(2);
    expect(invoked).toHaveLength(2);
    for (const call of invoked) {
      expect(call).toMatchObject({ functionName: 'certificates-test-generate', invocationType: 'Event' });
    }
    const [history] = await t.sql<{ enqueued: Date | null }[]>`
      SELECT certificate_enqueued_at AS enqueued FROM test_attempts WHERE id = ${old?.id ?? ''}`;
    expect(history?.enqueued).toBeNull();
    const [pending] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificates WHERE course_id = ${courseId} AND dispatched_until IS NULL`;
    expect(pending?.n).toBe(3);
  });

  it('a tick that can invoke generate for none of its claims fails, so the alarm sees it; a refusal also counts as a configuration error; the certificates wait for the next tick', async () => {
    const { handler, DispatchFailedError } = await import('../../functions/scan.ts');
    // The first test's certificates hold the budget of 2: gone, so this one's claim is the only one.
    await t.sql`DELETE FROM certificate_generation_log`;
    await t.sql`DELETE FROM certificates`;
    const courseId = await createCourse(t.sql);
    await t.sql`INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at)
                VALUES (${randomUUID()}, ${courseId}, 90, 100, true, now())`;
    const tick = async () => {
      const { outcome, emf } = await captureEmf(() => handler({}));
      return { outcome: outcome.status === 'fulfilled' ? outcome.value : outcome.reason, emf };
    };
    const released = async () => {
      const [row] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM certificates
        WHERE course_id = ${courseId} AND status = 'pending' AND dispatched_until IS NULL`;
      return row?.n;
    };

    answer = 'deny';
    const denied = await tick();
    expect(denied.outcome).toBeInstanceOf(DispatchFailedError);
    expect(String(denied.outcome)).toContain('AccessDeniedException');
    expect(denied.emf.filter((record) => record.ConfigurationErrors === 1)).toEqual([
      expect.objectContaining({ dependency: 'lambda' }),
      expect.not.objectContaining({ dependency: expect.anything() }),
    ]);
    expect(await released()).toBe(1);

    // A throttle may pass: the tick still fails (nothing was handed out), but it is not a setup error.
    for (const momentary of ['throttle', 'conflict'] as const) {
      answer = momentary;
      const passing = await tick();
      expect(passing.outcome, momentary).toBeInstanceOf(DispatchFailedError);
      expect(
        passing.emf.filter((record) => 'ConfigurationErrors' in record),
        momentary,
      ).toEqual([]);
      expect(await released()).toBe(1);
    }

    answer = 'accept';
    const before = invoked.length;
    const healed = await tick();
    expect(healed.outcome).toMatchObject({ dispatched: 1, dispatchFailed: 0 });
    expect(invoked.slice(before).map((call) => call.functionName)).toEqual(['certificates-test-generate']);
    expect(await released()).toBe(0);
  });
});
