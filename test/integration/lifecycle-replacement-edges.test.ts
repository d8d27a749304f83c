import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import {
  applyLaterPassRule,
  CertificateStateError,
  reissueCertificate,
  revokeCertificate,
  revokeIssued,
} from '../../lib/certificates/lifecycle.ts';
import {
  findByCourse,
  findByStudent,
  findLatestByStudent,
  findPublicCertificate,
} from '../../lib/certificates/read-model.ts';
import type { Sql, TransactionSql } from '../../lib/db/client.ts';
import type { TestEnv } from '../support/env.ts';
import { contendWithOpenTransaction } from '../support/lock-wait.ts';
import { issuedAndReplaced, issuedCertificate } from './lifecycle-fixtures.ts';
import {
  createAttempt,
  createCourse,
  generateOptions,
  makeGenerateDeps,
  pipelineTestFile,
} from './pipeline-fixtures.ts';

// Tests a mutation sweep (2026-12-05) found missing: each passes on the code as
// it is and fails without the behaviour in its title.

let t: TestEnv;
const { renderer, keycloak, log } = pipelineTestFile((env) => {
  t = env;
});

async function row(id: string) {
  const [found] = await t.sql<
    { status: string; replaces: string | null; revoked_by: string | null; revocation_reason: string | null }[]
  >`
    SELECT status::text, replaces, revoked_by, revocation_reason FROM certificates WHERE id = ${id}`;
  return found;
}

describe('replacements', () => {
  it('revoking an original whose replacement is dead or failed revokes the replacement too', async () => {
    const courseId = await createCourse(t.sql);
    for (const status of ['dead', 'failed'] as const) {
      const first = await issuedCertificate(t.sql, { courseId });
      const { id: replacementId } = await reissueCertificate(
        { sql: t.sql, log },
        { certificateId: first.id, reason: 'typo', actor: 'staff' },
      );
      await t.sql`UPDATE certificates SET status = ${status}, last_error = 'gone' WHERE id = ${replacementId}`;
      await revokeCertificate(
        { sql: t.sql, log },
        { certificateId: first.id, reasonCode: 'issued-in-error', actor: 'staff-9' },
      );
      expect(await row(replacementId), status).toMatchObject({ status: 'revoked', revoked_by: 'staff-9' });
    }
  });

  it("after a reissue and a revocation of the original, the student's latest certificate is that original, not the replacement it cancelled", async () => {
    const courseId = await createCourse(t.sql);
    const first = await issuedCertificate(t.sql, { courseId });
    const { id: replacementId } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reason: 'typo', actor: 'staff' },
    );
    // While the replacement waits, the issued original is the latest; the lists show both.
    expect((await findLatestByStudent(t.sql, first.studentId))?.id).toBe(first.id);
    const listed = async () => ({
      student: (await findByStudent(t.sql, first.studentId, { limit: 10 })).items.map((item) => item.id),
      course: (await findByCourse(t.sql, courseId, { limit: 10 })).items.map((item) => item.id),
    });
    expect(await listed()).toEqual({ student: [replacementId, first.id], course: [replacementId, first.id] });
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reasonCode: 'issued-in-error', actor: 'staff' },
    );
    expect(await row(replacementId)).toMatchObject({ status: 'revoked' });
    // Never issued: no name, no date, a code without a page. The revoked original is what was.
    expect(await findLatestByStudent(t.sql, first.studentId)).toMatchObject({
      id: first.id,
      status: 'revoked',
    });
    // Nor do the lists show it as a second revoked certificate.
    expect(await listed()).toEqual({ student: [first.id], course: [first.id] });
  });

  it('the cancelled replacement audit row names who revoked the original', async () => {
    const first = await issuedCertificate(t.sql, { courseId: await createCourse(t.sql) });
    const { id: replacementId } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reason: 'typo', actor: 'staff' },
    );
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reasonCode: 'academic-misconduct', actor: 'staff-7' },
    );
    const events = await t.sql<{ event: string; actor: string | null }[]>`
      SELECT event, actor FROM certificate_generation_log WHERE certificate_id = ${replacementId} AND event = 'revoked'`;
    expect(events).toEqual([{ event: 'revoked', actor: 'staff-7' }]);
  });

  it("a replacement cancelled by generate beside a revoked original takes the original's revocation reason", async () => {
    const { first, newId: replacementId } = await issuedAndReplaced(
      { sql: t.sql, log, keycloak },
      await createCourse(t.sql),
      {
        firstName: 'Grace',
        lastName: 'Hopper',
      },
    );
    // Revoked as revocations before the settling could leave it: the replacement waiting.
    await t.sql`
      UPDATE certificates SET status = 'revoked', revoked_at = now(), revocation_reason = 'identity-fraud'
      WHERE id = ${first.id}`;
    expect(
      await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), replacementId),
    ).toMatchObject({
      status: 'skipped',
      reason: 'replaced-certificate-revoked',
    });
    expect(await row(replacementId)).toMatchObject({
      status: 'revoked',
      revocation_reason: 'identity-fraud',
    });
  });

  it('a reissue that waits for a revocation in progress is refused once it commits, with no replacement left behind', async () => {
    const first = await issuedCertificate(t.sql, { courseId: await createCourse(t.sql) });
    const reissued = await contendWithOpenTransaction(
      t.sql,
      (held) =>
        revokeIssued(held as unknown as TransactionSql, {
          certificateId: first.id,
          reasonCode: 'issued-in-error',
          reasonText: null,
          actor: 'staff',
        }),
      () =>
        reissueCertificate(
          { sql: t.sql as Sql, log },
          { certificateId: first.id, reason: 'name change', actor: 'staff-2' },
        ),
    );
    expect(reissued.status).toBe('rejected');
    expect(reissued.status === 'rejected' && reissued.reason).toBeInstanceOf(CertificateStateError);
    expect(reissued.status === 'rejected' && reissued.reason.details).toMatchObject({ status: 'revoked' });
    const [left] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificates WHERE replaces = ${first.id}`;
    expect(left?.n).toBe(0);
  });

  it('a better later pass while the replacement of the live certificate is dead goes to staff review', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET reissue_on_better_score = true WHERE id = ${courseId}`;
    const studentId = randomUUID();
    const first = await issuedCertificate(t.sql, { courseId, studentId, score: 70 });
    const { id: replacementId } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reason: 'typo', actor: 'staff' },
    );
    await t.sql`UPDATE certificates SET status = 'dead', last_error = 'gone' WHERE id = ${replacementId}`;
    const better = await createAttempt(t.sql, { studentId, courseId, score: 95 });
    const decision = await applyLaterPassRule({ sql: t.sql, log }, { attemptId: better });
    expect(decision).toMatchObject({
      outcome: 'staff-review',
      createdCertificateId: null,
      liveCertificateId: replacementId,
    });
  });

  it("generate's issuing transaction takes the original's lock before the replacement's, as a revocation does: no deadlock", async () => {
    const { first, newId: replacementId } = await issuedAndReplaced(
      { sql: t.sql, log, keycloak },
      await createCourse(t.sql),
      {
        firstName: 'Edsger',
        lastName: 'Dijkstra',
      },
    );
    const revoke = {
      certificateId: first.id,
      reasonCode: 'issued-in-error' as const,
      reasonText: null,
      actor: 'staff',
    };
    // The revocation has locked the original (its first statement) when generate reaches its
    // issuing transaction; it goes on (the replacement, the status list) while generate waits.
    const generated = await contendWithOpenTransaction(
      t.sql,
      (held) => held`SELECT id FROM certificates WHERE id = ${first.id} FOR UPDATE`,
      () => generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), replacementId),
      async (held) => {
        await held`SET LOCAL lock_timeout = '20s'`;
        // Should the two wait for each other, the revocation is the one PostgreSQL aborts (it
        // looks first); else generate would be, and its failure would find the replacement
        // revoked and end 'skipped' all the same.
        await held`SET LOCAL deadlock_timeout = '10ms'`;
        expect(await revokeIssued(held as unknown as TransactionSql, revoke)).toBeTruthy();
      },
    );
    expect(generated.status).toBe('fulfilled');
    expect(generated.status === 'fulfilled' && generated.value).toMatchObject({ status: 'skipped' });
    expect(await row(first.id)).toMatchObject({ status: 'revoked' });
    expect(await row(replacementId)).toMatchObject({ status: 'revoked' });
  });

  it('a superseded certificate whose successor is not generated yet (a reissue from before two-phase supersession) links nowhere and says a replacement is pending', async () => {
    const courseId = await createCourse(t.sql);
    const first = await issuedCertificate(t.sql, { courseId });
    const successor = randomUUID();
    await t.sql`UPDATE certificates SET status = 'superseded', superseded_at = now() WHERE id = ${first.id}`;
    await t.sql`
      INSERT INTO certificates (id, student_id, course_id, test_attempt_id)
      VALUES (${successor}, ${first.studentId}, ${courseId}, ${first.attemptId})`;
    await t.sql`UPDATE certificates SET superseded_by = ${successor} WHERE id = ${first.id}`;
    const [codes] = await t.sql<{ old: string; new: string }[]>`
      SELECT o.verification_code AS old, n.verification_code AS new
      FROM certificates o, certificates n WHERE o.id = ${first.id} AND n.id = ${successor}`;
    const oldCode = String(codes?.old);
    expect(await findPublicCertificate(t.sql, oldCode)).toMatchObject({
      status: 'superseded',
      supersededByCode: null,
      replacementPending: true,
    });
    await t.sql`
      UPDATE certificates SET status = 'issued', generated_at = now(), s3_key = 'certificates/x.pdf', pdf_sha256 = ${'0'.repeat(64)},
             issued_on = current_date, student_name = 'Ada Lovelace', course_name = 'C'
      WHERE id = ${successor}`;
    expect(await findPublicCertificate(t.sql, oldCode)).toMatchObject({
      supersededByCode: codes?.new,
      replacementPending: false,
    });
  });
});
