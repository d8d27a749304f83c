import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { drainDue } from '../../lib/certificates/drain.ts';
import { type GenerateOutcome, generateCertificate } from '../../lib/certificates/generate.ts';
import { revokeCertificate } from '../../lib/certificates/lifecycle.ts';
import type { Dispatch, ScanOptions } from '../../lib/certificates/ports.ts';
import { runScan } from '../../lib/certificates/scan.ts';
import { createSql } from '../../lib/db/client.ts';
import { createS3Client } from '../../lib/storage/s3.ts';
import { type TestEnv, testEnvPerFile } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { pdfText } from '../support/pdf.ts';
import { readableStorage } from '../support/s3-objects.ts';
import { issuedCertificate } from './lifecycle-fixtures.ts';
import {
  createAttempt,
  createCourse,
  createPendingCertificate,
  generateOptions,
  listKeys,
  makeGenerateDeps,
  recordingLog,
  s3ConfigFor,
  stackRenderer,
} from './pipeline-fixtures.ts';

let t: TestEnv;
const renderer = stackRenderer();
const keycloak = keycloakControl(inject('stack').keycloakUrl);
const options = generateOptions();
const scanOptions: ScanOptions = { batchSize: 100, enqueueLimit: 1000, dispatchLeaseSeconds: 300 };

testEnvPerFile(
  (env) => {
    t = env;
  },
  [renderer],
);

/**
 * An in-process stand-in for the async Lambda invoke: it starts generation without waiting
 * (like InvocationType Event), `copies` times per call, and lets the test await everything.
 */
function inProcessDispatch(copies = 1) {
  const running: Promise<GenerateOutcome>[] = [];
  const calls: string[] = [];
  const deps = makeGenerateDeps(t, renderer);
  const dispatch: Dispatch = async (id) => {
    calls.push(id);
    for (let copy = 0; copy < copies; copy += 1) running.push(generateCertificate(deps, options, id));
  };
  return {
    dispatch,
    calls,
    deps,
    settled: async () => await Promise.all(running),
  };
}

async function certificatesOf(courseId: string) {
  return await t.sql`SELECT * FROM certificates WHERE course_id = ${courseId} ORDER BY created_at`;
}

describe('scan', () => {
  it('turns N passing attempts into N issued PDFs showing name, course, score and percentage', async () => {
    const courseId = await createCourse(t.sql, { title: 'Distributed Systems' });
    // One attempt out of 50, so the score, the maximum and the percentage are three different
    // numbers: a PDF printing the score as the maximum or as the percentage shows.
    const people = [
      { firstName: 'Edsger', lastName: 'Dijkstra', score: 91, maxScore: 100, percent: '91%' },
      { firstName: 'Leslie', lastName: 'Lamport', score: 77.5, maxScore: 100, percent: '77.5%' },
      { firstName: 'Nancy', lastName: 'Lynch', score: 100, maxScore: 100, percent: '100%' },
      { firstName: 'Barbara', lastName: 'Liskov', score: 45, maxScore: 50, percent: '90%' },
    ];
    const students = [];
    for (const person of people) {
      const user = await keycloak.addUser({ firstName: person.firstName, lastName: person.lastName });
      await createAttempt(t.sql, {
        studentId: user.id,
        courseId,
        score: person.score,
        maxScore: person.maxScore,
      });
      students.push({ ...person, id: user.id });
    }
    const fanOut = inProcessDispatch();
    const log = recordingLog();

    const result = await runScan({ sql: t.sql, dispatch: fanOut.dispatch, log }, scanOptions);
    expect(result).toMatchObject({ created: 4 });
    expect(result.dispatched).toHaveLength(4);
    const outcomes = await fanOut.settled();
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['issued', 'issued', 'issued', 'issued']);

    const rows = await certificatesOf(courseId);
    expect(rows).toHaveLength(4);
    const storage = readableStorage(createS3Client(s3ConfigFor(t)), t.bucket);
    for (const person of students) {
      const row = rows.find((candidate) => candidate.student_id === person.id);
      expect(row?.status).toBe('issued');
      const text = await pdfText(await storage.getObject(row?.s3_key));
      expect(text).toContain(`${person.firstName} ${person.lastName}`);
      expect(text).toContain('Distributed Systems');
      // The score line reads "45 / 50 (90%)"; compared without the layout's spacing.
      const squashed = text.replace(/\s+/g, '');
      expect(squashed).toContain(`${person.score}/${person.maxScore}(${person.percent})`);
    }
    const liskov = students.find((person) => person.maxScore === 50);
    const liskovRow = rows.find((candidate) => candidate.student_id === liskov?.id);
    const liskovText = (await pdfText(await storage.getObject(liskovRow?.s3_key))).replace(/\s+/g, '');
    expect(liskovText).toContain('45/50');
    expect(liskovText).toContain('90%');
    expect(liskovText).not.toContain('45%');
    expect(liskovText).not.toContain('45/45');
    // Each tick reports the generations finished since the previous tick (the guide's line).
    const next = await runScan({ sql: t.sql, dispatch: fanOut.dispatch, log }, scanOptions);
    expect(next).toMatchObject({ created: 0, dispatched: [] });
    const summaries = log.entries
      .map((entry) =>
        entry.message.match(/^Certificate generation completed: generated=(\d+), failed=(\d+)$/),
      )
      .filter((match) => match !== null);
    expect(summaries).toHaveLength(2);
    expect(summaries.reduce((sum, match) => sum + Number(match[1]), 0)).toBe(4);
    expect(summaries.map((match) => match[2])).toEqual(['0', '0']);
  });

  it('creates nothing for failing attempts', async () => {
    const courseId = await createCourse(t.sql);
    for (let index = 0; index < 3; index += 1) {
      await createAttempt(t.sql, { studentId: randomUUID(), courseId, score: 40, passed: false });
    }
    const fanOut = inProcessDispatch();
    const result = await runScan({ sql: t.sql, dispatch: fanOut.dispatch, log: recordingLog() }, scanOptions);
    expect(await certificatesOf(courseId)).toHaveLength(0);
    expect(fanOut.calls).toEqual([]);
    expect(result.created).toBe(0);
  });

  it('gives a student who passes the same course twice one certificate', async () => {
    const user = await keycloak.addUser({ firstName: 'Twice', lastName: 'Passed' });
    const courseId = await createCourse(t.sql);
    const first = await createAttempt(t.sql, { studentId: user.id, courseId, score: 80 });
    await createAttempt(t.sql, { studentId: user.id, courseId, score: 95 });
    const fanOut = inProcessDispatch();
    await runScan({ sql: t.sql, dispatch: fanOut.dispatch, log: recordingLog() }, scanOptions);
    await fanOut.settled();
    // A third pass after the first certificate was issued changes nothing either.
    await createAttempt(t.sql, { studentId: user.id, courseId, score: 99 });
    await runScan({ sql: t.sql, dispatch: fanOut.dispatch, log: recordingLog() }, scanOptions);
    await fanOut.settled();

    const rows = await certificatesOf(courseId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ test_attempt_id: first, status: 'issued' });
    const [{ unscanned } = { unscanned: -1 }] = await t.sql<
      { unscanned: number }[]
    >`SELECT count(*)::int AS unscanned FROM test_attempts
                                        WHERE course_id = ${courseId} AND certificate_enqueued_at IS NULL`;
    expect(unscanned).toBe(0);
  });

  it('issues exactly one certificate per attempt with three scans at once and every invocation doubled', async () => {
    const courseId = await createCourse(t.sql, { title: 'Concurrency' });
    const attempts: string[] = [];
    for (let index = 0; index < 12; index += 1) {
      const user = await keycloak.addUser({ firstName: `Student${index}`, lastName: 'Parallel' });
      attempts.push(await createAttempt(t.sql, { studentId: user.id, courseId, score: 85 }));
    }
    const fanOut = inProcessDispatch(2);
    const scans = await Promise.all(
      [0, 1, 2].map(() =>
        runScan(
          { sql: t.sql, dispatch: fanOut.dispatch, log: recordingLog() },
          { ...scanOptions, batchSize: 5 },
        ),
      ),
    );
    // Scans compete for the same rows: each attempt is enqueued by exactly one of them.
    expect(scans.reduce((sum, scan) => sum + scan.created, 0)).toBe(12);
    await fanOut.settled();
    // Whatever the first round did not cover (batch of 5 per scan) the next ticks do.
    for (let tick = 0; tick < 5; tick += 1) {
      await Promise.all(
        [0, 1, 2].map(() =>
          runScan(
            { sql: t.sql, dispatch: fanOut.dispatch, log: recordingLog() },
            { ...scanOptions, batchSize: 5 },
          ),
        ),
      );
      await fanOut.settled();
    }

    const rows = await certificatesOf(courseId);
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((row) => row.test_attempt_id))).toEqual(new Set(attempts));
    expect(rows.filter((row) => !(row.status === 'issued' && row.attempt_count === 1))).toEqual([]);
    // Every dispatch was doubled, yet each certificate was claimed and issued once.
    expect(new Set(fanOut.calls).size).toBe(12);
    expect(fanOut.calls).toHaveLength(12);
    const [{ issued, claimed } = { issued: -1, claimed: -1 }] = await t.sql<
      { issued: number; claimed: number }[]
    >`
      SELECT count(*) FILTER (WHERE l.event = 'issued')::int AS issued,
             count(*) FILTER (WHERE l.event = 'claimed')::int AS claimed
      FROM certificate_generation_log l JOIN certificates c ON c.id = l.certificate_id
      WHERE c.course_id = ${courseId}`;
    expect({ issued, claimed }).toEqual({ issued: 12, claimed: 12 });
    // Each row names who wrote it: the scan created the certificate, generate claimed and issued it.
    const actors = await t.sql<{ event: string; actor: string | null; rows: number }[]>`
      SELECT l.event, l.actor, count(*)::int AS rows
      FROM certificate_generation_log l JOIN certificates c ON c.id = l.certificate_id
      WHERE c.course_id = ${courseId} GROUP BY 1, 2 ORDER BY 1, 2`;
    expect(actors).toEqual([
      { event: 'claimed', actor: 'generate', rows: 12 },
      { event: 'created', actor: 'scan', rows: 12 },
      { event: 'issued', actor: 'generate', rows: 12 },
    ]);
    const keys = (await listKeys(t)).filter((key) => key.startsWith(`certificates/${courseId}/`));
    expect(keys).toHaveLength(12);
  });

  it('issues a new certificate exactly once for later passes after a revocation, with three scans at once', async () => {
    const user = await keycloak.addUser({ firstName: 'Second', lastName: 'Chance' });
    const courseId = await createCourse(t.sql, { title: 'Ethics' });
    const revoked = await issuedCertificate(t.sql, { studentId: user.id, courseId });
    await revokeCertificate(
      { sql: t.sql, log: recordingLog() },
      { certificateId: revoked.id, reasonCode: 'attempt-invalidated', actor: 'staff' },
    );
    const retake = await createAttempt(t.sql, { studentId: user.id, courseId, score: 91 });
    const another = await createAttempt(t.sql, { studentId: user.id, courseId, score: 95 });
    const fanOut = inProcessDispatch(2);

    await Promise.all(
      [0, 1, 2].map(() =>
        runScan({ sql: t.sql, dispatch: fanOut.dispatch, log: recordingLog() }, scanOptions),
      ),
    );
    // The next tick, once the new certificate is issued: a scan that found the later pass while
    // another held the earlier one left it for now (see the next test), and one recorded against
    // the new certificate while it was pending (`in-progress`) is decided again now that it is
    // issued.
    await fanOut.settled();
    await runScan({ sql: t.sql, dispatch: fanOut.dispatch, log: recordingLog() }, scanOptions);
    await fanOut.settled();

    const rows = await certificatesOf(courseId);
    expect(rows.map((row) => [row.id === revoked.id ? 'old' : 'new', row.status])).toEqual([
      ['old', 'revoked'],
      ['new', 'issued'],
    ]);
    const fresh = rows[1];
    expect(fresh).toMatchObject({ test_attempt_id: retake, attempt_count: 1 });
    expect(fanOut.calls).toEqual([fresh?.id]);
    const keys = (await listKeys(t)).filter((key) => key.startsWith(`certificates/${courseId}/`));
    expect(keys).toEqual([`certificates/${courseId}/${user.id}/${fresh?.id}.pdf`]);
    // The earlier retake got it through the scan's own insert (nothing live blocked it); the
    // later one, whose insert did nothing, was decided by the later-pass rule exactly once.
    const attempts = await t.sql<{ id: string; later_pass_outcome: string | null; enqueued: boolean }[]>`
      SELECT id, later_pass_outcome, certificate_enqueued_at IS NOT NULL AS enqueued
      FROM test_attempts WHERE id IN (${retake}, ${another})`;
    expect(attempts.every((attempt) => attempt.enqueued)).toBe(true);
    expect(attempts.find((attempt) => attempt.id === retake)?.later_pass_outcome).toBeNull();
    expect(attempts.find((attempt) => attempt.id === another)?.later_pass_outcome).toBe('already-certified');
    const audit = await t.sql<{ event: string; details: Record<string, unknown> }[]>`
      SELECT event, details FROM certificate_generation_log
      WHERE certificate_id = ${fresh?.id} AND event IN ('created', 'later-pass') ORDER BY id`;
    // Decided at once, or first `in-progress` (the new certificate still pending) and then again.
    const laterPass = (rule: string) => ({
      event: 'later-pass',
      details: expect.objectContaining({ test_attempt_id: another, rule }),
    });
    expect([
      [laterPass('already-certified')],
      [laterPass('in-progress'), laterPass('already-certified')],
    ]).toContainEqual(audit.slice(1));
    expect(audit[0]).toEqual({
      event: 'created',
      details: expect.objectContaining({ test_attempt_id: retake }),
    });
  });

  it('leaves a later pass alone while another scan holds the earlier one, which gets the certificate', async () => {
    const user = await keycloak.addUser({ firstName: 'Held', lastName: 'Earlier' });
    const courseId = await createCourse(t.sql);
    const earlier = await createAttempt(t.sql, { studentId: user.id, courseId, score: 81 });
    const later = await createAttempt(t.sql, { studentId: user.id, courseId, score: 99 });
    const fanOut = inProcessDispatch();
    const scan = () => runScan({ sql: t.sql, dispatch: fanOut.dispatch, log: recordingLog() }, scanOptions);
    const outcome = async (id: string) =>
      (
        await t.sql<{ enqueued: boolean; later_pass_outcome: string | null }[]>`
          SELECT certificate_enqueued_at IS NOT NULL AS enqueued, later_pass_outcome FROM test_attempts WHERE id = ${id}`
      )[0];

    // Another scan's enqueue holds the earlier attempt (its row lock), not yet committed.
    await t.sql.begin(async (tx) => {
      await tx`SELECT id FROM test_attempts WHERE id = ${earlier} FOR UPDATE`;
      await scan();
      expect(await certificatesOf(courseId)).toEqual([]);
      expect(await outcome(later)).toEqual({ enqueued: false, later_pass_outcome: null });
    });
    await scan(); // the earlier attempt's certificate
    await scan(); // the later pass, decided now that it exists
    await fanOut.settled();

    const rows = await certificatesOf(courseId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ test_attempt_id: earlier, status: 'issued' });
    expect(await outcome(earlier)).toEqual({ enqueued: true, later_pass_outcome: null });
    expect(['in-progress', 'already-certified']).toContain((await outcome(later))?.later_pass_outcome);
  });

  it('surfaces a later pass blocked by a dead certificate to staff instead of dropping it', async () => {
    const studentId = randomUUID();
    const courseId = await createCourse(t.sql);
    const dead = await createPendingCertificate(t.sql, { studentId, courseId });
    await t.sql`UPDATE certificates SET status = 'dead', last_error = 'keycloak: user not found' WHERE id = ${dead}`;
    const retake = await createAttempt(t.sql, { studentId, courseId, score: 88 });
    const fanOut = inProcessDispatch();

    await runScan({ sql: t.sql, dispatch: fanOut.dispatch, log: recordingLog() }, scanOptions);
    await runScan({ sql: t.sql, dispatch: fanOut.dispatch, log: recordingLog() }, scanOptions);

    expect((await certificatesOf(courseId)).map((row) => row.status)).toEqual(['dead']);
    expect(fanOut.calls).toEqual([]);
    const blocked = await t.sql<{ event: string; details: Record<string, unknown> }[]>`
      SELECT event, details FROM certificate_generation_log WHERE certificate_id = ${dead} AND event = 'later-pass-blocked'`;
    expect(blocked).toEqual([
      { event: 'later-pass-blocked', details: expect.objectContaining({ test_attempt_id: retake }) },
    ]);
    const [attempt] = await t.sql<{ later_pass_outcome: string }[]>`
      SELECT later_pass_outcome FROM test_attempts WHERE id = ${retake}`;
    expect(attempt?.later_pass_outcome).toBe('staff-review');
  });

  it('releases a certificate whose invoke failed so the next scan hands it out again', async () => {
    const user = await keycloak.addUser({ firstName: 'Retry', lastName: 'Dispatch' });
    const courseId = await createCourse(t.sql);
    await createAttempt(t.sql, { studentId: user.id, courseId, score: 90 });
    const log = recordingLog();
    const failing: Dispatch = async () => {
      throw new Error('Lambda throttled');
    };
    const first = await runScan({ sql: t.sql, dispatch: failing, log }, scanOptions);
    expect(first.failed).toHaveLength(1);
    const [row] = await certificatesOf(courseId);
    expect(row?.dispatched_until).toBeNull();

    const fanOut = inProcessDispatch();
    const second = await runScan({ sql: t.sql, dispatch: fanOut.dispatch, log }, scanOptions);
    expect(second.dispatched).toEqual([row?.id]);
    await fanOut.settled();
    expect((await certificatesOf(courseId))[0]?.status).toBe('issued');
  });

  it('does not hand out a certificate again while its dispatch lease runs', async () => {
    const user = await keycloak.addUser({ firstName: 'Lease', lastName: 'Holder' });
    const courseId = await createCourse(t.sql);
    await createAttempt(t.sql, { studentId: user.id, courseId, score: 90 });
    const calls: string[] = [];
    const lost: Dispatch = async (id) => {
      calls.push(id); // invoked, but the worker never ran (e.g. throttled and dropped)
    };
    await runScan({ sql: t.sql, dispatch: lost, log: recordingLog() }, scanOptions);
    await runScan({ sql: t.sql, dispatch: lost, log: recordingLog() }, scanOptions);
    expect(calls).toHaveLength(1);
    // Once the dispatch lease has run out the scan tries again.
    await t.sql`UPDATE certificates SET dispatched_until = now() - interval '1 second' WHERE course_id = ${courseId}`;
    await runScan({ sql: t.sql, dispatch: lost, log: recordingLog() }, scanOptions);
    expect(calls).toHaveLength(2);
  });

  it('drain reports a database failure while claiming instead of hanging', async () => {
    const unreachable = createSql({
      DATABASE_URL: 'postgres://nobody:nothing@127.0.0.1:1/none',
      DB_POOL_MAX: 1,
      DB_CONNECT_TIMEOUT_SECONDS: 2,
    });
    const generated: string[] = [];
    await expect(
      drainDue(
        {
          sql: unreachable,
          generate: async (id) => {
            generated.push(id);
            return { status: 'skipped', certificateId: id, reason: 'not-claimable' };
          },
          log: recordingLog(),
        },
        { batchSize: 10, concurrency: 3, dispatchLeaseSeconds: 300 },
      ),
    ).rejects.toThrow(/ECONNREFUSED|connect/);
    expect(generated).toEqual([]);
    await unreachable.end();
  });

  it('drains every due certificate in-process and reports the outcomes', async () => {
    const courseId = await createCourse(t.sql, { title: 'Drain' });
    for (let index = 0; index < 5; index += 1) {
      const user = await keycloak.addUser({ firstName: `Drain${index}`, lastName: 'Student' });
      await createAttempt(t.sql, { studentId: user.id, courseId, score: 90 });
    }
    await createAttempt(t.sql, { studentId: randomUUID(), courseId, score: 90 }); // unknown to Keycloak
    const deps = makeGenerateDeps(t, renderer);
    const log = recordingLog();
    const result = await drainDue(
      { sql: t.sql, generate: (id) => generateCertificate(deps, options, id), log },
      { batchSize: 2, concurrency: 2, dispatchLeaseSeconds: 300, enqueueLimit: 2 },
    );
    expect(result).toMatchObject({ generated: 5, failed: 0, dead: 1, skipped: 0 });
    expect(result.durationsMs).toHaveLength(6);
    expect(log.entries.at(-1)?.message).toBe('Certificate generation completed: generated=5, failed=1');
    expect(log.entries.at(-1)?.fields).toMatchObject({ generated: 5, failed: 1, retrying: 0, dead: 1 });
    const rows = await certificatesOf(courseId);
    expect(rows.map((row) => row.status).sort()).toEqual([
      'dead',
      'issued',
      'issued',
      'issued',
      'issued',
      'issued',
    ]);
  });
  it('stops invoking after a failed invoke: the rest of the batch is released unattempted for the next scan', async () => {
    const courseId = await createCourse(t.sql);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(await createPendingCertificate(t.sql, { studentId: randomUUID(), courseId }));
    let invoked = 0;
    const unreachable: Dispatch = async () => {
      invoked += 1;
      throw new Error('connect ETIMEDOUT');
    };
    const result = await runScan(
      { sql: t.sql, dispatch: unreachable, log: recordingLog() },
      { ...scanOptions, dispatchConcurrency: 1 },
    );
    expect(invoked).toBe(1);
    expect(result.dispatched).toEqual([]);
    expect([...result.failed].sort()).toEqual(expect.arrayContaining([...ids].sort()));
    const held = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificates WHERE id = ANY(${ids}::uuid[]) AND dispatched_until IS NOT NULL`;
    expect(held[0]?.n).toBe(0);
    // Not left for the tests after this one to count.
    await t.sql`UPDATE certificates SET status = 'dead' WHERE id = ANY(${ids}::uuid[])`;
  });
});
