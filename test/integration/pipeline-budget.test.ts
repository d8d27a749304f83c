import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { countInFlight, releaseDropped } from '../../lib/certificates/budget.ts';
import { type GenerateOutcome, generateCertificate } from '../../lib/certificates/generate.ts';
import type { CertificateRenderer, Dispatch } from '../../lib/certificates/ports.ts';
import { recordAttempt } from '../../lib/certificates/record-attempt.ts';
import { claimDueForDispatch, runScan } from '../../lib/certificates/scan.ts';
import { parseFailedInvocation } from '../../lib/invoke/failure-queue.ts';
import { DEMO_STUDENTS } from '../../localstack/embedded/demo-data.ts';
import { applyS3Credentials, createTestEnv, type TestEnv } from '../support/env.ts';
import {
  certificateRow,
  createCourse,
  createPendingCertificate,
  generateOptions,
  makeGenerateDeps,
  recordingLog,
} from './pipeline-fixtures.ts';

// The concurrency budget: the scan and the ingestion route never have more than
// GENERATE_MAX_CONCURRENCY certificates dispatched or rendering; the rest waits in PostgreSQL.

let t: TestEnv;
let restoreEnv: () => void;
const studentId = DEMO_STUDENTS[0]?.id as string;

/** A renderer that holds each render until the test releases it, so certificates stay in flight. */
function gatedRenderer() {
  const waiting: (() => void)[] = [];
  let active = 0;
  let peak = 0;
  const renderer: CertificateRenderer = {
    async render() {
      active += 1;
      peak = Math.max(peak, active);
      await new Promise<void>((resolve) => waiting.push(resolve));
      active -= 1;
      return { pdf: new TextEncoder().encode('%PDF-1.4 stub'), template: { id: null, version: 'stub' } };
    },
    close: async () => undefined,
  };
  return {
    renderer,
    peak: () => peak,
    releaseAll: () => {
      for (const release of waiting.splice(0)) release();
    },
    waiting: () => waiting.length,
  };
}

async function pendingCertificates(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    // One course each: at most one live certificate per student and course.
    ids.push(await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) }));
  }
  return ids;
}

/** What a worker's final transition does to the budget: the certificate leaves the in-flight set. */
async function finish(certificateId: string): Promise<void> {
  await t.sql`UPDATE certificates SET status = 'dead', dispatched_until = NULL WHERE id = ${certificateId}`;
}

beforeEach(async () => {
  // Each test starts with an empty budget.
  await t.sql`DELETE FROM certificate_generation_log`;
  await t.sql`DELETE FROM certificates`;
});

beforeAll(async () => {
  t = await createTestEnv();
  restoreEnv = applyS3Credentials(t);
});
afterAll(async () => {
  await t.cleanup();
  restoreEnv();
});

describe('concurrency budget', () => {
  it('claims only free slots, also when scans race each other', async () => {
    await pendingCertificates(10);
    const claims = await Promise.all(
      Array.from({ length: 5 }, () => claimDueForDispatch(t.sql, 100, 300, 4)),
    );
    expect(claims.flat()).toHaveLength(4);
    expect(new Set(claims.flat()).size).toBe(4);
    expect(await countInFlight(t.sql)).toBe(4);
    expect(await claimDueForDispatch(t.sql, 100, 300, 4)).toEqual([]);
    // A finished certificate frees its slot.
    await finish(claims.flat()[0] as string);
    expect(await claimDueForDispatch(t.sql, 100, 300, 4)).toHaveLength(1);
  });

  it('drains a backlog through one scan at most the budget at a time, every certificate issued once', async () => {
    const ids = await pendingCertificates(12);
    const gate = gatedRenderer();
    const deps = makeGenerateDeps(t, gate.renderer);
    const running: Promise<GenerateOutcome>[] = [];
    const dispatch: Dispatch = async (id) => {
      running.push(generateCertificate(deps, generateOptions(), id));
    };
    // Release renders whenever three are held: the budget must be what stops a fourth.
    let inFlightSeen = 0;
    const releaser = setInterval(() => {
      void countInFlight(t.sql).then((n) => {
        inFlightSeen = Math.max(inFlightSeen, n);
        if (gate.waiting() >= 3 || n < 3) gate.releaseAll();
      });
    }, 20);
    try {
      const result = await runScan(
        { sql: t.sql, dispatch, log: recordingLog() },
        {
          batchSize: 100,
          enqueueLimit: 100,
          dispatchLeaseSeconds: 300,
          maxInFlight: 3,
          fillSeconds: 600,
          fillPollMs: 20,
        },
      );
      gate.releaseAll();
      const outcomes = await Promise.all(running);
      expect(result.dispatched.sort()).toEqual([...ids].sort());
      expect(outcomes.map((outcome) => outcome.status)).toEqual(ids.map(() => 'issued'));
    } finally {
      clearInterval(releaser);
    }
    expect(gate.peak()).toBeLessThanOrEqual(3);
    expect(gate.peak()).toBeGreaterThan(1);
    expect(inFlightSeen).toBeLessThanOrEqual(3);
    for (const id of ids) expect((await certificateRow(t.sql, id)).status).toBe('issued');
  });

  it('leaves a passing attempt pending for the scan when the budget is full at ingestion', async () => {
    const held = await pendingCertificates(2);
    expect(await claimDueForDispatch(t.sql, 100, 300, 2)).toEqual(expect.arrayContaining(held));
    const dispatched: string[] = [];
    const dispatch: Dispatch = async (id) => {
      dispatched.push(id);
    };
    const courseId = await createCourse(t.sql);
    const full = await recordAttempt(
      { sql: t.sql, dispatch, log: recordingLog() },
      { dispatchLeaseSeconds: 300, maxInFlight: 2 },
      { studentId, courseId, score: 95, maxScore: 100 },
    );
    expect(full.certificate?.created).toBe(true);
    expect(full.dispatched).toBe(false);
    expect(dispatched).toEqual([]);
    const row = await certificateRow(t.sql, full.certificate?.id as string);
    expect(row.status).toBe('pending');
    expect(row.dispatched_until).toBeNull();

    // A slot frees up: the next ingestion goes out at once.
    await finish(held[0] as string);
    const next = await recordAttempt(
      { sql: t.sql, dispatch, log: recordingLog() },
      { dispatchLeaseSeconds: 300, maxInFlight: 2 },
      { studentId, courseId: await createCourse(t.sql), score: 95, maxScore: 100 },
    );
    expect(next.dispatched).toBe(true);
    expect(dispatched).toEqual([next.certificate?.id]);
  });

  it('reads a dropped invocation from the failure queue record and hands it back to the scan', async () => {
    const [dropped, issued] = await pendingCertificates(2);
    expect(await claimDueForDispatch(t.sql, 100, 300, 10)).toHaveLength(2);
    await finish(issued as string);
    // The record Lambda sends to an SQS on-failure destination.
    const body = JSON.stringify({
      version: '1.0',
      timestamp: '2026-12-02T10:00:00.000Z',
      requestContext: {
        requestId: 'e0f6a9c4-0000-4000-8000-000000000000',
        functionArn:
          'arn:aws:lambda:eu-central-1:123456789012:function:course-certificates-prod-generate:$LATEST',
        condition: 'EventAgeExceeded',
        approximateInvokeCount: 0,
      },
      requestPayload: { certificateId: dropped },
      responseContext: { statusCode: 200, executedVersion: '$LATEST' },
    });
    const failed = parseFailedInvocation(body);
    expect(failed).toEqual({
      certificateId: dropped,
      condition: 'EventAgeExceeded',
      timestamp: '2026-12-02T10:00:00.000Z',
    });
    expect(parseFailedInvocation('{"requestPayload":{"certificateId":"nope"}}')).toBeUndefined();
    expect(parseFailedInvocation('not json')).toBeUndefined();

    expect(await releaseDropped(t.sql, failed?.certificateId as string)).toBe('pending');
    expect(await releaseDropped(t.sql, issued as string)).toBe('dead');
    // Released: the scan hands it out at once instead of after its dispatch lease.
    expect(await claimDueForDispatch(t.sql, 100, 300, 10)).toEqual([dropped]);
  });
});
