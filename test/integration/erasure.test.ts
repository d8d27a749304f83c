import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErasureIncompleteError, eraseStudent } from '../../lib/certificates/erasure.ts';
import {
  assignIssueLifecycle,
  redecideWaitingLaterPasses,
  reissueCertificate,
  revokeCertificate,
  supersedeReplaced,
} from '../../lib/certificates/lifecycle.ts';
import { findById, findByStudent, verifyCertificate } from '../../lib/certificates/read-model.ts';
import { requeueCertificate, requeueDeadCertificates } from '../../lib/certificates/requeue.ts';
import { enqueuePassingAttempts } from '../../lib/certificates/scan.ts';
import {
  type CredentialSettings,
  openBadgeForCertificate,
  signedOpenBadgeForCode,
} from '../../lib/credentials/credential-service.ts';
import type { Sql } from '../../lib/db/client.ts';
import { ConflictError, NotFoundError } from '../../lib/errors.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { contendWithOpenTransaction } from '../support/lock-wait.ts';
import { createAttempt, createCourse, createPendingCertificate, recordingLog } from './pipeline-fixtures.ts';

/**
 * The erasure use-case against the real schema: the student of the session-12 inventory's tested
 * procedure (a reissued certificate, a pending one in a second course, an expired one nobody
 * announced yet, an attempt the scan has not seen, webhook events), next to another student who
 * must not be touched.
 */

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

const STAFF = '00000000-0000-4000-8000-0000000057af';
const ACTOR = 'erasure-TICKET-42';

/** A pending certificate issued as generate leaves it: snapshot, file, credential, status entry. */
async function issue(sql: Sql, certificateId: string, name: string): Promise<void> {
  // A replacement supersedes what it replaces in its issuing transaction, as generate's does.
  const [replacing] = await sql<{ replaces: string | null }[]>`
    SELECT replaces FROM certificates WHERE id = ${certificateId}`;
  const originalId = replacing?.replaces;
  if (originalId)
    await sql.begin((tx) => supersedeReplaced(tx, { originalId, replacementId: certificateId }));
  await sql`
    UPDATE certificates c
    SET status = 'issued', student_name = ${name}, course_name = co.title, score = a.score,
        max_score = a.max_score, percentage = round(a.score * 100 / a.max_score, 2), issued_on = current_date,
        locale = 'en', issuer_name = 'Northbridge Academy',
        s3_key = 'certificates/' || c.course_id || '/' || c.student_id || '/' || c.id || '.pdf',
        pdf_sha256 = encode(sha256(convert_to(c.id::text, 'UTF8')), 'hex'), pdf_bytes = 1234, credential_jws = 'eyJhbGciOiJFUzI1NiJ9.eyJuIjoiRXJpa2EifQ.sig',
        generated_at = now(), updated_at = now()
    FROM courses co, test_attempts a
    WHERE c.id = ${certificateId} AND co.id = c.course_id AND a.id = c.test_attempt_id`;
  // generate's audit row names the file, whose key holds the student id.
  await sql`
    INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, message, details)
    SELECT id, 'issued', 'rendering', 'issued', 'Certificate generated successfully',
           jsonb_build_object('s3_key', s3_key, 'pdf_sha256', pdf_sha256)
    FROM certificates WHERE id = ${certificateId}`;
  await assignIssueLifecycle(sql, certificateId);
}

/** Tables whose rows, as text, contain `text` (the inventory's grep.sql), with how many. */
async function rowsContaining(sql: Sql, text: string): Promise<Record<string, number>> {
  const tables = await sql<{ name: string }[]>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`;
  const found: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await sql.unsafe<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM "${name}" x WHERE strpos(x::text, $1) > 0`,
      [text],
    );
    if (row && row.n > 0) found[name] = row.n;
  }
  return found;
}

async function statusBit(sql: Sql, certificateId: string): Promise<number | undefined> {
  const [row] = await sql<{ bit: number }[]>`
    SELECT get_bit(l.bits, (c.status_list_index / 8) * 8 + 7 - c.status_list_index % 8) AS bit
    FROM certificates c JOIN status_lists l ON l.id = c.status_list_id WHERE c.id = ${certificateId}`;
  return row?.bit;
}

interface Seeded {
  student: string;
  other: string;
  /** Issued, then reissued as b (superseded). */
  a: string;
  b: string;
  /** Pending, in a second course. */
  c: string;
  /** Issued in a third course, past its expiry, not announced. */
  d: string;
  /** The other student's issued certificate in the first course. */
  e: string;
  /** Revoked by staff before, with their own words, in a fourth course. */
  f: string;
  courses: string[];
  /** Certificate ids of outbox events whose certificates are long gone. */
  orphans: string[];
}

async function seed(sql: Sql): Promise<Seeded> {
  const student = randomUUID();
  const other = randomUUID();
  const log = recordingLog();
  const courses = [
    await createCourse(sql, { title: 'Erasure 101' }),
    await createCourse(sql, { title: 'Erasure 102' }),
    await createCourse(sql, { title: 'Erasure 103' }),
    await createCourse(sql, { title: 'Erasure 104' }),
  ];
  const [first, second, third, fourth] = courses as [string, string, string, string];
  const a = await createPendingCertificate(sql, { studentId: student, courseId: first, score: 91 });
  await sql`UPDATE test_attempts SET external_ref = 'lms-result-4711' WHERE id = (SELECT test_attempt_id FROM certificates WHERE id = ${a})`;
  await issue(sql, a, 'Erika Musterfrau');
  const reissued = await reissueCertificate(
    { sql, log },
    { certificateId: a, reason: 'Name corrected: Erika Musterfrau -> Erika Mustermann', actor: STAFF },
  );
  await issue(sql, reissued.id, 'Erika Mustermann');
  const c = await createPendingCertificate(sql, { studentId: student, courseId: second, score: 80 });
  // A pass the scan has not picked up yet.
  await createAttempt(sql, { studentId: student, courseId: second, score: 95, passed: true });
  const d = await createPendingCertificate(sql, { studentId: student, courseId: third, score: 77 });
  // Died, and requeued by staff with a reason naming her.
  await sql`UPDATE certificates SET status = 'dead' WHERE id = ${d}`;
  await requeueCertificate(sql, d, { requestedBy: STAFF, reason: 'Erika Mustermann restored in Keycloak' });
  await issue(sql, d, 'Erika Mustermann');
  await sql`UPDATE certificates SET expires_at = now() - interval '1 day' WHERE id = ${d}`;
  // Imported history: an attempt whose certificate was made without the scan marking it.
  await sql`UPDATE test_attempts SET certificate_enqueued_at = NULL WHERE id = (SELECT test_attempt_id FROM certificates WHERE id = ${d})`;
  const e = await createPendingCertificate(sql, { studentId: other, courseId: first, score: 88 });
  await issue(sql, e, 'Ada Lovelace');
  const f = await createPendingCertificate(sql, { studentId: student, courseId: fourth, score: 99 });
  // Failed on a setup error, brought forward in bulk with a reason naming her.
  await sql`UPDATE certificates SET status = 'failed' WHERE id = ${f}`;
  await requeueDeadCertificates(sql, {
    status: 'failed',
    courseId: fourth,
    dryRun: false,
    requestedBy: STAFF,
    reason: 'Erika Mustermann asked by phone, +49 30 1234567',
  });
  await issue(sql, f, 'Erika Mustermann');
  await revokeCertificate(
    { sql, log },
    {
      certificateId: f,
      reasonCode: 'other',
      reasonText: 'Erika Mustermann called: wrong exam',
      actor: STAFF,
    },
  );
  // Events of certificates deleted long ago: no foreign key, they outlive them and name the student.
  const orphans = [randomUUID(), randomUUID()];
  for (const orphan of orphans)
    await sql`
      INSERT INTO webhook_outbox (event_type, certificate_id, data)
      VALUES ('certificate.issued', ${orphan},
              jsonb_build_object('studentId', ${student}::text, 'status', 'issued'))`;
  // Failures of generate that named the student, on d and on f.
  for (const certificate of [d, f])
    await sql`
      INSERT INTO certificate_generation_log (certificate_id, event, message, error, details)
      VALUES (${certificate}, 'failed', ${`Failed to generate certificate for student: ${student}`},
              ${`Keycloak: user ${student} not found`}, jsonb_build_object('student_id', ${student}::text))`;
  return { student, other, a, b: reissued.id, c, d, e, f, courses, orphans };
}

describe('eraseStudent', () => {
  it('keeps tombstones of published certificates, deletes the rest, and leaves no row naming the student', async () => {
    const s = await seed(t.sql);
    const [staffRevoked] = await t.sql<
      { revoked_at: Date }[]
    >`SELECT revoked_at FROM certificates WHERE id = ${s.f}`;
    const before = await rowsContaining(t.sql, s.student);
    expect(before).toMatchObject({ certificates: 5, test_attempts: 5 });
    const otherBefore = await rowsContaining(t.sql, s.other);
    const hashes = await t.sql<{ pdf_sha256: string }[]>`
      SELECT pdf_sha256 FROM certificates WHERE student_id = ${s.student} AND pdf_sha256 IS NOT NULL`;
    expect(hashes.length).toBeGreaterThan(0);

    // A dry run reports exactly what the erasure does, and changes nothing.
    const log = recordingLog();
    const preview = await eraseStudent(
      { sql: t.sql, log },
      { studentId: s.student, actor: ACTOR, dryRun: true },
    );
    expect(await rowsContaining(t.sql, s.student)).toEqual(before);
    expect(await statusBit(t.sql, s.b)).toBe(0);

    const report = await eraseStudent({ sql: t.sql, log }, { studentId: s.student, actor: ACTOR });
    expect({ ...preview, dryRun: false }).toEqual(report);
    expect(report).toMatchObject({
      dryRun: false,
      certificatesDeleted: 1,
      certificatesRevoked: 2,
      attemptsDeleted: 2,
      attemptsPseudonymised: 3,
      // issued a, reissued a, issued b, issued d, issued f, revoked f; expired d, revoked b,
      // revoked d; and the two orphans.
      webhookEventsPseudonymised: 11,
      s3Keys: [],
    });
    expect(report.s3Prefixes.sort()).toEqual(
      s.courses.map((course) => `certificates/${course}/${s.student}/`).sort(),
    );
    expect(report.tombstones.map((row) => [row.certificateId, row.status]).sort()).toEqual(
      [
        [s.a, 'superseded'],
        [s.b, 'revoked'],
        [s.d, 'revoked'],
        [s.f, 'revoked'],
      ].sort(),
    );

    // No row of any table names the student, or the name, or the LMS reference, any more.
    expect(await rowsContaining(t.sql, s.student)).toEqual({});
    expect(await rowsContaining(t.sql, 'Erika')).toEqual({});
    expect(await rowsContaining(t.sql, 'lms-result-4711')).toEqual({});
    // Nor a file's hash: whoever holds a copy of the PDF could hash it and find the record.
    for (const { pdf_sha256 } of hashes) expect(await rowsContaining(t.sql, pdf_sha256)).toEqual({});
    // The other student is untouched.
    expect(await rowsContaining(t.sql, s.other)).toEqual(otherBefore);
    expect(await statusBit(t.sql, s.e)).toBe(0);

    // The pending certificate is gone; the published ones are tombstones with their status bits set:
    // b and d share a list, and each has its own bit (one UPDATE over both would set only one).
    expect(await t.sql`SELECT 1 FROM certificates WHERE id = ${s.c}`).toHaveLength(0);
    const tombstones = await t.sql<
      {
        id: string;
        student_id: string;
        status: string;
        revocation_reason: string | null;
        revoked_by: string | null;
        student_name: string | null;
        score: string | null;
        s3_key: string | null;
        pdf_sha256: string | null;
        credential_jws: string | null;
        erased: boolean;
        status_list_id: string;
        superseded_by: string | null;
      }[]
    >`
      SELECT id, student_id, status::text, revocation_reason, revoked_by, student_name, score::text, s3_key,
             pdf_sha256, credential_jws, erased_at IS NOT NULL AS erased, status_list_id, superseded_by
      FROM certificates WHERE id IN (${s.a}, ${s.b}, ${s.d}, ${s.f})`;
    // A pseudonym each: the person's tombstones, in four courses, cannot be listed as one student's.
    const pseudonyms = new Map(tombstones.map((row) => [row.id, row.student_id]));
    expect(new Set(pseudonyms.values()).size).toBe(4);
    for (const row of tombstones) {
      expect(row).toMatchObject({
        student_name: null,
        score: null,
        s3_key: null,
        pdf_sha256: null,
        credential_jws: null,
        erased: true,
      });
      expect(await statusBit(t.sql, row.id), row.id).toBe(1);
    }
    // Nor do the attempts behind them keep a score, which staff reads of a tombstone fell back to:
    // the erased student's exact score beside the code their PDF copies carry.
    expect(
      await t.sql`
        SELECT a.score, a.max_score FROM test_attempts a JOIN certificates c ON c.test_attempt_id = a.id
        WHERE c.id IN (${s.a}, ${s.b}, ${s.d}, ${s.f})`,
    ).toEqual(Array(4).fill({ score: null, max_score: null }));
    for (const id of [s.a, s.b, s.d, s.f])
      expect(await findById(t.sql, id), id).toMatchObject({ score: null, maxScore: null, studentName: null });
    const underPseudonym = await findByStudent(t.sql, pseudonyms.get(s.d) ?? '', { limit: 10 });
    expect(underPseudonym.items.map((view) => [view.id, view.score, view.maxScore])).toEqual([
      [s.d, null, null],
    ]);
    // The attempt behind each takes its certificate's pseudonym (a and its replacement b share
    // one attempt, which takes a's, the original's).
    const attempts = await t.sql<{ id: string; attempt_student: string }[]>`
      SELECT c.id, a.student_id AS attempt_student FROM certificates c JOIN test_attempts a ON a.id = c.test_attempt_id
      WHERE c.id IN (${s.a}, ${s.d}, ${s.f})`;
    for (const row of attempts) expect(row.attempt_student, row.id).toBe(pseudonyms.get(row.id));
    // An attempt that kept its score all the same (an erasure by code from before, a rolled-back
    // schema's 0 out of 1): a tombstone still shows none.
    await t.sql`
      UPDATE test_attempts SET score = 91, max_score = 100
      WHERE id = (SELECT test_attempt_id FROM certificates WHERE id = ${s.a})`;
    expect(await findById(t.sql, s.a)).toMatchObject({ score: null, maxScore: null });
    // The erasure's revocations and its marks are dated to the day: one instant on all of them
    // would tie the person's tombstones together again. A revocation from before keeps its time.
    const dated = await t.sql<{ id: string; revoked_at: Date; erased_at: Date; updated_at: Date }[]>`
      SELECT id, revoked_at, erased_at, updated_at FROM certificates WHERE id IN (${s.b}, ${s.d}, ${s.f})`;
    const erasedAt = dated[0]?.erased_at.getTime() ?? Number.NaN;
    expect(erasedAt % 86_400_000).toBe(0);
    for (const row of dated) {
      expect(row.erased_at.getTime(), row.id).toBe(erasedAt);
      expect(row.updated_at.getTime(), row.id).toBe(erasedAt);
      expect(row.revoked_at.getTime(), row.id).toBe(
        row.id === s.f ? staffRevoked?.revoked_at.getTime() : erasedAt,
      );
    }
    // The failures that named the student name each certificate's own pseudonym, in every field.
    const failures = await t.sql<{ certificate_id: string; message: string; error: string; named: string }[]>`
      SELECT certificate_id, message, error, details->>'student_id' AS named FROM certificate_generation_log
      WHERE event = 'failed' AND certificate_id IN (${s.d}, ${s.f})`;
    expect(failures).toHaveLength(2);
    for (const row of failures) {
      const own = pseudonyms.get(row.certificate_id) ?? '';
      expect(row, row.certificate_id).toEqual({
        certificate_id: row.certificate_id,
        message: `Failed to generate certificate for student: ${own}`,
        error: `Keycloak: user ${own} not found`,
        named: own,
      });
    }
    // The orphans' events: a random id each, not one the person's other events share.
    const orphans = await t.sql<{ student: string }[]>`
      SELECT data->>'studentId' AS student FROM webhook_outbox WHERE certificate_id = ANY (${s.orphans}::uuid[])`;
    expect(orphans).toHaveLength(2);
    expect(new Set([...orphans.map((row) => row.student), ...pseudonyms.values()]).size).toBe(6);
    const byId = new Map(tombstones.map((row) => [row.id, row]));
    expect(byId.get(s.b)?.status_list_id).toBe(byId.get(s.d)?.status_list_id);
    expect(byId.get(s.a)?.superseded_by).toBe(s.b);
    for (const id of [s.b, s.d])
      expect(byId.get(id)).toMatchObject({
        status: 'revoked',
        revocation_reason: 'requested-by-holder',
        revoked_by: ACTOR,
      });
    // Revoked before: its reason and who revoked stay, staff's words do not.
    expect(byId.get(s.f)).toMatchObject({ status: 'revoked', revocation_reason: 'other', revoked_by: STAFF });

    // The audit: one revocation row each, by the actor, marked as an erasure; staff's reissue
    // reason is gone; the event and actor of the reissue stay.
    const audit = await t.sql<
      {
        certificate_id: string;
        event: string;
        actor: string | null;
        message: string | null;
        erasure: string;
      }[]
    >`
      SELECT certificate_id, event, actor, message, details->>'erasure' AS erasure
      FROM certificate_generation_log WHERE certificate_id IN (${s.a}, ${s.b}, ${s.d}, ${s.f}) ORDER BY id`;
    expect(
      audit
        .filter((row) => row.event === 'revoked')
        .map((row) => [row.certificate_id, row.actor, row.erasure])
        .sort(),
    ).toEqual(
      [
        [s.b, ACTOR, 'true'],
        [s.d, ACTOR, 'true'],
        [s.f, STAFF, null],
      ].sort(),
    );
    expect(audit.find((row) => row.event === 'superseded')).toMatchObject({
      actor: STAFF,
      message: '[erased]',
    });

    // Receivers hear of the revocations (and of d's expiry, first), under each one's pseudonym.
    const events = await t.sql<
      { event_type: string; certificate_id: string; student: string; reason: string }[]
    >`
      SELECT event_type, certificate_id, data->>'studentId' AS student, data->>'revocationReason' AS reason
      FROM webhook_outbox WHERE certificate_id IN (${s.b}, ${s.d}) AND event_type <> 'certificate.issued'
      ORDER BY occurred_at, id`;
    // The expiry is dated at the expiry, before the revocations (dated alike, in any order).
    expect(events[0]).toMatchObject({ event_type: 'certificate.expired', certificate_id: s.d });
    expect(
      events
        .slice(1)
        .map((row) => [row.event_type, row.certificate_id, row.reason])
        .sort(),
    ).toEqual(
      [
        ['certificate.revoked', s.b, 'requested-by-holder'],
        ['certificate.revoked', s.d, 'requested-by-holder'],
      ].sort(),
    );
    for (const row of events) expect(row.student).toBe(pseudonyms.get(row.certificate_id));

    // The public record: revoked at the holder's request, no name, no file hash.
    const b = byId.get(s.b);
    const [code] = await t.sql<{ verification_code: string }[]>`
      SELECT verification_code FROM certificates WHERE id = ${b?.id ?? ''}`;
    const verification = await verifyCertificate(t.sql, code?.verification_code ?? '');
    expect(verification).toMatchObject({
      studentName: null,
      status: 'revoked',
      revocationReason: 'requested-by-holder',
      pdfSha256: null,
    });
    expect(verification).not.toHaveProperty('score');

    // Nothing is left to issue from: the scan and the later-pass rule find nothing.
    expect((await enqueuePassingAttempts(t.sql, 100)).scanned).toBe(0);
    expect(await redecideWaitingLaterPasses({ sql: t.sql, log })).toEqual({ decided: 0, created: 0 });

    // A tombstone stays one: no name, file or issued status can be put back.
    for (const change of [
      t.sql`UPDATE certificates SET student_name = 'Erika Mustermann' WHERE id = ${s.b}`,
      t.sql`UPDATE certificates SET s3_key = 'certificates/x.pdf' WHERE id = ${s.b}`,
      t.sql`UPDATE certificates SET status = 'issued', s3_key = 'certificates/x.pdf', pdf_sha256 = repeat('a', 64) WHERE id = ${s.a}`,
    ])
      await expect(change).rejects.toThrow(/certificates_erased_is_tombstone/);

    // The log line has counts, never the student.
    expect(JSON.stringify(log.entries)).not.toContain(s.student);
  });

  it('leaves no Open Badges credential to hand out for a tombstone, publicly or to staff', async () => {
    const s = await seed(t.sql);
    const settings: CredentialSettings = {
      apiBaseUrl: 'https://certs.example.org/api/v1',
      verifyBaseUrl: 'https://certs.example.org/verify',
      issuer: { id: 'https://certs.example.org', name: 'Example Academy' },
      statusListTtlSeconds: 300,
    };
    const sign = async () => 'unused.jwt.value';
    const [{ code } = { code: '' }] = await t.sql<{ code: string }[]>`
      SELECT verification_code AS code FROM certificates WHERE id = ${s.b}`;
    // Before: the issued certificate has one, by its code and by its id.
    await expect(signedOpenBadgeForCode({ sql: t.sql, sign }, settings, code)).resolves.toMatchObject({
      certificateId: s.b,
    });
    await eraseStudent({ sql: t.sql, log: recordingLog() }, { studentId: s.student, actor: ACTOR });
    // After: its subject would be a pseudonym and its name gone; the page still says revoked.
    await expect(signedOpenBadgeForCode({ sql: t.sql, sign }, settings, code)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(openBadgeForCertificate({ sql: t.sql }, settings, s.b)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    // The other student's certificate keeps its credential.
    await expect(openBadgeForCertificate({ sql: t.sql }, settings, s.e)).resolves.toMatchObject({
      credentialSubject: expect.anything(),
    });
  });

  it('a second run does nothing', async () => {
    const s = await seed(t.sql);
    await eraseStudent({ sql: t.sql, log: recordingLog() }, { studentId: s.student, actor: ACTOR });
    const snapshot = async () => ({
      certificates: await t.sql`SELECT * FROM certificates ORDER BY id`,
      log: await t.sql`SELECT id, message, details FROM certificate_generation_log ORDER BY id`,
      outbox: await t.sql`SELECT id, data FROM webhook_outbox ORDER BY id`,
      attempts: await t.sql`SELECT * FROM test_attempts ORDER BY id`,
      lists: await t.sql`SELECT id, bits FROM status_lists ORDER BY id`,
    });
    const before = await snapshot();
    const again = await eraseStudent(
      { sql: t.sql, log: recordingLog() },
      { studentId: s.student, actor: ACTOR },
    );
    expect(again).toEqual({
      dryRun: false,
      certificatesDeleted: 0,
      certificatesRevoked: 0,
      tombstones: [],
      attemptsDeleted: 0,
      attemptsPseudonymised: 0,
      webhookEventsPseudonymised: 0,
      auditRowsScrubbed: 0,
      s3Prefixes: [],
      s3Keys: [],
    });
    expect(await snapshot()).toEqual(before);
  });

  it('rolls everything back when a row would still name the student', async () => {
    const s = await seed(t.sql);
    // A row no step rewrites: an audit row of no certificate that names the student.
    const [stray] = await t.sql<{ id: string }[]>`
      INSERT INTO certificate_generation_log (event, message, details)
      VALUES ('note', 'hand-written', jsonb_build_object('student', ${s.student}::text)) RETURNING id`;
    const before = await rowsContaining(t.sql, s.student);

    const attempt = eraseStudent({ sql: t.sql, log: recordingLog() }, { studentId: s.student, actor: ACTOR });
    await expect(attempt).rejects.toBeInstanceOf(ErasureIncompleteError);
    await expect(attempt).rejects.toThrow(/certificate_generation_log 1/);
    expect(await rowsContaining(t.sql, s.student)).toEqual(before);
    expect(await statusBit(t.sql, s.b)).toBe(0);
    const [b] = await t.sql<{ status: string }[]>`SELECT status::text FROM certificates WHERE id = ${s.b}`;
    expect(b?.status).toBe('issued');

    await t.sql`DELETE FROM certificate_generation_log WHERE id = ${stray?.id ?? 0}`;
    await eraseStudent({ sql: t.sql, log: recordingLog() }, { studentId: s.student, actor: ACTOR });
    expect(await rowsContaining(t.sql, s.student)).toEqual({});
  });

  it("takes the certificate a scan inserts for the student while it waits for that attempt: deleted, not a tombstone's CHECK violation", async () => {
    const courseId = await createCourse(t.sql);
    const student = randomUUID();
    const attempt = await createAttempt(t.sql, { studentId: student, courseId, score: 90 });
    // The scan's enqueue holds the attempt and inserts its pending certificate; the erasure has
    // read the student's certificates before then and waits for the attempt's lock.
    const erased = await contendWithOpenTransaction(
      t.sql,
      (held) => enqueuePassingAttempts(held, 10, { filter: { courseId } }),
      () => eraseStudent({ sql: t.sql, log: recordingLog() }, { studentId: student, actor: ACTOR }),
    );
    expect(erased.status === 'fulfilled' ? erased.value : erased.reason).toMatchObject({
      certificatesDeleted: 1,
      tombstones: [],
      attemptsDeleted: 1,
    });
    expect(await rowsContaining(t.sql, student)).toEqual({});
    const [left] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificates WHERE test_attempt_id = ${attempt}`;
    expect(left?.n).toBe(0);
  });

  it("locks the student's certificates oldest first, as a replacement's issue, a revocation and a key compromise do: no deadlock", async () => {
    const courseId = await createCourse(t.sql);
    const student = randomUUID();
    const ids = [
      await createPendingCertificate(t.sql, { studentId: student, courseId, score: 90 }),
      await createPendingCertificate(t.sql, {
        studentId: student,
        courseId: await createCourse(t.sql),
        score: 80,
      }),
    ].sort();
    const [first = '', second = ''] = ids;
    // The older of the two has the larger id, as an original whose replacement drew a smaller
    // one: generate holds the original (lockReplaced), then asks for its replacement while the
    // erasure waits. Locked by id, the erasure would hold the replacement and wait for the
    // original. (queueReplacements, revokeIssued: the same order, the older first.)
    await t.sql`UPDATE certificates SET created_at = now() - interval '1 day' WHERE id = ${second}`;
    const erased = await contendWithOpenTransaction(
      t.sql,
      (held) => held`SELECT id FROM certificates WHERE id = ${second} FOR NO KEY UPDATE`,
      () => eraseStudent({ sql: t.sql, log: recordingLog() }, { studentId: student, actor: ACTOR }),
      (held) => held`SELECT id FROM certificates WHERE id = ${first} FOR NO KEY UPDATE`,
    );
    expect(erased.status === 'fulfilled' ? erased.value : erased.reason).toMatchObject({
      certificatesDeleted: 2,
    });
  });

  it("does not hold the status list's row, which every issue on the list updates, while it scans the outbox and the audit log", async () => {
    const courseId = await createCourse(t.sql);
    const student = randomUUID();
    const certificate = await createPendingCertificate(t.sql, { studentId: student, courseId, score: 90 });
    await issue(t.sql, certificate, 'Grace Hopper');
    const [entry] = await t.sql<{ status_list_id: string }[]>`
      SELECT status_list_id FROM certificates WHERE id = ${certificate}`;
    await t.sql`
      INSERT INTO webhook_outbox (event_type, certificate_id, data)
      VALUES ('certificate.issued', ${certificate}, jsonb_build_object('studentId', ${student}::text))`;
    let listFree: boolean | undefined;
    // An outbox row naming the student is held: the erasure, past its revocations, waits at the
    // outbox. Meanwhile the list's row must be free for the issues of other students.
    const erased = await contendWithOpenTransaction(
      t.sql,
      (held) => held`SELECT id FROM webhook_outbox WHERE data->>'studentId' = ${student} FOR UPDATE`,
      () => eraseStudent({ sql: t.sql, log: recordingLog() }, { studentId: student, actor: ACTOR }),
      async (held) => {
        await held`SAVEPOINT probe`;
        // The lock an issue's UPDATE of the list takes (its key unchanged): FOR NO KEY UPDATE.
        listFree = await held`
          SELECT id FROM status_lists WHERE id = ${entry?.status_list_id ?? null} FOR NO KEY UPDATE NOWAIT`
          .then((rows) => rows.length === 1)
          .catch(() => false);
        await held`ROLLBACK TO SAVEPOINT probe`;
      },
    );
    expect(listFree).toBe(true);
    expect(erased.status === 'fulfilled' ? erased.value : erased.reason).toMatchObject({
      certificatesRevoked: 1,
    });
    // And the bit is set, with the revocation, at the commit.
    expect(await statusBit(t.sql, certificate)).toBe(1);
  });

  it('ends in the "run it again" conflict, changing nothing, when it is the side PostgreSQL ends to break a deadlock', async () => {
    const courseId = await createCourse(t.sql);
    const student = randomUUID();
    const pending = await createPendingCertificate(t.sql, { studentId: student, courseId });
    const [{ attempt } = { attempt: '' }] = await t.sql<{ attempt: string }[]>`
      SELECT test_attempt_id AS attempt FROM certificates WHERE id = ${pending}`;
    // Another transaction holds the attempt and then wants the certificate, which the erasure
    // locked first while it waits for the attempt: a cycle. The other side checks for deadlocks
    // only after 30 s, so the erasure's check (1 s, the default) is the one that finds it, however
    // busy the machine.
    const erased = await contendWithOpenTransaction(
      t.sql,
      async (held) => {
        await held`SET LOCAL deadlock_timeout = '30s'`;
        await held`SELECT id FROM test_attempts WHERE id = ${attempt} FOR UPDATE`;
      },
      () => eraseStudent({ sql: t.sql, log: recordingLog() }, { studentId: student, actor: ACTOR }),
      (held) => held`SELECT id FROM certificates WHERE id = ${pending} FOR UPDATE`,
    );
    const outcome = erased.status === 'rejected' ? erased.reason : erased.value;
    expect(outcome).toBeInstanceOf(ConflictError);
    expect(outcome).toMatchObject({ details: { code: 'erasure_locked' } });
    const [kept] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificates WHERE id = ${pending} AND student_id = ${student}`;
    expect(kept?.n).toBe(1);
  });

  it('refuses what is not a student id or an actor', async () => {
    const deps = { sql: t.sql, log: recordingLog() };
    await expect(eraseStudent(deps, { studentId: 'nope', actor: ACTOR })).rejects.toThrow(
      'studentId must be a UUID',
    );
    await expect(eraseStudent(deps, { studentId: randomUUID(), actor: '  ' })).rejects.toThrow(
      'actor must be 1-200 characters',
    );
    await expect(eraseStudent(deps, { studentId: randomUUID(), actor: 'x'.repeat(201) })).rejects.toThrow(
      'actor must be 1-200 characters',
    );
  });
});
