import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import { revokeCertificate } from '../../lib/certificates/lifecycle.ts';
import type { Dispatch } from '../../lib/certificates/ports.ts';
import { recordAttempt } from '../../lib/certificates/record-attempt.ts';
import { runScan } from '../../lib/certificates/scan.ts';
import { ConflictError, ValidationError } from '../../lib/errors.ts';
import type { TestEnv } from '../support/env.ts';
import {
  certificateRow,
  createCourse,
  generateOptions,
  makeGenerateDeps,
  pipelineTestFile,
  recordingLog,
} from './pipeline-fixtures.ts';

let t: TestEnv;
const { renderer, keycloak } = pipelineTestFile((env) => {
  t = env;
});
const options = { dispatchLeaseSeconds: 300 };

/** A certificate marked issued as generate leaves it (without a render). */
async function markIssued(certificateId: string): Promise<void> {
  await t.sql`
    UPDATE certificates
    SET status = 'issued', generated_at = now(), s3_key = ${`certificates/${certificateId}.pdf`},
        pdf_sha256 = ${'0'.repeat(64)}, issued_on = current_date, student_name = 'Ada Lovelace',
        course_name = 'Course'
    WHERE id = ${certificateId}`;
}

function recordingDispatch() {
  const calls: string[] = [];
  const dispatch: Dispatch = async (id) => {
    calls.push(id);
  };
  return { calls, dispatch };
}

describe('recordAttempt (immediate trigger)', () => {
  it('records a passing attempt, creates its pending certificate and invokes generation at once', async () => {
    const courseId = await createCourse(t.sql, { passPercentage: 70 });
    const studentId = randomUUID();
    const { calls, dispatch } = recordingDispatch();

    const result = await recordAttempt({ sql: t.sql, dispatch, log: recordingLog() }, options, {
      studentId,
      courseId,
      score: 7,
      maxScore: 10,
    });

    expect(result).toMatchObject({
      created: true,
      dispatched: true,
      attempt: {
        studentId,
        courseId,
        score: 7,
        maxScore: 10,
        percentage: 70,
        passed: true,
        passPercentage: 70,
      },
      certificate: { status: 'pending', created: true },
    });
    expect(calls).toEqual([result.certificate?.id]);
    const [attempt] =
      await t.sql`SELECT passed, certificate_enqueued_at FROM test_attempts WHERE id = ${result.attempt.id}`;
    expect(attempt?.passed).toBe(true);
    expect(attempt?.certificate_enqueued_at).toBeInstanceOf(Date);
    const audit = await t.sql`
      SELECT event, actor FROM certificate_generation_log WHERE certificate_id = ${result.certificate?.id ?? null}`;
    expect(audit).toEqual([{ event: 'created', actor: 'ingestion' }]);
    // The scan leaves a freshly dispatched certificate to its worker.
    const scanCalls = recordingDispatch();
    await runScan(
      { sql: t.sql, dispatch: scanCalls.dispatch, log: recordingLog() },
      { batchSize: 100, enqueueLimit: 100, dispatchLeaseSeconds: 300 },
    );
    expect(scanCalls.calls).not.toContain(result.certificate?.id);
  });

  it('decides pass/fail against the course pass mark in exact arithmetic', async () => {
    const courseId = await createCourse(t.sql, { passPercentage: 66.67 });
    const { calls, dispatch } = recordingDispatch();
    const below = await recordAttempt({ sql: t.sql, dispatch, log: recordingLog() }, options, {
      studentId: randomUUID(),
      courseId,
      score: 2,
      maxScore: 3,
    });
    expect(below.attempt).toMatchObject({ passed: false, percentage: 66.67 });
    expect(below.certificate).toBeNull();
    expect(calls).toEqual([]);
    const [{ count } = { count: -1 }] = await t.sql<{ count: number }[]>`
      SELECT count(*)::int AS count FROM certificates WHERE course_id = ${courseId}`;
    expect(count).toBe(0);

    const atMark = await recordAttempt({ sql: t.sql, dispatch, log: recordingLog() }, options, {
      studentId: randomUUID(),
      courseId,
      score: 66.67,
      maxScore: 100,
    });
    expect(atMark.attempt.passed).toBe(true);
  });

  it('a score summed in floating point (69.99999999999999) is the two-decimal value it stores: a pass at the mark, and a resend is the same attempt', async () => {
    const courseId = await createCourse(t.sql, { passPercentage: 70 });
    const { calls, dispatch } = recordingDispatch();
    const deps = { sql: t.sql, dispatch, log: recordingLog() };
    const summed = 0.05 + 68.88 + 1.07;
    expect(summed).toBeLessThan(70);
    const input = {
      studentId: randomUUID(),
      courseId,
      score: summed,
      maxScore: 100,
      externalRef: `lms-${randomUUID()}`,
    };

    const first = await recordAttempt(deps, options, input);
    expect(first.attempt).toMatchObject({ score: 70, percentage: 70, passed: true });
    expect(first.certificate).toMatchObject({ status: 'pending', created: true });
    expect(calls).toEqual([first.certificate?.id]);

    // 0.1 + 0.2 is 0.30000000000000004: sent twice, the second is the first attempt, not a 409.
    const tiny = { ...input, score: 0.1 + 0.2, maxScore: 1, externalRef: `lms-${randomUUID()}` };
    const once = await recordAttempt(deps, options, tiny);
    const twice = await recordAttempt(deps, options, tiny);
    expect(twice).toMatchObject({ created: false, attempt: { id: once.attempt.id, score: 0.3 } });
    // The same for a score a hair above its maximum once summed: it is the maximum.
    const full = await recordAttempt(deps, options, {
      ...input,
      score: 0.1 + 0.2,
      maxScore: 0.3,
      externalRef: `lms-${randomUUID()}`,
    });
    expect(full.attempt).toMatchObject({ score: 0.3, maxScore: 0.3, passed: true });
  });

  it('is idempotent on externalRef and refuses the same reference with different values', async () => {
    const courseId = await createCourse(t.sql);
    const studentId = randomUUID();
    const { calls, dispatch } = recordingDispatch();
    const input = { studentId, courseId, score: 90, maxScore: 100, externalRef: `lms-${randomUUID()}` };
    const deps = { sql: t.sql, dispatch, log: recordingLog() };

    const first = await recordAttempt(deps, options, input);
    const again = await recordAttempt(deps, options, input);

    expect(again).toMatchObject({
      created: false,
      dispatched: false,
      attempt: { id: first.attempt.id },
      certificate: { id: first.certificate?.id, created: false },
    });
    expect(calls).toHaveLength(1);
    await expect(recordAttempt(deps, options, { ...input, score: 50 })).rejects.toBeInstanceOf(ConflictError);
    const [{ count } = { count: -1 }] = await t.sql<{ count: number }[]>`
      SELECT count(*)::int AS count FROM test_attempts WHERE external_ref = ${input.externalRef}`;
    expect(count).toBe(1);
  });

  it('a retry of an attempt whose certificate staff have since revoked names no certificate', async () => {
    // The testing system retries the same externalRef after staff revoked the certificate it
    // created, and no live one exists: the answer is "no certificate", not the revoked one handed
    // back as if it were the student's certificate for the pass.
    const courseId = await createCourse(t.sql);
    const { calls, dispatch } = recordingDispatch();
    const deps = { sql: t.sql, dispatch, log: recordingLog() };
    const input = {
      studentId: randomUUID(),
      courseId,
      score: 95,
      maxScore: 100,
      externalRef: `lms-${randomUUID()}`,
    };
    const first = await recordAttempt(deps, options, input);
    const revokedId = first.certificate?.id ?? '';
    await markIssued(revokedId);
    await revokeCertificate(
      { sql: t.sql, log: recordingLog() },
      { certificateId: revokedId, reasonCode: 'issued-in-error', actor: 'staff' },
    );

    const retry = await recordAttempt(deps, options, input);

    expect(retry).toMatchObject({ created: false, dispatched: false, attempt: { id: first.attempt.id } });
    expect(retry.certificate).toBeNull();
    expect(calls).toEqual([revokedId]);
  });

  it("an attempt posted late, completed before a revoked certificate's own, gets no certificate; one completed after does", async () => {
    const courseId = await createCourse(t.sql);
    const { calls, dispatch } = recordingDispatch();
    const deps = { sql: t.sql, dispatch, log: recordingLog() };
    const studentId = randomUUID();
    const first = await recordAttempt(deps, options, {
      studentId,
      courseId,
      score: 95,
      maxScore: 100,
      completedAt: '2026-11-01T00:00:00Z',
    });
    const revokedId = first.certificate?.id ?? '';
    await markIssued(revokedId);
    await revokeCertificate(
      { sql: t.sql, log: recordingLog() },
      { certificateId: revokedId, reasonCode: 'academic-misconduct', actor: 'staff' },
    );

    // The LMS posts an older pass late: it does not undo the revocation.
    const older = await recordAttempt(deps, options, {
      studentId,
      courseId,
      score: 90,
      maxScore: 100,
      completedAt: '2026-06-01T00:00:00Z',
    });
    expect(older).toMatchObject({ created: true, certificate: null, dispatched: false });
    const [decided] = await t.sql<{ later_pass_outcome: string | null }[]>`
      SELECT later_pass_outcome FROM test_attempts WHERE id = ${older.attempt.id}`;
    expect(decided?.later_pass_outcome).toBe('already-certified');
    const certificates = await t.sql<{ id: string }[]>`
      SELECT id FROM certificates WHERE student_id = ${studentId} AND course_id = ${courseId}`;
    expect(certificates.map((row) => row.id)).toEqual([revokedId]);

    // A retake after the revocation is a new certificate.
    const retake = await recordAttempt(deps, options, { studentId, courseId, score: 92, maxScore: 100 });
    expect(retake.certificate).toMatchObject({ created: true });
    expect(calls).toEqual([revokedId, retake.certificate?.id]);
  });

  it('a retry with the ids in upper case (as SQL Server and .NET print GUIDs) is the same attempt; another completedAt is not', async () => {
    const courseId = await createCourse(t.sql);
    const { calls, dispatch } = recordingDispatch();
    const deps = { sql: t.sql, dispatch, log: recordingLog() };
    const input = {
      studentId: randomUUID().toUpperCase(),
      courseId: courseId.toUpperCase(),
      score: 90,
      maxScore: 100,
      completedAt: '2026-12-01T09:30:00Z',
      externalRef: `lms-${randomUUID()}`,
    };
    const first = await recordAttempt(deps, options, input);
    expect(first.attempt.studentId).toBe(input.studentId.toLowerCase());
    expect(await recordAttempt(deps, options, input)).toMatchObject({
      created: false,
      attempt: { id: first.attempt.id },
    });
    // Leaving completedAt out of a retry is the same attempt; naming another instant is not.
    const { completedAt: _, ...withoutTime } = input;
    expect(await recordAttempt(deps, options, withoutTime)).toMatchObject({ created: false });
    await expect(
      recordAttempt(deps, options, { ...input, completedAt: '2026-12-01T09:31:00Z' }),
    ).rejects.toBeInstanceOf(ConflictError);
    expect(calls).toHaveLength(1);
    // A UUID of a version RFC 9562 does not define (version 0 here) is still one to PostgreSQL,
    // as it is to every route: an LMS's own ids are taken as the database takes them.
    const imported = await recordAttempt(deps, options, {
      ...input,
      studentId: 'ABCDEF01-2345-0789-CABC-DEF012345678',
      externalRef: `lms-${randomUUID()}`,
    });
    expect(imported).toMatchObject({
      created: true,
      attempt: { studentId: 'abcdef01-2345-0789-cabc-def012345678' },
    });
  });

  it('gives a second passing attempt of the same student and course no second certificate', async () => {
    const courseId = await createCourse(t.sql);
    const studentId = randomUUID();
    const { calls, dispatch } = recordingDispatch();
    const deps = { sql: t.sql, dispatch, log: recordingLog() };
    const first = await recordAttempt(deps, options, { studentId, courseId, score: 80, maxScore: 100 });
    const second = await recordAttempt(deps, options, { studentId, courseId, score: 99, maxScore: 100 });

    expect(second).toMatchObject({
      created: true,
      dispatched: false,
      attempt: { passed: true },
      certificate: { id: first.certificate?.id, created: false },
    });
    expect(calls).toEqual([first.certificate?.id]);
    // Not dropped silently: the later-pass rule recorded it against the live certificate.
    const [attempt] = await t.sql<{ later_pass_outcome: string | null }[]>`
      SELECT later_pass_outcome FROM test_attempts WHERE id = ${second.attempt.id}`;
    expect(attempt?.later_pass_outcome).toBe('in-progress');
    const notes = await t.sql<{ event: string; actor: string }[]>`
      SELECT event, actor FROM certificate_generation_log
      WHERE certificate_id = ${first.certificate?.id ?? null} AND event = 'later-pass'`;
    expect(notes).toEqual([{ event: 'later-pass', actor: 'ingestion' }]);
  });

  it('surfaces a pass while the live certificate is dead to staff: audit row, no new certificate', async () => {
    const courseId = await createCourse(t.sql);
    const studentId = randomUUID();
    const { calls, dispatch } = recordingDispatch();
    const deps = { sql: t.sql, dispatch, log: recordingLog() };
    const first = await recordAttempt(deps, options, { studentId, courseId, score: 80, maxScore: 100 });
    const deadId = first.certificate?.id ?? '';
    await t.sql`UPDATE certificates SET status = 'dead' WHERE id = ${deadId}`;

    const retake = await recordAttempt(deps, options, { studentId, courseId, score: 90, maxScore: 100 });

    expect(retake).toMatchObject({
      dispatched: false,
      certificate: { id: deadId, status: 'dead', created: false },
    });
    expect(calls).toEqual([deadId]);
    const blocked = await t.sql<{ actor: string; details: Record<string, unknown> }[]>`
      SELECT actor, details FROM certificate_generation_log
      WHERE certificate_id = ${deadId} AND event = 'later-pass-blocked'`;
    expect(blocked).toEqual([
      { actor: 'ingestion', details: expect.objectContaining({ test_attempt_id: retake.attempt.id }) },
    ]);
  });

  it('renews an expired certificate on a later pass: a new one is created and dispatched at once', async () => {
    const courseId = await createCourse(t.sql);
    const studentId = randomUUID();
    const { calls, dispatch } = recordingDispatch();
    const deps = { sql: t.sql, dispatch, log: recordingLog() };
    const first = await recordAttempt(deps, options, { studentId, courseId, score: 80, maxScore: 100 });
    const oldId = first.certificate?.id ?? '';
    await t.sql`
      UPDATE certificates
      SET status = 'issued', generated_at = now(), s3_key = ${`certificates/${oldId}.pdf`},
          pdf_sha256 = ${'0'.repeat(64)}, expires_at = now() - interval '1 day'
      WHERE id = ${oldId}`;

    // Posted by hand by a certificate admin: they stay on record with the renewal it causes.
    const retake = await recordAttempt(
      deps,
      { ...options, postedBy: { subject: 'admin-sub-123' } },
      { studentId, courseId, score: 85, maxScore: 100 },
    );

    expect(retake).toMatchObject({ dispatched: true, certificate: { status: 'pending', created: true } });
    const newId = retake.certificate?.id;
    const created = await t.sql`
      SELECT actor FROM certificate_generation_log WHERE certificate_id = ${newId ?? null} AND event = 'created'`;
    expect(created).toEqual([{ actor: 'admin-sub-123' }]);
    expect(newId).not.toBe(oldId);
    expect(calls).toEqual([oldId, newId]);
    // The expired one stays what it is until its replacement is issued.
    expect(await certificateRow(t.sql, oldId)).toMatchObject({ status: 'issued', superseded_by: null });
    expect(await certificateRow(t.sql, newId ?? '')).toMatchObject({ test_attempt_id: retake.attempt.id });
  });

  it('rejects bad input with a clear error and records nothing', async () => {
    const courseId = await createCourse(t.sql);
    const deps = { sql: t.sql, ...recordingDispatch(), log: recordingLog() };
    const valid = { studentId: randomUUID(), courseId, score: 50, maxScore: 100 };
    const cases: [unknown, string, RegExp][] = [
      [{ ...valid, courseId: randomUUID() }, 'courseId', /known course/],
      [{ ...valid, score: 101 }, 'score', /exceed maxScore/],
      [{ ...valid, score: -1 }, 'score', /negative/],
      [{ ...valid, maxScore: 0 }, 'maxScore', /greater than 0/],
      // Within 1e-9 of two decimals, it is 0.00: the row could not hold it (a 500 before).
      [{ ...valid, score: 0, maxScore: 1e-10 }, 'maxScore', /at least 0.01/],
      [{ ...valid, studentId: 'not-a-uuid' }, 'studentId', /UUID/],
      [{ ...valid, score: 1.234 }, 'score', /two decimals/],
      [{ ...valid, completedAt: '2999-01-01T00:00:00Z' }, 'completedAt', /future/],
      [{ ...valid, extra: true }, '', /extra/],
    ];
    for (const [input, field, message] of cases) {
      const error = await recordAttempt(deps, options, input).catch((caught: unknown) => caught);
      expect(error, JSON.stringify(input)).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).toMatch(message);
      if (field) expect((error as ValidationError).field).toBe(field);
    }
    const [{ count } = { count: -1 }] = await t.sql<{ count: number }[]>`
      SELECT count(*)::int AS count FROM test_attempts WHERE course_id = ${courseId}`;
    expect(count).toBe(0);
  });

  it('keeps the attempt when the immediate invoke fails, and the scan picks the certificate up', async () => {
    const courseId = await createCourse(t.sql);
    const failing: Dispatch = async () => {
      throw new Error('Lambda unavailable');
    };
    const result = await recordAttempt({ sql: t.sql, dispatch: failing, log: recordingLog() }, options, {
      studentId: randomUUID(),
      courseId,
      score: 95,
      maxScore: 100,
    });
    expect(result).toMatchObject({ dispatched: false, certificate: { created: true } });
    const id = result.certificate?.id ?? '';
    expect((await certificateRow(t.sql, id)).dispatched_until).toBeNull();
    const scanCalls = recordingDispatch();
    await runScan(
      { sql: t.sql, dispatch: scanCalls.dispatch, log: recordingLog() },
      { batchSize: 100, enqueueLimit: 100, dispatchLeaseSeconds: 300 },
    );
    expect(scanCalls.calls).toContain(id);
  });

  it('issues the certificate through the immediate trigger with a real generate', async () => {
    const user = await keycloak.addUser({ firstName: 'Immediate', lastName: 'Issuance' });
    const courseId = await createCourse(t.sql, { title: 'Fast Track' });
    const generateDeps = makeGenerateDeps(t, renderer);
    const running: Promise<unknown>[] = [];
    const dispatch: Dispatch = async (id) => {
      running.push(generateCertificate(generateDeps, generateOptions(), id));
    };
    const result = await recordAttempt({ sql: t.sql, dispatch, log: recordingLog() }, options, {
      studentId: user.id,
      courseId,
      score: 42,
      maxScore: 50,
    });
    await Promise.all(running);
    expect(await certificateRow(t.sql, result.certificate?.id ?? '')).toMatchObject({
      status: 'issued',
      student_name: 'Immediate Issuance',
      course_name: 'Fast Track',
      percentage: '84.00',
    });
  });
});
