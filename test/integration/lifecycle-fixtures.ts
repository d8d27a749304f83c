import { randomUUID } from 'node:crypto';
import { assignIssueLifecycle } from '../../lib/certificates/lifecycle.ts';
import type { Sql } from '../../lib/db/client.ts';
import { createAttempt } from './pipeline-fixtures.ts';

/** An issued certificate as generate leaves it (without rendering), with its status entry. */
export async function issuedCertificate(
  sql: Sql,
  input: { studentId?: string; courseId: string; score?: number; issuedOn?: string },
): Promise<{ id: string; attemptId: string; studentId: string }> {
  const studentId = input.studentId ?? randomUUID();
  const attemptId = await createAttempt(sql, {
    studentId,
    courseId: input.courseId,
    score: input.score ?? 80,
  });
  const id = randomUUID();
  await sql`UPDATE test_attempts SET certificate_enqueued_at = now() WHERE id = ${attemptId}`;
  await sql`
    INSERT INTO certificates (id, student_id, course_id, test_attempt_id, status, s3_key, generated_at, pdf_sha256,
                              issued_on, student_name, course_name)
    SELECT ${id}, ${studentId}, ${input.courseId}, ${attemptId}, 'issued', ${`certificates/${id}.pdf`}, now(),
           ${'0'.repeat(64)}, coalesce(${input.issuedOn ?? null}::date, current_date), 'Ada Lovelace', co.title
    FROM courses co WHERE co.id = ${input.courseId}`;
  await assignIssueLifecycle(sql, id);
  return { id, attemptId, studentId };
}

/** A certificate claimed by generate (`rendering`, leased), with no status entry yet. */
export async function renderingCertificate(sql: Sql, courseId: string): Promise<string> {
  const studentId = randomUUID();
  const attemptId = await createAttempt(sql, { studentId, courseId, score: 90 });
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO certificates (student_id, course_id, test_attempt_id, status, lease_owner, lease_expires_at)
    VALUES (${studentId}, ${courseId}, ${attemptId}, 'rendering', 'worker', now() + interval '1 minute')
    RETURNING id`;
  if (!row) throw new Error('certificate not created');
  return row.id;
}
