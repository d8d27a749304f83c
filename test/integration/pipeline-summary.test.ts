import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import type { GenerateDeps } from '../../lib/certificates/ports.ts';
import {
  lockForCountedOutcome,
  runScan,
  SCAN_MARKER_DAYS,
  SUMMARY_LOCK,
  summariseSinceLastScan,
} from '../../lib/certificates/scan.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { gate } from '../support/gate.ts';
import {
  auditEvents,
  createCourse,
  createPendingCertificate,
  generateOptions,
  recordingLog,
  recordingMetrics,
} from './pipeline-fixtures.ts';

// The scan's summary line ("Certificate generation completed: generated=N, failed=M") counts
// each issued, failed or dead audit row exactly once, however the writes and the scans interleave,
// and an attempt that ended without a result as failed when its expired lease is taken over.

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});
beforeEach(async () => {
  await t.sql`DELETE FROM certificate_generation_log`;
  await t.sql`DELETE FROM scan_runs`;
});

/** Generate with stand-ins for everything but the database; the S3 upload waits at `upload`. */
function generateDeps(upload: ReturnType<typeof gate>) {
  return {
    sql: t.sql,
    directory: {
      getStudent: async (id) => ({ id, displayName: 'Grace Hopper' }),
    },
    renderer: {
      render: async () => ({
        pdf: new TextEncoder().encode('%PDF-1.4 stub'),
        template: { id: null, version: 'stub' },
      }),
      close: async () => undefined,
    },
    storage: {
      putPdf: async (key, pdf) => {
        await upload.wait();
        return { key, bytes: pdf.byteLength };
      },
    },
    log: recordingLog(),
    metrics: recordingMetrics(),
  } satisfies GenerateDeps;
}

const NOTHING = { generated: 0, failed: 0, retrying: 0, dead: 0 };

/** An outcome row as generate writes it, dated `ago` (an SQL interval) before now. */
async function logOutcome(event: string, ago: string, fromStatus: string | null = null): Promise<void> {
  await t.sql`INSERT INTO certificate_generation_log (event, from_status, created_at)
              VALUES (${event}, ${fromStatus}::certificate_status, now() - ${ago}::interval)`;
}

/** A scan's run as the summary records it, dated `ago` (an SQL interval) before now. */
async function logScan(ago: string): Promise<void> {
  await t.sql`INSERT INTO scan_runs (created_at) VALUES (now() - ${ago}::interval)`;
}

/** A certificate whose worker died mid-attempt (Lambda timeout, OOM): rendering, lease and backoff over. */
async function abandonedCertificate(): Promise<string> {
  const id = await createPendingCertificate(t.sql, {
    studentId: randomUUID(),
    courseId: await createCourse(t.sql),
  });
  await t.sql`UPDATE certificates SET status = 'rendering', attempt_count = 1, lease_owner = 'dead-worker',
                lease_expires_at = now() - interval '1 second', next_attempt_at = now() - interval '1 second'
              WHERE id = ${id}`;
  return id;
}

/** Sessions waiting for an advisory lock. */
async function waitingForAdvisoryLock(): Promise<number> {
  const [row] = await t.sql<{ waiting: number }[]>`
    SELECT count(*)::int AS waiting FROM pg_locks
    WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
  return row?.waiting ?? 0;
}

/**
 * Generates `certificateId` while a summary holds its lock, once generate is waiting for that lock
 * (or has finished, which `whileHeld` must find it has not): `whileHeld` checks what is committed
 * meanwhile, then the summary lets go and generate must issue. The summary takes the lock before
 * generate starts (`claim`: generate waits at its claim), or while its PDF uploads (`upload`: the
 * claim's share of the lock is long released, and generate waits to write its issued row).
 */
async function generateBehindSummary(
  certificateId: string,
  whileHeld: (finished: boolean) => Promise<void>,
  summaryFrom: 'claim' | 'upload' = 'claim',
) {
  const upload = gate();
  let finished = false;
  const generate = () =>
    generateCertificate(generateDeps(upload), generateOptions(), certificateId).then((outcome) => {
      finished = true;
      return outcome;
    });
  const uploading = summaryFrom === 'upload' ? generate() : undefined;
  if (uploading) await upload.reached;
  const summary = gate();
  const summarising = t.sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK})`;
    await summary.wait();
  });
  await summary.reached;
  upload.open();
  const generating = uploading ?? generate();
  try {
    while (!finished && (await waitingForAdvisoryLock()) < 1) await sleep(10);
    await whileHeld(finished);
  } finally {
    // Released whatever happened, so a failure here does not hold up the next test.
    summary.open();
    await summarising;
  }
  expect((await generating).status).toBe('issued');
}

describe('generation summary', () => {
  it('counts a certificate whose issue transaction began before a scan, during its upload', async () => {
    const id = await createPendingCertificate(t.sql, {
      studentId: randomUUID(),
      courseId: await createCourse(t.sql),
    });
    await summariseSinceLastScan(t.sql, {});
    const upload = gate();
    // The issue transaction begins (row lock, lease check) before the upload, and writes the
    // `issued` row after it.
    const generating = generateCertificate(generateDeps(upload), generateOptions(), id);
    await upload.reached;
    const during = await summariseSinceLastScan(t.sql, {});
    upload.open();
    expect((await generating).status).toBe('issued');
    const next = await summariseSinceLastScan(t.sql, {});
    expect([during.generated, next.generated]).toEqual([0, 1]);
    expect((await summariseSinceLastScan(t.sql, {})).generated).toBe(0);
  });

  it("generate waits for a running summary before writing its outcome (it takes the summary's lock)", async () => {
    const id = await createPendingCertificate(t.sql, {
      studentId: randomUUID(),
      courseId: await createCourse(t.sql),
    });
    // A summary in progress holds the lock exclusively until released.
    await generateBehindSummary(id, async (finished) => {
      expect(finished).toBe(false);
      const [row] = await t.sql<{ status: string }[]>`SELECT status FROM certificates WHERE id = ${id}`;
      expect(row?.status).not.toBe('issued');
    });
  });

  it('an issue whose upload ends while a summary runs waits for it before writing its issued row', async () => {
    const id = await createPendingCertificate(t.sql, {
      studentId: randomUUID(),
      courseId: await createCourse(t.sql),
    });
    await generateBehindSummary(
      id,
      async (finished) => {
        expect(finished).toBe(false);
        const [row] = await t.sql<{ status: string }[]>`SELECT status FROM certificates WHERE id = ${id}`;
        expect(row?.status).toBe('rendering');
        expect(await auditEvents(t.sql, id)).not.toContain('issued');
      },
      'upload',
    );
  });

  it('never runs between an outcome row and its commit, and overlapping scans count it once', async () => {
    const id = await createPendingCertificate(t.sql, {
      studentId: randomUUID(),
      courseId: await createCourse(t.sql),
    });
    await summariseSinceLastScan(t.sql, {});
    const commit = gate();
    // The end of generate's issue transaction: the lock, the audit row, then (held here) the commit.
    const issuing = t.sql.begin(async (tx) => {
      await lockForCountedOutcome(tx);
      await tx`INSERT INTO certificate_generation_log (certificate_id, event) VALUES (${id}, 'issued')`;
      await commit.wait();
    });
    await commit.reached;
    // Two scans at once (an EventBridge double fire) while the row is written but not committed.
    let settled = 0;
    const summaries = [summariseSinceLastScan(t.sql, {}), summariseSinceLastScan(t.sql, {})];
    for (const summary of summaries) void summary.then(() => (settled += 1));
    while (settled === 0 && (await waitingForAdvisoryLock()) < 2) await sleep(10);
    // Both wait for the commit instead of counting without the row and moving the window past it.
    expect(settled).toBe(0);
    commit.open();
    await issuing;
    const counted = (await Promise.all(summaries)).map((summary) => summary.generated);
    expect(counted.sort()).toEqual([0, 1]);
    expect((await summariseSinceLastScan(t.sql, {})).generated).toBe(0);
  });
  it('counts every outcome since the previous scan, however long ago it ran', async () => {
    // The last scan ran 3 h ago (the schedule was switched off; ingestion still invoked generate).
    await logScan('3 hours');
    for (let index = 0; index < 5; index += 1) await logOutcome('issued', '2 hours');
    await logOutcome('failed', '90 minutes');
    await logOutcome('issued', '10 minutes');
    expect(await summariseSinceLastScan(t.sql, {})).toEqual({
      generated: 6,
      failed: 1,
      retrying: 1,
      dead: 0,
    });
    expect(await summariseSinceLastScan(t.sql, {})).toEqual(NOTHING);
  });

  it("keeps a week of the scan's own runs and prunes older ones, a hundred a tick, outside the audit log", async () => {
    for (let minute = 1; minute <= 150; minute += 1)
      await logScan(`${SCAN_MARKER_DAYS} days ${minute} minutes`);
    await logScan(`${SCAN_MARKER_DAYS - 1} days`);
    await logOutcome('issued', `${SCAN_MARKER_DAYS + 30} days`);
    const runs = async () => {
      const [row] = await t.sql<{ old: number; recent: number; audit: number }[]>`
        SELECT count(*) FILTER (WHERE created_at < now() - make_interval(days => ${SCAN_MARKER_DAYS}))::int AS old,
               count(*) FILTER (WHERE created_at >= now() - make_interval(days => ${SCAN_MARKER_DAYS}))::int AS recent,
               (SELECT count(*)::int FROM certificate_generation_log) AS audit
        FROM scan_runs`;
      return row;
    };
    await summariseSinceLastScan(t.sql, {});
    // The hundred oldest went; the week's run, this tick's and the audit row stay, and the tick
    // wrote nothing into the audit log.
    expect(await runs()).toEqual({ old: 50, recent: 2, audit: 1 });
    await summariseSinceLastScan(t.sql, {});
    expect(await runs()).toEqual({ old: 0, recent: 3, audit: 1 });
  });

  it('removes the markers an older version wrote into the audit log, a hundred a tick, without counting from them', async () => {
    // As a version before scan_runs writes them while a deploy rolls out (or after a rollback).
    await logScan('3 hours');
    for (let minute = 1; minute <= 150; minute += 1) await logOutcome('scan', `${minute} minutes`);
    await logOutcome('issued', '2 hours');
    const stray = async () =>
      (
        await t.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM certificate_generation_log WHERE event = 'scan'`
      )[0]?.n;
    // Counted from the last run in scan_runs (3 h ago), not from the newest stray marker (1 min).
    expect((await summariseSinceLastScan(t.sql, {})).generated).toBe(1);
    expect(await stray()).toBe(50);
    await summariseSinceLastScan(t.sql, {});
    expect(await stray()).toBe(0);
    const [kept] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificate_generation_log WHERE event = 'issued'`;
    expect(kept?.n).toBe(1);
  });

  it('counts an attempt that ended without a result as failed, once, when its lease is taken over', async () => {
    const id = await abandonedCertificate();
    await summariseSinceLastScan(t.sql, {});
    const upload = gate();
    upload.open();
    const deps = generateDeps(upload);
    expect(await generateCertificate(deps, generateOptions(), id)).toMatchObject({
      status: 'issued',
      attempt: 2,
    });
    expect(await summariseSinceLastScan(t.sql, {})).toEqual({
      generated: 1,
      failed: 1,
      retrying: 1,
      dead: 0,
    });
    expect(await summariseSinceLastScan(t.sql, {})).toEqual(NOTHING);
    // The metric and the guide's failure line count it too, once.
    expect(deps.metrics.counts).toMatchObject({ generated: 1, failed: 1, dead: 0 });
    const failures = deps.log.entries.filter((entry) =>
      entry.message.startsWith('Failed to generate certificate for student: '),
    );
    expect(failures.map((entry) => entry.fields)).toEqual([
      expect.objectContaining({ certificate_id: id, attempt: 1, status: 'failed' }),
    ]);
  });

  it("a takeover's claim waits for a running summary before writing its counted row", async () => {
    const id = await abandonedCertificate();
    await generateBehindSummary(id, async () => {
      // The claim itself waits: neither its update nor its audit row is committed yet.
      const [row] = await t.sql<
        { lease_owner: string }[]
      >`SELECT lease_owner FROM certificates WHERE id = ${id}`;
      expect(row?.lease_owner).toBe('dead-worker');
      const claims =
        await t.sql`SELECT 1 FROM certificate_generation_log WHERE certificate_id = ${id} AND event = 'claimed'`;
      expect(claims).toHaveLength(0);
    });
  });

  it("the summary line's numbers are its JSON fields of the same names", async () => {
    await logScan('10 minutes');
    await logOutcome('issued', '2 minutes');
    await logOutcome('issued', '1 minute');
    await logOutcome('failed', '2 minutes');
    await logOutcome('dead', '1 minute');
    await logOutcome('claimed', '1 minute', 'rendering'); // an attempt that ended without a result
    await logOutcome('claimed', '1 minute', 'pending'); // an ordinary claim: no outcome
    const log = recordingLog();
    await runScan(
      { sql: t.sql, dispatch: async () => undefined, log },
      { batchSize: 10, enqueueLimit: 10, dispatchLeaseSeconds: 300 },
    );
    const line = log.entries.find((entry) => entry.message.startsWith('Certificate generation completed: '));
    const pairs = (line?.message.replace('Certificate generation completed: ', '') ?? '')
      .split(', ')
      .map((pair) => pair.split('='));
    expect(pairs.map(([key]) => key)).toEqual(['generated', 'failed']);
    for (const [key = '', value] of pairs) expect(line?.fields[key]).toBe(Number(value));
    expect(line?.fields).toMatchObject({ generated: 2, failed: 3, retrying: 2, dead: 1 });
  });
});
