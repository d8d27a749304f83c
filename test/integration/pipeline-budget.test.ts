import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLAIM_LEASE_SECONDS, countInFlight, releaseDropped } from '../../lib/certificates/budget.ts';
import { type GenerateOutcome, generateCertificate } from '../../lib/certificates/generate.ts';
import type { CertificateRenderer, Dispatch } from '../../lib/certificates/ports.ts';
import { recordAttempt } from '../../lib/certificates/record-attempt.ts';
import { requeueAndDispatch } from '../../lib/certificates/requeue.ts';
import { CLAIM_STOP_MARGIN_MS, claimDueForDispatch, runScan } from '../../lib/certificates/scan.ts';
import { parseFailedInvocation } from '../../lib/invoke/failure-queue.ts';
import { DEMO_STUDENTS } from '../../localstack/embedded/demo-data.ts';
import { applyS3Credentials, createTestEnv, type TestEnv } from '../support/env.ts';
import { gate } from '../support/gate.ts';
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

/** Seconds until each certificate's dispatch lease runs out (null: not dispatched). */
async function leaseSeconds(ids: readonly string[]): Promise<(number | null)[]> {
  const rows = await t.sql<{ id: string; left: number | null }[]>`
    SELECT id, extract(epoch FROM dispatched_until - now())::float AS left
    FROM certificates WHERE id = ANY(${ids}::uuid[])`;
  return ids.map((id) => rows.find((row) => row.id === id)?.left ?? null);
}

const BUDGET = { batchSize: 100, enqueueLimit: 100, dispatchLeaseSeconds: 300, maxInFlight: 4 };

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

  it('a scan that dies after claiming holds the budget only for the claim lease; an accepted invoke for the full lease', async () => {
    const ids = await pendingCertificates(4);
    // The first scan claims the whole budget, then its first invokes never return: the Lambda
    // times out or crashes before it has invoked anything.
    const invoke = gate();
    const dying = runScan({ sql: t.sql, dispatch: invoke.wait, log: recordingLog() }, BUDGET);
    await invoke.reached;
    for (const left of await leaseSeconds(ids)) expect(left).toBeLessThanOrEqual(CLAIM_LEASE_SECONDS);
    const calls: string[] = [];
    const dispatch: Dispatch = async (id) => {
      calls.push(id);
    };
    // While the claims run they count against the budget...
    expect((await runScan({ sql: t.sql, dispatch, log: recordingLog() }, BUDGET)).dispatched).toEqual([]);
    // ...and once they have run out (time travel instead of waiting) the next scan hands them out.
    await t.sql`
      UPDATE certificates SET dispatched_until = dispatched_until - make_interval(secs => ${CLAIM_LEASE_SECONDS})
      WHERE id = ANY(${ids}::uuid[])`;
    const next = await runScan({ sql: t.sql, dispatch, log: recordingLog() }, BUDGET);
    expect(next.dispatched.sort()).toEqual([...ids].sort());
    expect(calls.sort()).toEqual([...ids].sort());
    // Invoked and accepted: now held for the full dispatch lease, not handed out again meanwhile.
    for (const left of await leaseSeconds(ids)) {
      expect(left).toBeGreaterThan(CLAIM_LEASE_SECONDS);
      expect(left).toBeLessThanOrEqual(300);
    }
    expect((await runScan({ sql: t.sql, dispatch, log: recordingLog() }, BUDGET)).dispatched).toEqual([]);
    invoke.open();
    await dying;
  });

  it('an ingestion that dies before its invoke holds its slot only for the claim lease', async () => {
    const courseId = await createCourse(t.sql);
    const invoked: string[] = [];
    const recorded = await recordAttempt(
      {
        sql: t.sql,
        dispatch: async (id) => {
          // The route checks the lease its reservation set before the invoke is answered.
          const [left] = await leaseSeconds([id]);
          expect(left).toBeLessThanOrEqual(CLAIM_LEASE_SECONDS);
          invoked.push(id);
        },
        log: recordingLog(),
      },
      { dispatchLeaseSeconds: 300, maxInFlight: 4 },
      { studentId, courseId, score: 95, maxScore: 100 },
    );
    const id = recorded.certificate?.id as string;
    expect(recorded.dispatched).toBe(true);
    expect(invoked).toEqual([id]);
    const [left] = await leaseSeconds([id]);
    expect(left).toBeGreaterThan(CLAIM_LEASE_SECONDS);
  });

  it('stops claiming when its Lambda has less time left than the margin', async () => {
    const ids = await pendingCertificates(3);
    const calls: string[] = [];
    const log = recordingLog();
    const result = await runScan(
      {
        sql: t.sql,
        dispatch: async (id) => {
          calls.push(id);
        },
        log,
      },
      { ...BUDGET, fillSeconds: 45, deadline: Date.now() + CLAIM_STOP_MARGIN_MS - 1000 },
    );
    expect(result.dispatched).toEqual([]);
    expect(calls).toEqual([]);
    expect(await leaseSeconds(ids)).toEqual([null, null, null]);
    expect(log.entries.map((entry) => entry.message)).toContain(
      'Scan stopped claiming: its time is nearly up; the next scan carries on',
    );
    // With time left it claims as usual.
    const later = await runScan(
      { sql: t.sql, dispatch: async () => undefined, log },
      { ...BUDGET, deadline: Date.now() + 60_000 },
    );
    expect(later.dispatched.sort()).toEqual([...ids].sort());
  });

  it('requeueing a failed certificate the scan has already invoked keeps its lease and does not invoke it again', async () => {
    const [queued, lapsed] = await pendingCertificates(2);
    await t.sql`
      UPDATE certificates SET status = 'failed', attempt_count = 2, last_error = 'Keycloak answered 500',
                              next_attempt_at = now() - interval '1 second'
      WHERE id IN (${queued as string}, ${lapsed as string})`;
    // The scan invoked generate for it; the invocation waits in Lambda's queue.
    const scanned = await runScan(
      { sql: t.sql, dispatch: async () => undefined, log: recordingLog() },
      BUDGET,
    );
    expect(scanned.dispatched.sort()).toEqual([queued, lapsed].sort());
    // One invocation was dropped long ago: its lease has run out.
    await t.sql`UPDATE certificates SET dispatched_until = now() - interval '1 second' WHERE id = ${lapsed as string}`;
    const [lease] = await t.sql<{ dispatched_until: Date }[]>`
      SELECT dispatched_until FROM certificates WHERE id = ${queued as string}`;
    expect(await countInFlight(t.sql)).toBe(1);

    const invoked: string[] = [];
    const requeue = async (id: string) =>
      await requeueAndDispatch(
        {
          sql: t.sql,
          dispatch: async (certificateId) => {
            invoked.push(certificateId);
          },
          log: recordingLog(),
        },
        { dispatchLeaseSeconds: 300, maxInFlight: 4 },
        id,
        { requestedBy: 'operator' },
      );
    expect(await requeue(queued as string)).toMatchObject({
      previousStatus: 'failed',
      status: 'pending',
      dispatched: false,
    });
    expect(invoked).toEqual([]);
    const row = await certificateRow(t.sql, queued as string);
    expect(row).toMatchObject({
      status: 'pending',
      attempt_count: 0,
      dispatched_until: lease?.dispatched_until,
    });
    // Still one invocation in flight, and it finds the certificate due.
    expect(await countInFlight(t.sql)).toBe(1);
    const [due] = await t.sql<{ due: boolean }[]>`
      SELECT next_attempt_at <= now() AS due FROM certificates WHERE id = ${queued as string}`;
    expect(due?.due).toBe(true);

    // A lease that has run out is not kept: that one is invoked at once.
    expect(await requeue(lapsed as string)).toMatchObject({ dispatched: true });
    expect(invoked).toEqual([lapsed]);
    expect(await countInFlight(t.sql)).toBe(2);
  });
});
