import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eraseStudent } from '../../lib/certificates/erasure.ts';
import type { Sql } from '../../lib/db/client.ts';
import { ownDatabaseAcross } from '../support/migrations.ts';
import { createCourse, createPendingCertificate, recordingLog } from './pipeline-fixtures.ts';

// An upgrade past 1735300000000: the attempts behind tombstones erased before erasure cleared
// their scores lose them; every other attempt keeps its own.

const own = ownDatabaseAcross(1735300000000);

/** A certificate of a new student, issued as generate leaves it (without a render). */
async function issuedCertificate(sql: Sql, courseId: string, score: number) {
  const studentId = randomUUID();
  const certificate = await createPendingCertificate(sql, { studentId, courseId, score });
  await sql`
    UPDATE certificates c
    SET status = 'issued', student_name = 'Erika Mustermann', course_name = co.title, score = a.score,
        max_score = a.max_score, percentage = round(a.score * 100 / a.max_score, 2), issued_on = current_date,
        locale = 'en', issuer_name = 'Northbridge Academy',
        s3_key = 'certificates/' || c.course_id || '/' || c.student_id || '/' || c.id || '.pdf',
        pdf_sha256 = encode(sha256(convert_to(c.id::text, 'UTF8')), 'hex'), pdf_bytes = 1234,
        credential_jws = 'eyJhbGciOiJFUzI1NiJ9.eyJuIjoiRXJpa2EifQ.sig', generated_at = now(), updated_at = now()
    FROM courses co, test_attempts a
    WHERE c.id = ${certificate} AND co.id = c.course_id AND a.id = c.test_attempt_id`;
  return { studentId, certificate };
}
const { migrate } = own;

describe('upgrading to erased attempt scores', () => {
  it('clears the score of an attempt behind a tombstone erased before, and no other', async () => {
    await migrate('down');
    const courseId = await createCourse(own.sql);
    const erased = await issuedCertificate(own.sql, courseId, 73.5);
    const kept = await issuedCertificate(own.sql, courseId, 88);
    await eraseStudent(
      { sql: own.sql, log: recordingLog() },
      { studentId: erased.studentId, actor: 'dpo@example.org' },
    );
    // As an erasure from before left it: the attempt's score still there.
    await own.sql`
      UPDATE test_attempts SET score = 73.5, max_score = 100
      WHERE id = (SELECT test_attempt_id FROM certificates WHERE id = ${erased.certificate})`;

    await migrate('up');

    const scores = await own.sql<{ id: string; score: string | null; max_score: string | null }[]>`
      SELECT c.id, a.score::text, a.max_score::text FROM certificates c JOIN test_attempts a ON a.id = c.test_attempt_id
      WHERE c.id IN (${erased.certificate}, ${kept.certificate})`;
    expect(Object.fromEntries(scores.map((row) => [row.id, [row.score, row.max_score]]))).toEqual({
      [erased.certificate]: [null, null],
      [kept.certificate]: ['88.00', '100.00'],
    });
    const validated = await own.sql<{ convalidated: boolean }[]>`
      SELECT convalidated FROM pg_constraint WHERE conname = 'test_attempts_score_erased'`;
    expect(validated).toEqual([{ convalidated: true }]);
  });

  it('refuses a pass recorded without a score, or with half of one: only erasure clears them, both at once', async () => {
    await migrate('up');
    const courseId = await createCourse(own.sql);
    const insert = (score: number | null, maxScore: number | null) =>
      own.sql`
        INSERT INTO test_attempts (student_id, course_id, score, max_score, passed)
        VALUES (${randomUUID()}, ${courseId}, ${score}, ${maxScore}, true)`;
    await expect(insert(null, null)).rejects.toThrow(/test_attempts_score_erased/);
    await expect(insert(50, null)).rejects.toThrow(/test_attempts_score_erased/);
    await expect(insert(50, 100)).resolves.toBeDefined();
  });
});

// Down across 1735200000000 with an erased attempt in the table: its score is gone, so the down
// section writes 0 out of 1 to take NOT NULL back, and up again clears nothing it should not.
const beforeNullable = ownDatabaseAcross(1735200000000);

describe('rolling back past nullable attempt scores', () => {
  it('goes down with an erased attempt (0 out of 1) and up again', async () => {
    const courseId = await createCourse(beforeNullable.sql);
    const { studentId, certificate } = await issuedCertificate(beforeNullable.sql, courseId, 73.5);
    await eraseStudent(
      { sql: beforeNullable.sql, log: recordingLog() },
      { studentId, actor: 'dpo@example.org' },
    );
    const scoreOf = async () =>
      (
        await beforeNullable.sql<{ score: string | null; max_score: string | null }[]>`
          SELECT a.score::text, a.max_score::text FROM certificates c JOIN test_attempts a ON a.id = c.test_attempt_id
          WHERE c.id = ${certificate}`
      )[0];
    expect(await scoreOf()).toEqual({ score: null, max_score: null });

    await beforeNullable.migrate('down');
    expect(await scoreOf()).toEqual({ score: '0.00', max_score: '1.00' });
    await beforeNullable.migrate('up');
    expect(await scoreOf()).toEqual({ score: null, max_score: null });
  });
});
