import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { CLAIM_LEASE_SECONDS, countInFlight, releaseDropped } from '../../lib/certificates/budget.ts';
import { type GenerateOutcome, generateCertificate } from '../../lib/certificates/generate.ts';
import type { CertificateRenderer, Dispatch } from '../../lib/certificates/ports.ts';
import { recordAttempt } from '../../lib/certificates/record-attempt.ts';
import { requeueAndDispatch } from '../../lib/certificates/requeue.ts';
import { CLAIM_STOP_MARGIN_MS, claimDueForDispatch, runScan } from '../../lib/certificates/scan.ts';
import { parseFailedInvocation } from '../../lib/invoke/failure-queue.ts';
import { DEMO_STUDENTS } from '../../localstack/embedded/demo-data.ts';
import { type TestEnv, testEnvPerFile } from '../support/env.ts';
import { gate } from '../support/gate.ts';
import { untilWaitingForLock } from '../support/lock-wait.ts';
import {
  certificateRow,
  createCourse,
  createPendingCertificate,
  generateOptions,
  makeDue,
  makeGenerateDeps,
  recordingLog,
} from './pipeline-fixtures.ts';

// The concurrency budget: the scan and the ingestion route never have more than
// GENERATE_MAX_CONCURRENCY certificates dispatched or rendering; the rest waits in PostgreSQL.

let t: TestEnv;
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

/**
 * A renderer whose process dies mid-render (Lambda timeout, out of memory): the render never
 * returns, so the worker records nothing and only its lease runs out. `kill` ends the
 * stand-ins once the test is done with them.
 */
function crashingRenderer() {
  const dying: (() => void)[] = [];
  let entered = 0;
  const renderer: CertificateRenderer = {
    async render() {
      entered += 1;
      await new Promise<void>((_, reject) => dying.push(() => reject(new Error('worker killed'))));
      throw new Error('unreachable');
    },
    close: async () => undefined,
  };
  return {
    renderer,
    entered: () => entered,
    kill: () => {
      for (const die of dying.splice(0)) die();
    },
  };
}

const issuingRenderer: CertificateRenderer = {
  render: async () => ({
    pdf: new TextEncoder().encode('%PDF-1.4 stub'),
    template: { id: null, version: 'stub' },
  }),
  close: async () => undefined,
};

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

beforeEach(async () => {
  // Each test starts with an empty budget.
  await t.sql`DELETE FROM certificate_generation_log`;
  await t.sql`DELETE FROM certificates`;
});

testEnvPerFile((env) => {
  t = env;
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
    // Dropped for its age: it was queued at least MaximumEventAgeInSeconds (6 h) before the record.
    expect(failed).toEqual({
      certificateId: dropped,
      condition: 'EventAgeExceeded',
      timestamp: '2026-12-02T10:00:00.000Z',
      dispatchedBy: '2026-12-02T04:00:00.000Z',
    });
    expect(parseFailedInvocation('{"requestPayload":{"certificateId":"nope"}}')).toBeUndefined();
    expect(parseFailedInvocation('not json')).toBeUndefined();

    expect(await releaseDropped(t.sql, failed?.certificateId as string)).toEqual({
      status: 'pending',
      released: true,
    });
    expect(await releaseDropped(t.sql, issued as string)).toEqual({ status: 'dead', released: false });
    // Released: the scan hands it out at once instead of after its dispatch lease.
    expect(await claimDueForDispatch(t.sql, 100, 300, 10)).toEqual([dropped]);
    // That claim is a newer dispatch than the one Lambda dropped on 2 December: its lease ends later
    // than the dropped one's could, and is left to it.
    const droppedOn = { at: new Date(failed?.dispatchedBy ?? ''), leaseSeconds: 300 };
    expect(await releaseDropped(t.sql, dropped as string, droppedOn)).toEqual({
      status: 'pending',
      released: false,
    });
    expect(await claimDueForDispatch(t.sql, 100, 300, 10)).toEqual([]);
    // Nor by a record written just now of an event dropped for its age: that event was queued
    // six hours ago, and this claim is the scan's newer dispatch.
    const agedOut = parseFailedInvocation(body.replace('2026-12-02T10:00:00.000Z', new Date().toISOString()));
    expect(
      await releaseDropped(t.sql, dropped as string, {
        at: new Date(agedOut?.dispatchedBy ?? ''),
        leaseSeconds: 300,
      }),
    ).toEqual({ status: 'pending', released: false });
    // A record of a drop just now names the lease this claim holds: released.
    expect(await releaseDropped(t.sql, dropped as string, { at: new Date(), leaseSeconds: 300 })).toEqual({
      status: 'pending',
      released: true,
    });
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

  it('an invoke accepted after generate has already claimed the certificate sets no dispatch lease: a failed render is retried when its backoff is due', async () => {
    // A fast worker claims the certificate (clearing its dispatch claim) before Lambda's 202
    // comes back. A dispatch lease set after that would hold a failed render's retry, and a slot
    // of the budget, for the whole lease (300 s here) instead of its 60 s backoff.
    const courseId = await createCourse(t.sql);
    const crash = crashingRenderer();
    let rendering: Promise<GenerateOutcome> | undefined;
    try {
      const recorded = await recordAttempt(
        {
          sql: t.sql,
          dispatch: async (id) => {
            rendering = generateCertificate(makeGenerateDeps(t, crash.renderer), generateOptions(), id);
            await until(() => crash.entered() === 1);
          },
          log: recordingLog(),
        },
        { dispatchLeaseSeconds: 300, maxInFlight: 4 },
        { studentId, courseId, score: 95, maxScore: 100 },
      );
      expect(recorded.dispatched).toBe(true);
      const id = recorded.certificate?.id as string;
      expect(await certificateRow(t.sql, id)).toMatchObject({ status: 'rendering', dispatched_until: null });

      // The render fails: the certificate waits for its backoff only, holding no slot meanwhile.
      crash.kill();
      expect(await rendering).toMatchObject({ status: 'failed', retryInSeconds: 60 });
      expect(await leaseSeconds([id])).toEqual([null]);
      expect(await countInFlight(t.sql)).toBe(0);
      await makeDue(t.sql, id);
      expect(await claimDueForDispatch(t.sql, 10, 30, 4)).toEqual([id]);
    } finally {
      crash.kill();
      await rendering;
    }
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
      { ...BUDGET, fillSeconds: 40, deadline: Date.now() + CLAIM_STOP_MARGIN_MS - 1000 },
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

  it('starts no invoke once its time is nearly up, however slowly the earlier ones answered: the rest is released unsent', async () => {
    const ids = await pendingCertificates(3);
    const calls: string[] = [];
    const log = recordingLog();
    // The claim margin begins 5 s from now; the first invoke answers (successfully) only after.
    const claimUntil = Date.now() + 5_000;
    const result = await runScan(
      {
        sql: t.sql,
        dispatch: async (id) => {
          calls.push(id);
          while (Date.now() < claimUntil) await sleep(20);
        },
        log,
      },
      { ...BUDGET, dispatchConcurrency: 1, deadline: claimUntil + CLAIM_STOP_MARGIN_MS },
    );
    expect(calls).toHaveLength(1);
    expect(result.dispatched).toEqual(calls);
    const unsent = ids.filter((id) => !calls.includes(id));
    expect(await leaseSeconds(unsent)).toEqual([null, null]);
    expect(log.entries.map((entry) => entry.message)).toContain(
      'Scan stopped invoking: its time is nearly up; the next scan carries on',
    );
    // The summary line still comes: the scan ended on its own, not cut off.
    expect(log.entries.map((entry) => entry.message)).toContainEqual(
      expect.stringMatching(/^Certificate generation completed/),
    );
  });

  it('refills each freed slot within the same scan: a backlog drains as slots free, not one budget a tick', async () => {
    const ids = await pendingCertificates(12);
    const dispatched: string[] = [];
    const dispatch: Dispatch = async (id) => {
      dispatched.push(id);
    };
    let ended = false;
    // A fill window far longer than the test: only the backlog running out ends this scan.
    const scan = runScan(
      { sql: t.sql, dispatch, log: recordingLog() },
      { ...BUDGET, maxInFlight: 2, fillSeconds: 600 },
    ).finally(() => {
      ended = true;
    });
    scan.catch(() => undefined);
    // The test frees one slot at a time, as a worker's final transition does, and waits (polling,
    // no deadline but the test's own) until the scan has filled it again; a scan that stopped
    // filling ends instead, and the count below fails.
    for (let finished = 0; finished < 10; finished += 1) {
      while (!ended && dispatched.length < finished + 2) await sleep(5);
      expect(dispatched).toHaveLength(finished + 2); // the budget full, never more
      await finish(dispatched[finished] as string);
    }
    const result = await scan;
    expect([...result.dispatched].sort()).toEqual([...ids].sort());
    expect(result.failed).toEqual([]);
    // How soon a freed slot is filled (FILL_POLL_MS) is a speed, not a behaviour: not timed here.
  });

  it('says its time is nearly up only when the deadline, not the fill window, ended claiming', async () => {
    // More than two budgets: work is still waiting when each scan's claiming ends.
    await pendingCertificates(6);
    const stopped = 'Scan stopped claiming: its time is nearly up; the next scan carries on';
    const held: string[] = [];
    // Never finished: the budget stays full and the scan polls until its claiming ends.
    const dispatch: Dispatch = async (id) => {
      held.push(id);
    };
    // As with the defaults, the fill window ends as the claim margin begins (40 s + 20 s of 60 s),
    // give or take what the Lambda's clock ran before the handler read its remaining time (300 ms
    // here, more than the poll, so the scan does look while the deadline alone has passed).
    // Seconds, not less: the scan enqueues before it claims, and on a busy machine a window of
    // a fraction of a second could be over before its first claim.
    const quiet = recordingLog();
    const filled = await runScan(
      { sql: t.sql, dispatch, log: quiet },
      { ...BUDGET, maxInFlight: 2, fillSeconds: 3, deadline: Date.now() + CLAIM_STOP_MARGIN_MS + 3000 - 300 },
    );
    expect(filled.dispatched).toHaveLength(2);
    expect(quiet.entries.map((entry) => entry.message)).not.toContain(stopped);

    // A deadline that cuts the fill window short mid-fill is said.
    for (const id of held.splice(0)) await finish(id);
    const cut = recordingLog();
    const short = await runScan(
      { sql: t.sql, dispatch, log: cut },
      { ...BUDGET, maxInFlight: 2, fillSeconds: 40, deadline: Date.now() + CLAIM_STOP_MARGIN_MS + 3000 },
    );
    expect(short.dispatched).toHaveLength(2);
    expect(cut.entries.map((entry) => entry.message)).toContain(stopped);

    // So is a deadline that leaves no time even for the one pass a scan without a fill window makes.
    for (const id of held.splice(0)) await finish(id);
    const none = recordingLog();
    const passless = await runScan(
      { sql: t.sql, dispatch, log: none },
      { ...BUDGET, maxInFlight: 2, fillSeconds: 0, deadline: Date.now() + CLAIM_STOP_MARGIN_MS - 1000 },
    );
    expect(passless.dispatched).toEqual([]);
    expect(none.entries.map((entry) => entry.message)).toContain(stopped);
  });

  it("counts the fill window from the scan's start, as the deadline: a slow enqueue does not run it into the margin", async () => {
    await pendingCertificates(6);
    const realNow = Date.now;
    let skipped = 0;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => realNow.call(Date) + skipped);
    try {
      // Another transaction holds the table, so the scan's enqueue waits at a known point.
      const locked = gate();
      const blocker = t.sql.begin(async (tx) => {
        await tx`LOCK TABLE certificates IN SHARE MODE`;
        await locked.wait();
      });
      await locked.reached;
      const log = recordingLog();
      const fillSeconds = 7;
      // The timeout is the fill window plus the claim margin, as with the defaults (40 + 20 s).
      const scan = runScan(
        { sql: t.sql, dispatch: async () => undefined, log },
        {
          ...BUDGET,
          maxInFlight: 2,
          fillSeconds,
          deadline: Date.now() + CLAIM_STOP_MARGIN_MS + fillSeconds * 1000,
        },
      );
      let settled = false;
      const done = () => {
        settled = true;
      };
      void scan.then(done, done);
      // Until the enqueue waits (or the scan has ended, which fails below).
      await untilWaitingForLock(t.sql, {
        queryLike: '%WITH picked AS%certificate_enqueued_at IS NULL%',
        ended: () => settled,
      });
      // The enqueue takes five of the seven seconds (time travel instead of waiting them).
      skipped = 5000;
      locked.open();
      await blocker;
      const result = await scan;
      expect(result.dispatched).toHaveLength(2);
      expect(log.entries.map((entry) => entry.message)).not.toContain(
        'Scan stopped claiming: its time is nearly up; the next scan carries on',
      );
    } finally {
      clock.mockRestore();
    }
  });

  it('certificates whose worker dies keep no slot past their lease: waiting work goes first, they back off', async () => {
    const budget = 2;
    const options = generateOptions({ maxAttempts: 5 });
    const crashCourse = await createCourse(t.sql);
    const crashers = [
      await createPendingCertificate(t.sql, {
        studentId: DEMO_STUDENTS[0]?.id as string,
        courseId: crashCourse,
      }),
      await createPendingCertificate(t.sql, {
        studentId: DEMO_STUDENTS[1]?.id as string,
        courseId: crashCourse,
      }),
    ];
    // Waiting longer than the unrelated certificate created after them, so they go out first.
    await t.sql`UPDATE certificates SET next_attempt_at = now() - interval '1 minute' WHERE id = ANY(${crashers}::uuid[])`;
    const other = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
    const crash = crashingRenderer();
    const crashing: Promise<GenerateOutcome>[] = [];
    try {
      expect((await claimDueForDispatch(t.sql, 10, 30, budget)).sort()).toEqual([...crashers].sort());
      for (const id of crashers)
        crashing.push(generateCertificate(makeGenerateDeps(t, crash.renderer), options, id));
      await until(() => crash.entered() === crashers.length);
      // Both claims set the backoff a failure of attempt 1 gets (60 s with the fixture's jitter),
      // from the claim's instant (the one its lease counts from).
      const claimed = await t.sql<{ status: string; wait: number }[]>`
        SELECT status::text, extract(epoch FROM next_attempt_at - claimed_at)::float AS wait
        FROM certificates, LATERAL (SELECT lease_expires_at - make_interval(secs => ${options.leaseSeconds}) AS claimed_at) c
        WHERE id = ANY(${crashers}::uuid[])`;
      expect(claimed).toEqual([
        { status: 'rendering', wait: 60 },
        { status: 'rendering', wait: 60 },
      ]);

      // Both workers died; their leases run out (time travel instead of LEASE_SECONDS).
      await t.sql`UPDATE certificates SET lease_expires_at = now() - interval '1 second' WHERE id = ANY(${crashers}::uuid[])`;
      // The first scan after that hands out the certificate that waited, not the crashed ones
      // again: they are within their backoff and hold no slot meanwhile.
      expect(await claimDueForDispatch(t.sql, 10, 30, budget)).toEqual([other]);
      expect(await generateCertificate(makeGenerateDeps(t, issuingRenderer), options, other)).toMatchObject({
        status: 'issued',
      });

      // Once the backoff has passed they are taken over, as attempt 2 with twice the backoff.
      await t.sql`UPDATE certificates SET next_attempt_at = now() - interval '1 second' WHERE id = ANY(${crashers}::uuid[])`;
      expect((await claimDueForDispatch(t.sql, 10, 30, budget)).sort()).toEqual([...crashers].sort());
      for (const id of crashers)
        crashing.push(generateCertificate(makeGenerateDeps(t, crash.renderer), options, id));
      await until(() => crash.entered() === 2 * crashers.length);
      const retaken = await t.sql<{ attempt_count: number; wait: number }[]>`
        SELECT attempt_count, extract(epoch FROM next_attempt_at - claimed_at)::float AS wait
        FROM certificates, LATERAL (SELECT lease_expires_at - make_interval(secs => ${options.leaseSeconds}) AS claimed_at) c
        WHERE id = ANY(${crashers}::uuid[])`;
      expect(retaken).toEqual([
        { attempt_count: 2, wait: 120 },
        { attempt_count: 2, wait: 120 },
      ]);
    } finally {
      crash.kill();
      await Promise.all(crashing);
    }
  });

  it('an expired lease whose backoff ran out before it expired queues behind work that came due in between', async () => {
    const [crashed, waiting] = await pendingCertificates(2);
    // Backoff over 10 minutes ago, lease only just run out: it has been due for a second.
    await t.sql`
      UPDATE certificates SET status = 'rendering', attempt_count = 1, lease_owner = 'dead-worker',
                              lease_expires_at = now() - interval '1 second', next_attempt_at = now() - interval '10 minutes'
      WHERE id = ${crashed as string}`;
    await t.sql`UPDATE certificates SET next_attempt_at = now() - interval '5 minutes' WHERE id = ${waiting as string}`;
    expect(await claimDueForDispatch(t.sql, 10, 30, 1)).toEqual([waiting]);
    expect(await claimDueForDispatch(t.sql, 10, 30, 2)).toEqual([crashed]);
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
