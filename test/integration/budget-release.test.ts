import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { countInFlight, dispatchWithinBudget, releaseStaleClaims } from '../../lib/certificates/budget.ts';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import type { CertificateRenderer } from '../../lib/certificates/ports.ts';
import { claimDueForDispatch } from '../../lib/certificates/scan.ts';
import { DEMO_STUDENTS } from '../../localstack/embedded/demo-data.ts';
import { type TestEnv, testEnvPerFile } from '../support/env.ts';
import {
  certificateRow,
  createCourse,
  createPendingCertificate,
  generateOptions,
  makeGenerateDeps,
  recordingLog,
  recordingMetrics,
} from './pipeline-fixtures.ts';

// What `npm start` releases in its own PostgreSQL before it starts serverless offline: the claims
// of workers it stopped, which would otherwise hold the budget until their leases ran out.
// releaseStaleClaims takes every lease for stale (no worker of a previous run is alive when npm
// start calls it), so there is no live lease to keep here.

let t: TestEnv;
const studentId = DEMO_STUDENTS[0]?.id as string;
const DISPATCH_LEASE_SECONDS = 300;

/** A renderer that holds its render until released: a worker stopped mid-render never returns. */
function heldRenderer() {
  let release: (() => void) | undefined;
  let entered = false;
  const renderer: CertificateRenderer = {
    async render() {
      entered = true;
      await new Promise<void>((resolve) => (release = resolve));
      return { pdf: new TextEncoder().encode('%PDF-1.4 stopped'), template: { id: null, version: 'x' } };
    },
    close: async () => undefined,
  };
  return { renderer, entered: () => entered, release: () => release?.() };
}

const markerRenderer: CertificateRenderer = {
  render: async () => ({
    pdf: new TextEncoder().encode('%PDF-1.4 after restart'),
    template: { id: null, version: 'after-restart' },
  }),
  close: async () => undefined,
};

async function newCertificate(): Promise<string> {
  // One course each: at most one live certificate per student and course.
  return await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
}

testEnvPerFile((env) => {
  t = env;
});

describe('releaseStaleClaims', () => {
  it('makes dispatched and rendering certificates claimable at once; the stopped render is counted once by the takeover', async () => {
    // Accepted by an invoke that the stopped serverless offline held in memory.
    const accepted = await newCertificate();
    const log = recordingLog();
    const lost = async () => undefined;
    expect(
      await dispatchWithinBudget(
        { sql: t.sql, dispatch: lost, log },
        { dispatchLeaseSeconds: DISPATCH_LEASE_SECONDS },
        accepted,
      ),
    ).toBe(true);
    // A due retry the scan had claimed for dispatch.
    const retry = await newCertificate();
    await t.sql`UPDATE certificates SET status = 'failed', attempt_count = 1, next_attempt_at = now()
                WHERE id = ${retry}`;
    expect(await claimDueForDispatch(t.sql, 10, DISPATCH_LEASE_SECONDS)).toEqual([retry]);
    // Rendering when its worker was stopped: claimed by generate itself, the render never ends.
    const rendering = await newCertificate();
    const stopped = heldRenderer();
    const stoppedRun = generateCertificate(
      makeGenerateDeps(t, stopped.renderer),
      generateOptions(),
      rendering,
    );
    while (!stopped.entered()) await sleep(10);
    // A worker that had died on its own before (a Lambda timeout): its lease ran out and the
    // backoff its claim set is still running. That is a real failure's wait, kept.
    const crashed = await newCertificate();
    await t.sql`UPDATE certificates SET status = 'rendering', lease_owner = 'crashed-worker', attempt_count = 1,
                  lease_expires_at = now() - interval '1 minute', next_attempt_at = now() + interval '1 hour'
                WHERE id = ${crashed}`;
    const crashedBefore = await certificateRow(t.sql, crashed);

    // All three hold the budget, and none of them can be handed out.
    expect(await countInFlight(t.sql)).toBe(3);
    expect(await claimDueForDispatch(t.sql, 10, DISPATCH_LEASE_SECONDS)).toEqual([]);

    expect(await releaseStaleClaims(t.sql)).toEqual({ dispatched: 2, rendering: 1 });

    expect(await countInFlight(t.sql)).toBe(0);
    expect((await claimDueForDispatch(t.sql, 10, DISPATCH_LEASE_SECONDS)).sort()).toEqual(
      [accepted, retry, rendering].sort(),
    );
    const crashedAfter = await certificateRow(t.sql, crashed);
    expect(crashedAfter).toMatchObject({
      status: 'rendering',
      attempt_count: 1,
      dispatched_until: null,
      lease_expires_at: crashedBefore.lease_expires_at,
      next_attempt_at: crashedBefore.next_attempt_at,
    });
    // The stopped render's attempt was kept.
    expect(await certificateRow(t.sql, rendering)).toMatchObject({ status: 'rendering', attempt_count: 1 });

    // Generate takes each over at once; the stopped render counts once as a failed attempt.
    const shared = { metrics: recordingMetrics(), log: recordingLog() };
    for (const id of [accepted, retry, rendering]) {
      expect(
        await generateCertificate(makeGenerateDeps(t, markerRenderer, shared), generateOptions(), id),
      ).toMatchObject({ status: 'issued' });
    }
    expect(shared.metrics.counts).toMatchObject({ generated: 3, failed: 1, dead: 0 });
    expect(await certificateRow(t.sql, rendering)).toMatchObject({ status: 'issued', attempt_count: 2 });
    const takeovers = await t.sql<{ certificate_id: string; attempt: number }[]>`
      SELECT certificate_id, attempt FROM certificate_generation_log
      WHERE event = 'claimed' AND from_status = 'rendering'`;
    expect(takeovers).toEqual([{ certificate_id: rendering, attempt: 2 }]);

    // What the stopped worker would still do, had it survived, writes nothing.
    stopped.release();
    expect(await stoppedRun).toMatchObject({ status: 'skipped', reason: 'lease-lost' });

    // Nothing left to release: npm start then logs nothing.
    expect(await releaseStaleClaims(t.sql)).toEqual({ dispatched: 0, rendering: 0 });
  });
});
