import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eraseStudent } from '../../lib/certificates/erasure.ts';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import {
  applyLaterPassRule,
  reissueCertificate,
  revokeCertificate,
} from '../../lib/certificates/lifecycle.ts';
import type { CertificateRenderer } from '../../lib/certificates/ports.ts';
import { findLatestByStudent } from '../../lib/certificates/read-model.ts';
import type { Sql } from '../../lib/db/client.ts';
import type { TestEnv } from '../support/env.ts';
import { gate } from '../support/gate.ts';
import { contendWithOpenTransaction, untilWaitingForLock } from '../support/lock-wait.ts';
import { issuedCertificate } from './lifecycle-fixtures.ts';
import {
  createAttempt,
  createCourse,
  createPendingCertificate,
  generateOptions,
  heldUploads,
  makeGenerateDeps,
  pipelineTestFile,
} from './pipeline-fixtures.ts';

// A replacement (staff reissue, renewal, better score) waits beside the issued certificate it
// replaces until it is issued itself (lifecycle.ts). What a revocation of the original, racing
// or not, does to it; each case was found by a review of that change, and fails without its fix.

let t: TestEnv;
const { renderer, keycloak, log } = pipelineTestFile((env) => {
  t = env;
});

async function statuses(...ids: string[]) {
  const rows = await t.sql<{ id: string; status: string; replaces: string | null }[]>`
    SELECT id, status::text, replaces FROM certificates WHERE id IN ${t.sql(ids)}`;
  return Object.fromEntries(rows.map((row) => [row.id, { status: row.status, replaces: row.replaces }]));
}

/** An issued certificate (score 70) of a new student, and the better score's (95) replacement waiting beside it. */
async function betterScoreReplacement(firstName: string, lastName: string) {
  const courseId = await createCourse(t.sql);
  await t.sql`UPDATE courses SET reissue_on_better_score = true WHERE id = ${courseId}`;
  const student = await keycloak.addUser({ firstName, lastName });
  const first = await issuedCertificate(t.sql, { courseId, studentId: student.id, score: 70 });
  const better = await createAttempt(t.sql, { studentId: student.id, courseId, score: 95 });
  const replacementId = String(
    (await applyLaterPassRule({ sql: t.sql, log }, { attemptId: better })).createdCertificateId,
  );
  return { courseId, student, first, replacementId };
}

/** Generate taking `certificateId`, held inside its render (claimed, no row locked) until released. */
async function generateHeldInRender(certificateId: string) {
  const inRender = gate();
  const held: CertificateRenderer = {
    render: async (content, template) => {
      await inRender.wait();
      return renderer.render(content, template);
    },
    close: () => renderer.close(),
  };
  const running = generateCertificate(makeGenerateDeps(t, held), generateOptions(), certificateId);
  await inRender.reached;
  return { running, release: () => inRender.open() };
}

const revoke = (certificateId: string) =>
  revokeCertificate({ sql: t.sql, log }, { certificateId, reasonCode: 'issued-in-error', actor: 'staff' });

describe('revoking a certificate whose replacement waits', () => {
  it('a revocation that waited for a reissue to commit revokes the replacement that reissue created', async () => {
    const student = await keycloak.addUser({ firstName: 'Edsger', lastName: 'Dijkstra' });
    const first = await issuedCertificate(t.sql, {
      courseId: await createCourse(t.sql),
      studentId: student.id,
    });
    let replacementId = '';
    // The reissue holds the original's row lock, its replacement inserted and not committed, while
    // the revocation waits for the lock.
    const revoked = await contendWithOpenTransaction(
      t.sql,
      async (held) => {
        const reissued = await reissueCertificate(
          { sql: held as unknown as Sql, log },
          { certificateId: first.id, reason: 'name change', actor: 'staff-1' },
        );
        replacementId = reissued.id;
      },
      () => revoke(first.id),
    );
    expect(revoked.status).toBe('fulfilled');
    expect(await statuses(first.id, replacementId)).toEqual({
      [first.id]: { status: 'revoked', replaces: null },
      [replacementId]: { status: 'revoked', replaces: first.id },
    });
  });

  it("a renewal's or better score's replacement is the newer pass's own certificate: it is issued, not lost", async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET reissue_on_better_score = true WHERE id = ${courseId}`;
    const student = await keycloak.addUser({ firstName: 'Barbara', lastName: 'Liskov' });
    const first = await issuedCertificate(t.sql, { courseId, studentId: student.id, score: 70 });
    const better = await createAttempt(t.sql, { studentId: student.id, courseId, score: 95 });
    const decision = await applyLaterPassRule({ sql: t.sql, log }, { attemptId: better });
    expect(decision.outcome).toBe('reissued-better-score');
    const replacementId = String(decision.createdCertificateId);

    await revoke(first.id);
    // No longer a replacement: the better pass's certificate, waiting to be generated.
    expect(await statuses(first.id, replacementId)).toEqual({
      [first.id]: { status: 'revoked', replaces: null },
      [replacementId]: { status: 'pending', replaces: null },
    });
    expect(
      await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), replacementId),
    ).toMatchObject({ status: 'issued' });
    const events = await t.sql<{ event_type: string }[]>`
      SELECT event_type FROM webhook_outbox WHERE certificate_id = ${replacementId}`;
    expect(events.map((event) => event.event_type)).toEqual(['certificate.issued']);
  });

  it("a renewal's or better score's replacement whose original is revoked while it renders is issued as the newer pass's own", async () => {
    const { student, first, replacementId } = await betterScoreReplacement('Niklaus', 'Wirth');
    // Generate has claimed the replacement (it read `replaces` then) and is printing it when a
    // revocation of the original detaches it.
    const { running, release } = await generateHeldInRender(replacementId);
    await revoke(first.id);
    expect(await statuses(first.id, replacementId)).toEqual({
      [first.id]: { status: 'revoked', replaces: null },
      [replacementId]: { status: 'rendering', replaces: null },
    });
    release();
    expect(await running).toMatchObject({ status: 'issued', certificateId: replacementId });
    expect(await statuses(first.id, replacementId)).toEqual({
      [first.id]: { status: 'revoked', replaces: null },
      [replacementId]: { status: 'issued', replaces: null },
    });
    const [original] = await t.sql<{ superseded_by: string | null }[]>`
      SELECT superseded_by FROM certificates WHERE id = ${first.id}`;
    expect(original?.superseded_by).toBeNull();
    const events = await t.sql<{ event_type: string }[]>`
      SELECT event_type FROM webhook_outbox WHERE certificate_id = ${replacementId}`;
    expect(events.map((event) => event.event_type)).toEqual(['certificate.issued']);
    expect(await findLatestByStudent(t.sql, student.id)).toMatchObject({
      id: replacementId,
      downloadable: true,
    });
  });

  it("a staff reissue's replacement whose original is revoked while it renders is revoked with it, and generate says so", async () => {
    const courseId = await createCourse(t.sql);
    const student = await keycloak.addUser({ firstName: 'Alan', lastName: 'Kay' });
    const first = await issuedCertificate(t.sql, { courseId, studentId: student.id });
    const { id: replacementId } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reason: 'typo', actor: 'staff' },
    );
    const { running, release } = await generateHeldInRender(replacementId);
    await revoke(first.id);
    release();
    expect(await running).toEqual({
      status: 'skipped',
      certificateId: replacementId,
      reason: 'replaced-certificate-revoked',
    });
    expect(await statuses(first.id, replacementId)).toEqual({
      [first.id]: { status: 'revoked', replaces: null },
      [replacementId]: { status: 'revoked', replaces: first.id },
    });
  });

  it('a replacement left waiting beside a revoked original (revoked before revocations settled it) is settled when generate takes it', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET reissue_on_better_score = true WHERE id = ${courseId}`;
    // A staff reissue's (same attempt) and a better score's (another attempt), each beside a
    // revoked original, as a revocation that missed them would have left them.
    const sameStudent = await keycloak.addUser({ firstName: 'Tony', lastName: 'Hoare' });
    const same = await issuedCertificate(t.sql, { courseId, studentId: sameStudent.id });
    const { id: sameReplacement } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: same.id, reason: 'typo', actor: 'staff' },
    );
    const otherStudent = await keycloak.addUser({ firstName: 'Frances', lastName: 'Allen' });
    const other = await issuedCertificate(t.sql, { courseId, studentId: otherStudent.id, score: 70 });
    const better = await createAttempt(t.sql, { studentId: otherStudent.id, courseId, score: 99 });
    const otherReplacement = String(
      (await applyLaterPassRule({ sql: t.sql, log }, { attemptId: better })).createdCertificateId,
    );
    await t.sql`
      UPDATE certificates SET status = 'revoked', revoked_at = now(), revocation_reason = 'issued-in-error'
      WHERE id IN (${same.id}, ${other.id})`;

    const deps = makeGenerateDeps(t, renderer);
    expect(await generateCertificate(deps, generateOptions(), sameReplacement)).toEqual({
      status: 'skipped',
      certificateId: sameReplacement,
      reason: 'replaced-certificate-revoked',
    });
    expect(await generateCertificate(deps, generateOptions(), otherReplacement)).toMatchObject({
      status: 'issued',
    });
    expect(await statuses(sameReplacement, otherReplacement)).toEqual({
      [sameReplacement]: { status: 'revoked', replaces: same.id },
      [otherReplacement]: { status: 'issued', replaces: null },
    });
    // Nothing was uploaded for the cancelled one.
    const [cancelled] =
      await t.sql`SELECT s3_key, generated_at FROM certificates WHERE id = ${sameReplacement}`;
    expect(cancelled).toEqual({ s3_key: null, generated_at: null });
  });

  it('a revocation takes the replacement before the status list, as generate does: it cannot deadlock with the replacement drawing its entry', async () => {
    const first = await issuedCertificate(t.sql, { courseId: await createCourse(t.sql) });
    const { id: replacementId } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reason: 'race', actor: 'staff' },
    );
    const [list] = await t.sql<
      { id: string }[]
    >`SELECT status_list_id AS id FROM certificates WHERE id = ${first.id}`;
    // The replacement's claim and entry (assignIssueLifecycle) hold its row, then want the list's.
    // The revocation, waiting for the replacement, must not hold the list meanwhile.
    const revoked = await contendWithOpenTransaction(
      t.sql,
      (held) => held`UPDATE certificates SET updated_at = now() WHERE id = ${replacementId}`,
      () => revoke(first.id),
      async (held) => {
        await held`SET LOCAL lock_timeout = '20s'`;
        await held`UPDATE status_lists SET allocated = allocated WHERE id = ${String(list?.id)}`;
      },
    );
    expect(revoked.status).toBe('fulfilled');
    expect(await statuses(first.id, replacementId)).toEqual({
      [first.id]: { status: 'revoked', replaces: null },
      [replacementId]: { status: 'revoked', replaces: first.id },
    });
  });

  it('an erasure that waited for a later pass to insert a replacement erases it too', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET reissue_on_better_score = true WHERE id = ${courseId}`;
    const student = randomUUID();
    const first = await issuedCertificate(t.sql, { courseId, studentId: student, score: 70 });
    const better = await createAttempt(t.sql, { studentId: student, courseId, score: 95 });
    // What the later-pass rule does for the better pass: the original locked, its replacement inserted.
    const erased = await contendWithOpenTransaction(
      t.sql,
      async (held) => {
        await held`SELECT id FROM certificates WHERE id = ${first.id} FOR UPDATE`;
        await held`
          INSERT INTO certificates (student_id, course_id, test_attempt_id, replaces)
          VALUES (${student}, ${courseId}, ${better}, ${first.id})`;
      },
      () => eraseStudent({ sql: t.sql, log }, { studentId: student, actor: 'erasure-test' }),
    );
    expect(erased.status).toBe('fulfilled');
    expect(erased.status === 'fulfilled' && erased.value).toMatchObject({
      certificatesDeleted: 1,
      certificatesRevoked: 1,
    });
    const [left] = await t.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM certificates WHERE student_id = ${student}`;
    expect(left?.n).toBe(0);
  });

  it('a worker that lost the replacement to a takeover writes nothing: the replacement stays what the winner made it', async () => {
    const { first, replacementId } = await betterScoreReplacement('Kristen', 'Nygaard');
    // Worker 1 stops inside its render; its lease runs out and worker 2 issues the replacement.
    const { running: slow, release } = await generateHeldInRender(replacementId);
    await t.sql`
      UPDATE certificates SET lease_expires_at = now() - interval '1 second', next_attempt_at = now() - interval '1 second'
      WHERE id = ${replacementId}`;
    expect(
      await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), replacementId),
    ).toMatchObject({ status: 'issued' });
    release();
    expect(await slow).toMatchObject({ status: 'skipped', reason: 'lease-lost' });
    expect(await statuses(first.id, replacementId)).toEqual({
      [first.id]: { status: 'superseded', replaces: null },
      [replacementId]: { status: 'issued', replaces: first.id },
    });
    const [detached] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificate_generation_log
      WHERE certificate_id = ${replacementId} AND event = 'replacement-detached'`;
    expect(detached?.n).toBe(0);
  });

  it('a replacement of another attempt beside a revoked original is revoked, not issued, when the student already holds a live certificate', async () => {
    const {
      courseId,
      student,
      first,
      replacementId: orphan,
    } = await betterScoreReplacement('Ole-Johan', 'Dahl');
    // The original revoked without settling its replacement (as revocations before this could),
    // then a newer pass got a certificate of its own.
    await t.sql`
      UPDATE certificates SET status = 'revoked', revoked_at = now(), revocation_reason = 'issued-in-error'
      WHERE id = ${first.id}`;
    const newer = await createAttempt(t.sql, { studentId: student.id, courseId, score: 80 });
    const created = await applyLaterPassRule({ sql: t.sql, log }, { attemptId: newer });
    expect(created.createdCertificateId).toBeTruthy();

    expect(await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), orphan)).toMatchObject(
      {
        status: 'skipped',
        reason: 'replaced-certificate-revoked',
      },
    );
    expect(await statuses(orphan)).toEqual({ [orphan]: { status: 'revoked', replaces: first.id } });
  });
});

describe('the latest certificate of a student', () => {
  it('is the issued one while its replacement waits or is dead, and the replacement once issued', async () => {
    const student = await keycloak.addUser({ firstName: 'Niklaus', lastName: 'Wirth' });
    const first = await issuedCertificate(t.sql, {
      courseId: await createCourse(t.sql),
      studentId: student.id,
    });
    const { id: replacementId } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reason: 'typo', actor: 'staff' },
    );
    expect(await findLatestByStudent(t.sql, student.id)).toMatchObject({ id: first.id, downloadable: true });
    await t.sql`UPDATE certificates SET status = 'dead', last_error = 'gone' WHERE id = ${replacementId}`;
    expect(await findLatestByStudent(t.sql, student.id)).toMatchObject({ id: first.id, downloadable: true });
    await t.sql`UPDATE certificates SET status = 'pending', next_attempt_at = now() WHERE id = ${replacementId}`;
    expect(
      await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), replacementId),
    ).toMatchObject({ status: 'issued' });
    expect(await findLatestByStudent(t.sql, student.id)).toMatchObject({
      id: replacementId,
      downloadable: true,
    });
  });
});

describe('a staff action while generate issues the certificate', () => {
  // Generate's issuing transaction (the row locked, the PDF uploading, then marked issued) is
  // open: to any other snapshot the certificate is still 'rendering'. A revocation or a reissue
  // must wait for it and act on the issued certificate, not answer a 409 that, read again a
  // moment later, says the certificate is issued.
  async function uploading() {
    const student = await keycloak.addUser({ firstName: 'Ada', lastName: 'Lovelace' });
    const courseId = await createCourse(t.sql);
    const id = await createPendingCertificate(t.sql, { studentId: student.id, courseId });
    const { storage, upload } = heldUploads(makeGenerateDeps(t, renderer).storage);
    const issuing = generateCertificate(makeGenerateDeps(t, renderer, { storage }), generateOptions(), id);
    await upload.reached;
    return { id, upload, issuing };
  }

  async function whileIssuing<T>(action: (id: string) => Promise<T>) {
    const { id, upload, issuing } = await uploading();
    let ended = false;
    const acting = action(id).finally(() => {
      ended = true;
    });
    acting.catch(() => undefined);
    await untilWaitingForLock(t.sql, { ended: () => ended });
    upload.open();
    expect(await issuing).toMatchObject({ status: 'issued' });
    return { id, result: await acting };
  }

  it('a revocation waits for the issue and revokes the issued certificate', async () => {
    const { id, result } = await whileIssuing((certificateId) => revoke(certificateId));
    expect(result).toMatchObject({ id, statusBitSet: true });
    expect(await statuses(id)).toEqual({ [id]: { status: 'revoked', replaces: null } });
  });

  it('a reissue waits for the issue and queues the replacement of the issued certificate', async () => {
    const { id, result } = await whileIssuing((certificateId) =>
      reissueCertificate({ sql: t.sql, log }, { certificateId, reason: 'typo', actor: 'staff' }),
    );
    expect(result).toMatchObject({ supersedes: id });
    expect(await statuses(id, result.id)).toEqual({
      [id]: { status: 'issued', replaces: null },
      [result.id]: { status: 'pending', replaces: id },
    });
  });
});
