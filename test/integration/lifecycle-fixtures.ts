import { randomUUID } from 'node:crypto';
import {
  assignIssueLifecycle,
  reissueCertificate,
  supersedeReplaced,
} from '../../lib/certificates/lifecycle.ts';
import type { Log } from '../../lib/certificates/ports.ts';
import type { Sql } from '../../lib/db/client.ts';
import type { keycloakControl } from '../support/keycloak.ts';
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

/**
 * A waiting replacement issued as generate's issuing transaction leaves it (without a render): the
 * certificate it replaces superseded first, then the replacement marked issued.
 */
export async function issueReplacement(sql: Sql, replacementId: string): Promise<void> {
  await sql.begin(async (tx) => {
    const [row] = await tx<{ replaces: string | null }[]>`
      SELECT replaces FROM certificates WHERE id = ${replacementId}`;
    if (!row?.replaces) throw new Error(`${replacementId} replaces nothing`);
    if (!(await supersedeReplaced(tx, { originalId: row.replaces, replacementId })))
      throw new Error(`${row.replaces} is no longer issued`);
    await tx`
      UPDATE certificates c
      SET status = 'issued', s3_key = ${`certificates/${replacementId}.pdf`}, generated_at = now(),
          pdf_sha256 = ${'0'.repeat(64)}, issued_on = current_date, student_name = 'Ada Lovelace',
          course_name = co.title
      FROM courses co WHERE c.id = ${replacementId} AND co.id = c.course_id`;
  });
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

/** An issued certificate of a new Keycloak user in `courseId`, and its replacement asked for by staff. */
export async function issuedAndReplaced(
  deps: { sql: Sql; log: Log; keycloak: Pick<ReturnType<typeof keycloakControl>, 'addUser'> },
  courseId: string,
  name: { firstName: string; lastName: string },
  reason = 'typo',
) {
  const student = await deps.keycloak.addUser(name);
  const first = await issuedCertificate(deps.sql, { courseId, studentId: student.id });
  const { id: newId } = await reissueCertificate(
    { sql: deps.sql, log: deps.log },
    { certificateId: first.id, reason, actor: 'staff' },
  );
  return { student, first, newId };
}
