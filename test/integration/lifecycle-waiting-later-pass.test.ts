import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import {
  applyLaterPassRule,
  redecideWaitingLaterPasses,
  revokeCertificate,
} from '../../lib/certificates/lifecycle.ts';
import { recordAttempt } from '../../lib/certificates/record-attempt.ts';
import { CLAIM_STOP_MARGIN_MS, runScan } from '../../lib/certificates/scan.ts';
import type { Sql } from '../../lib/db/client.ts';
import type { TestEnv } from '../support/env.ts';
import { gate } from '../support/gate.ts';
import {
  createAttempt,
  createCourse,
  createPendingCertificate,
  generateOptions,
  makeGenerateDeps,
  pipelineTestFile,
} from './pipeline-fixtures.ts';

// Audit s12 finding 2: a later pass decided while the student's certificate was still waiting
// (pending, rendering, failed) is `in-progress` only until that certificate is settled; the scan
// then decides it again, so the outcome no longer depends on whether generation had finished.

let t: TestEnv;
const { renderer, keycloak, log } = pipelineTestFile((env) => {
  t = env;
});

// Ingestion as the API runs it, with the generation budget full: nothing is invoked, so the first
// certificate is still pending when the retake is decided.
const ingestion = { dispatch: async () => undefined, log };
const budgetFull = { dispatchLeaseSeconds: 300, maxInFlight: 0 };

async function record(courseId: string, studentId: string, score: number, completedAt?: Date) {
  return await recordAttempt({ sql: t.sql, ...ingestion }, budgetFull, {
    studentId,
    courseId,
    score,
    maxScore: 100,
    ...(completedAt ? { completedAt: completedAt.toISOString() } : {}),
  });
}

async function generate(certificateId: string): Promise<void> {
  const outcome = await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), certificateId);
  expect(outcome.status).toBe('issued');
}

/**
 * A student's retake recorded while their first certificate was still pending (so decided
 * `in-progress`), and that certificate issued since: the retake waits for a scan to decide it again.
 */
async function retakeBehindIssued(
  courseId: string,
  name: { firstName: string; lastName: string },
  scores: { first: number; retake: number },
) {
  const student = await keycloak.addUser(name);
  const first = await record(courseId, student.id, scores.first, new Date(Date.now() - 60_000));
  const retake = await record(courseId, student.id, scores.retake);
  expect(await outcomeOf(retake.attempt.id)).toBe('in-progress');
  await generate(first.certificate?.id ?? '');
  return { student, first, retake };
}

async function outcomeOf(attemptId: string): Promise<string | null> {
  const [row] = await t.sql<{ later_pass_outcome: string | null }[]>`
    SELECT later_pass_outcome FROM test_attempts WHERE id = ${attemptId}`;
  return row?.later_pass_outcome ?? null;
}

/** Everything a second run could change: certificates, audit rows, outbox rows, attempt outcomes. */
async function snapshot(sql: Sql, studentId: string) {
  return await sql`
    SELECT (SELECT json_agg(json_build_object('id', id, 'status', status, 'updated_at', updated_at) ORDER BY id)
              FROM certificates WHERE student_id = ${studentId}) AS certificates,
           (SELECT count(*)::int FROM certificate_generation_log l JOIN certificates c ON c.id = l.certificate_id
              WHERE c.student_id = ${studentId}) AS audit_rows,
           (SELECT count(*)::int FROM webhook_outbox o JOIN certificates c ON c.id = o.certificate_id
              WHERE c.student_id = ${studentId}) AS events,
           (SELECT json_agg(json_build_object('id', id, 'outcome', later_pass_outcome, 'at', later_pass_at) ORDER BY id)
              FROM test_attempts WHERE student_id = ${studentId}) AS attempts`;
}

async function betterScoreCourse(): Promise<string> {
  const courseId = await createCourse(t.sql);
  await t.sql`UPDATE courses SET reissue_on_better_score = true WHERE id = ${courseId}`;
  return courseId;
}

describe('redecideWaitingLaterPasses', () => {
  it('is run by every scan: the waiting retake is decided on the tick after the first certificate is issued', async () => {
    const courseId = await betterScoreCourse();
    const { retake } = await retakeBehindIssued(
      courseId,
      { firstName: 'Katherine', lastName: 'Johnson' },
      { first: 71, retake: 95 },
    );

    const dispatched: string[] = [];
    await runScan(
      {
        sql: t.sql,
        dispatch: async (id) => {
          dispatched.push(id);
        },
        log,
      },
      { batchSize: 10, enqueueLimit: 100, dispatchLeaseSeconds: 300 },
    );
    expect(await outcomeOf(retake.attempt.id)).toBe('reissued-better-score');
    const [successor] = await t.sql<{ id: string }[]>`
      SELECT id FROM certificates WHERE test_attempt_id = ${retake.attempt.id}`;
    // Created by the scan's rule and handed out by the same tick.
    expect(dispatched).toContain(successor?.id);
  });

  it('a scan with no time left before its claim margin decides no later pass, enqueued or waiting; the next scan does', async () => {
    const courseId = await betterScoreCourse();
    // A retake waiting behind a certificate issued since, for the scan to decide again.
    const { retake: waiting } = await retakeBehindIssued(
      courseId,
      { firstName: 'Ada', lastName: 'Lovelace' },
      { first: 71, retake: 95 },
    );
    // A retake the LMS wrote straight to the table, for the scan's enqueue to find.
    const alan = await keycloak.addUser({ firstName: 'Alan', lastName: 'Turing' });
    const alanFirst = await record(courseId, alan.id, 71, new Date(Date.now() - 60_000));
    await generate(alanFirst.certificate?.id ?? '');
    const unscanned = await createAttempt(t.sql, { studentId: alan.id, courseId, score: 96 });

    const scan = (deadline?: number) =>
      runScan(
        { sql: t.sql, dispatch: async () => undefined, log },
        { batchSize: 10, enqueueLimit: 100, dispatchLeaseSeconds: 300, ...(deadline ? { deadline } : {}) },
      );
    await scan(Date.now() + CLAIM_STOP_MARGIN_MS - 1000);
    expect(await outcomeOf(waiting.attempt.id)).toBe('in-progress');
    expect(await outcomeOf(unscanned)).toBeNull();
    const [left] = await t.sql<{ certificate_enqueued_at: Date | null }[]>`
      SELECT certificate_enqueued_at FROM test_attempts WHERE id = ${unscanned}`;
    expect(left?.certificate_enqueued_at).toBeNull();

    await scan();
    expect(await outcomeOf(waiting.attempt.id)).toBe('reissued-better-score');
    expect(await outcomeOf(unscanned)).toBe('reissued-better-score');
  });

  it('reissues for a better retake made while the first certificate was pending, once that one is issued', async () => {
    const courseId = await betterScoreCourse();
    const student = await keycloak.addUser({ firstName: 'Grace', lastName: 'Hopper' });
    const first = await record(courseId, student.id, 71, new Date(Date.now() - 60_000));
    const c1 = first.certificate?.id ?? '';
    const retake = await record(courseId, student.id, 95);
    expect(await outcomeOf(retake.attempt.id)).toBe('in-progress');

    // While C1 is still pending there is nothing to decide yet.
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 0, created: 0 });
    expect(await outcomeOf(retake.attempt.id)).toBe('in-progress');

    await generate(c1);
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 1, created: 1 });

    expect(await outcomeOf(retake.attempt.id)).toBe('reissued-better-score');
    // C1 stays issued until its replacement is.
    const [old] = await t.sql<{ status: string }[]>`SELECT status FROM certificates WHERE id = ${c1}`;
    expect(old?.status).toBe('issued');
    const [next] = await t.sql<{ id: string; test_attempt_id: string; notify: boolean }[]>`
      SELECT id, test_attempt_id, notify FROM certificates WHERE replaces = ${c1}`;
    expect(next).toMatchObject({ test_attempt_id: retake.attempt.id, notify: true });
    const successor = next?.id ?? '';

    await generate(successor);
    // The rule's own audit rows, as when the retake is decided after C1 was issued; C1 superseded
    // by the issue of its replacement, in the rule's name.
    const audit = await t.sql`
      SELECT certificate_id, event, actor, details->>'rule' AS rule FROM certificate_generation_log
      WHERE certificate_id IN (${c1}, ${successor})
        AND event IN ('superseded', 'created', 'later-pass', 'reissue-requested')
      ORDER BY id`;
    expect(audit).toEqual([
      { certificate_id: c1, event: 'created', actor: 'ingestion', rule: null },
      { certificate_id: c1, event: 'later-pass', actor: 'ingestion', rule: 'in-progress' },
      { certificate_id: c1, event: 'reissue-requested', actor: 'scan', rule: 'reissued-better-score' },
      { certificate_id: successor, event: 'created', actor: 'scan', rule: 'reissued-better-score' },
      { certificate_id: c1, event: 'superseded', actor: 'scan', rule: 'reissued-better-score' },
    ]);

    const live = await t.sql`
      SELECT id, status, score::float, percentage::float FROM certificates
      WHERE student_id = ${student.id} AND status NOT IN ('revoked', 'superseded')`;
    expect(live).toEqual([{ id: successor, status: 'issued', score: 95, percentage: 95 }]);

    const before = await snapshot(t.sql, student.id);
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 0, created: 0 });
    expect(await snapshot(t.sql, student.id)).toEqual(before);
  });

  it('records a retake that is not better as already-certified once the first is issued, and only once', async () => {
    const courseId = await betterScoreCourse();
    const student = await keycloak.addUser({ firstName: 'Alan', lastName: 'Turing' });
    const first = await record(courseId, student.id, 71, new Date(Date.now() - 60_000));
    const c1 = first.certificate?.id ?? '';
    const retake = await record(courseId, student.id, 71);
    expect(await outcomeOf(retake.attempt.id)).toBe('in-progress');

    await generate(c1);
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 1, created: 0 });
    expect(await outcomeOf(retake.attempt.id)).toBe('already-certified');
    const certificates = await t.sql`SELECT id, status FROM certificates WHERE student_id = ${student.id}`;
    expect(certificates).toEqual([{ id: c1, status: 'issued' }]);
    const notes = await t.sql`
      SELECT details->>'rule' AS rule, details->>'test_attempt_id' AS attempt FROM certificate_generation_log
      WHERE certificate_id = ${c1} AND event = 'later-pass' ORDER BY id`;
    expect(notes).toEqual([
      { rule: 'in-progress', attempt: retake.attempt.id },
      { rule: 'already-certified', attempt: retake.attempt.id },
    ]);

    const before = await snapshot(t.sql, student.id);
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 0, created: 0 });
    expect(await snapshot(t.sql, student.id)).toEqual(before);
  });

  it('decides a waiting attempt once when two scans picked it: the later one finds it decided', async () => {
    const courseId = await betterScoreCourse();
    const { student, retake } = await retakeBehindIssued(
      courseId,
      { firstName: 'Ada', lastName: 'King' },
      { first: 72, retake: 90 },
    );

    // Scan A reads its candidates, then stops before deciding; scan B decides meanwhile.
    const paused = gate();
    const slowSql = new Proxy(t.sql, {
      get(target, property, receiver) {
        if (property !== 'begin') return Reflect.get(target, property, receiver);
        return async (...args: Parameters<Sql['begin']>) => {
          await paused.wait();
          return await target.begin(...args);
        };
      },
    });
    const scanA = redecideWaitingLaterPasses({ sql: slowSql, log });
    await paused.reached;
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 1, created: 1 });
    paused.open();
    expect(await scanA).toEqual({ decided: 0, created: 0 });

    expect(await outcomeOf(retake.attempt.id)).toBe('reissued-better-score');
    const rows =
      await t.sql`SELECT status FROM certificates WHERE student_id = ${student.id} ORDER BY created_at`;
    // One replacement, waiting; the original stays issued until it is.
    expect(rows.map((r) => r.status)).toEqual(['issued', 'pending']);
  });

  it('skips, without waiting, an attempt whose student and course another decision holds', async () => {
    const courseId = await createCourse(t.sql);
    const studentId = randomUUID();
    const waiting = await createPendingCertificate(t.sql, { studentId, courseId });
    const attemptId = await createAttempt(t.sql, { studentId, courseId, score: 90 });
    await applyLaterPassRule({ sql: t.sql, log }, { attemptId });
    await t.sql`UPDATE certificates SET status = 'dead', last_error = 'gone' WHERE id = ${waiting}`;
    const warnings = log.entries.filter((e) => e.level === 'warn').length;

    // The lock applyLaterPassRule takes, held as ingestion deciding another attempt would.
    await t.sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`later-pass:${studentId}:${courseId}`}, 0))`;
      expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 0, created: 0 });
    });
    expect(log.entries.filter((e) => e.level === 'warn')).toHaveLength(warnings);
    expect(await outcomeOf(attemptId)).toBe('in-progress');
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 1, created: 0 });
    expect(await outcomeOf(attemptId)).toBe('staff-review');
  });

  it('sends an attempt waiting on a certificate that died to staff review', async () => {
    const courseId = await createCourse(t.sql);
    const studentId = randomUUID();
    const waiting = await createPendingCertificate(t.sql, { studentId, courseId });
    const attemptId = await createAttempt(t.sql, { studentId, courseId, score: 90 });
    expect((await applyLaterPassRule({ sql: t.sql, log }, { attemptId })).outcome).toBe('in-progress');

    await t.sql`UPDATE certificates SET status = 'dead', last_error = 'student deleted' WHERE id = ${waiting}`;
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 1, created: 0 });

    expect(await outcomeOf(attemptId)).toBe('staff-review');
    const blocked = await t.sql`
      SELECT actor FROM certificate_generation_log WHERE certificate_id = ${waiting} AND event = 'later-pass-blocked'`;
    expect(blocked).toEqual([{ actor: 'scan' }]);
  });

  it('leaves an attempt waiting on a certificate that failed and awaits its retry for later, without deciding it again', async () => {
    // A failed certificate is still being issued. Deciding the attempt on every scan tick while the
    // retry waits would add a later-pass audit row and count the attempt as decided each time.
    const courseId = await createCourse(t.sql);
    const studentId = randomUUID();
    const waiting = await createPendingCertificate(t.sql, { studentId, courseId });
    await t.sql`UPDATE certificates SET status = 'failed', last_error = 'renderer timed out' WHERE id = ${waiting}`;
    const attemptId = await createAttempt(t.sql, { studentId, courseId, score: 95 });
    expect((await applyLaterPassRule({ sql: t.sql, log }, { attemptId })).outcome).toBe('in-progress');

    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 0, created: 0 });
    expect(await outcomeOf(attemptId)).toBe('in-progress');
    const notes = await t.sql`
      SELECT details->>'rule' AS rule FROM certificate_generation_log
      WHERE certificate_id = ${waiting} AND event = 'later-pass'`;
    expect(notes).toEqual([{ rule: 'in-progress' }]);
  });

  it('gives an attempt waiting on a certificate that was issued and then revoked a new certificate', async () => {
    const courseId = await createCourse(t.sql);
    const student = await keycloak.addUser({ firstName: 'Barbara', lastName: 'Liskov' });
    const first = await record(courseId, student.id, 80, new Date(Date.now() - 60_000));
    const c1 = first.certificate?.id ?? '';
    const retake = await record(courseId, student.id, 85);
    expect(await outcomeOf(retake.attempt.id)).toBe('in-progress');
    await generate(c1);
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: c1, reasonCode: 'attempt-invalidated', actor: 'staff' },
    );

    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 1, created: 1 });
    expect(await outcomeOf(retake.attempt.id)).toBe('issued-after-revocation');
    const live = await t.sql`
      SELECT test_attempt_id, status FROM certificates
      WHERE student_id = ${student.id} AND status NOT IN ('revoked', 'superseded')`;
    expect(live).toEqual([{ test_attempt_id: retake.attempt.id, status: 'pending' }]);
  });

  it('decides a silent (backfill) attempt again silently', async () => {
    const courseId = await betterScoreCourse();
    const student = await keycloak.addUser({ firstName: 'Edsger', lastName: 'Dijkstra' });
    const c1 = await createPendingCertificate(t.sql, { studentId: student.id, courseId, score: 75 });
    const attemptId = await createAttempt(t.sql, { studentId: student.id, courseId, score: 88 });
    const first = await applyLaterPassRule({ sql: t.sql, log }, { attemptId, notify: false });
    expect(first.outcome).toBe('in-progress');

    await generate(c1);
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 1, created: 1 });

    expect(await outcomeOf(attemptId)).toBe('reissued-better-score');
    const [successor] = await t.sql`SELECT notify FROM certificates WHERE test_attempt_id = ${attemptId}`;
    expect(successor).toEqual({ notify: false });
  });

  it('looks at no more attempts per call than its limit', async () => {
    const courseId = await createCourse(t.sql);
    const attempts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const studentId = randomUUID();
      const waiting = await createPendingCertificate(t.sql, { studentId, courseId });
      const attemptId = await createAttempt(t.sql, { studentId, courseId, score: 90 });
      await applyLaterPassRule({ sql: t.sql, log }, { attemptId });
      await t.sql`UPDATE certificates SET status = 'dead', last_error = 'gone' WHERE id = ${waiting}`;
      attempts.push(attemptId);
    }
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log }, { limit: 2 })).toEqual({
      decided: 2,
      created: 0,
    });
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log }, { limit: 2 })).toEqual({
      decided: 1,
      created: 0,
    });
    for (const attemptId of attempts) expect(await outcomeOf(attemptId)).toBe('staff-review');
  });
});
