import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import type { GenerateDeps } from '../../lib/certificates/ports.ts';
import { lockForCountedOutcome, SUMMARY_LOCK, summariseSinceLastScan } from '../../lib/certificates/scan.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { gate } from '../support/gate.ts';
import {
  createCourse,
  createPendingCertificate,
  generateOptions,
  recordingLog,
} from './pipeline-fixtures.ts';

// The scan's summary line ("Certificate generation completed: generated=N, failed=M") counts
// each issued, failed or dead audit row exactly once, however the writes and the scans interleave.

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});
beforeEach(async () => {
  await t.sql`DELETE FROM certificate_generation_log`;
});

/** Generate with stand-ins for everything but the database; the S3 upload waits at `upload`. */
function generateDeps(upload: ReturnType<typeof gate>): GenerateDeps {
  return {
    sql: t.sql,
    directory: {
      getStudent: async (id) => ({ id, displayName: 'Grace Hopper', username: 'grace' }),
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
  };
}

/** Sessions waiting for an advisory lock. */
async function waitingForAdvisoryLock(): Promise<number> {
  const [row] = await t.sql<{ waiting: number }[]>`
    SELECT count(*)::int AS waiting FROM pg_locks
    WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
  return row?.waiting ?? 0;
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
    // A summary in progress: it holds the lock exclusively until released here.
    const summary = gate();
    const summarising = t.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK})`;
      await summary.wait();
    });
    await summary.reached;
    const upload = gate();
    upload.open();
    let finished = false;
    const generating = generateCertificate(generateDeps(upload), generateOptions(), id).then((outcome) => {
      finished = true;
      return outcome;
    });
    try {
      while (!finished && (await waitingForAdvisoryLock()) < 1) await sleep(10);
      expect(finished).toBe(false);
      const [row] = await t.sql<{ status: string }[]>`SELECT status FROM certificates WHERE id = ${id}`;
      expect(row?.status).not.toBe('issued');
    } finally {
      // Released whatever happened, so a failure here does not hold up the next test.
      summary.open();
      await summarising;
    }
    expect((await generating).status).toBe('issued');
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
});
