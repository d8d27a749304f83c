import type { Sql, TransactionSql } from '../db/client.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { assertUuid } from './ids.ts';
import { type RevocationReason, revokeIssued, setRevokedBits } from './lifecycle.ts';
import type { CertificateFileEraser, Log, PurgedFiles } from './ports.ts';

/**
 * Erasure of one student's personal data (the right to erasure), as the session-12 inventory's
 * tested procedure does it: the database in one transaction here, then the S3 files after the
 * commit (purgeStudentFiles), so that no upload can follow.
 *
 * A published certificate is not deleted. Deleting it would turn its code from "revoked" into
 * "unknown", and free its status-list index, whose bit stays set, for someone else's certificate.
 * It stays as a tombstone: verification code, course, dates, status, revocation date and reason
 * code, status-list entry. The person is removed from it: the student id becomes a random
 * pseudonym of its own, written nowhere but on its rows (one per tombstone, so that the tombstones
 * of one person, in several courses, cannot be listed together as one student's; the erasure's
 * revocations are dated to the day for the same reason); name, score,
 * credential, file and hash are cleared; erased_at
 * is set (the migration's CHECK keeps an erased row that way).
 *
 * What the transaction does:
 * - certificates never issued (pending, rendering, failed, dead) are deleted with their audit and
 *   outbox rows; their status bit is 0, so freeing their index is harmless;
 * - every issued certificate is revoked with `requested-by-holder`, its status bit set, one
 *   certificate per statement (an UPDATE of status_lists joined to several revoked rows of the
 *   same list sets only one of their bits: PostgreSQL applies one joined row per target row);
 * - every kept certificate is scrubbed, the attempts behind them pseudonymised, the others
 *   deleted, their audit rows and every outbox event naming the student rewritten;
 * - if any row still names the student, it rolls back.
 *
 * Running it again finds nothing: the student's id is in no row any more.
 */

/** The documented reason code of an erasure's revocations: the student asked for it to be withdrawn. */
export const ERASURE_REASON: RevocationReason = 'requested-by-holder';

/** How long the transaction waits for a row another one holds (a certificate being uploaded). */
const LOCK_TIMEOUT_SECONDS = 10;

/** Audit rows of the lifecycle whose actor is the system, not a member of staff. */
const SYSTEM_ACTORS = ['scan', 'backfill', 'ingestion'];

export interface EraseStudentInput {
  /** The student's Keycloak subject. */
  studentId: string;
  /** Who erases (e.g. `erasure-<ticket>`): recorded as revoked_by and on the audit rows. */
  actor: string;
  /** Run every statement, report what they did, and roll back. */
  dryRun?: boolean;
  /** S3_KEY_PREFIX, the first segment of every certificate's key. */
  keyPrefix?: string;
}

export interface ErasedTombstone {
  certificateId: string;
  verificationCode: string;
  status: 'revoked' | 'superseded';
}

export interface ErasureReport {
  dryRun: boolean;
  /** Certificates never issued, deleted. */
  certificatesDeleted: number;
  /** Issued certificates revoked (`requested-by-holder`), each with its status bit set. */
  certificatesRevoked: number;
  /** Certificates kept without the person: the ones just revoked and those revoked or superseded before. */
  tombstones: ErasedTombstone[];
  /** Attempts no certificate references, deleted. */
  attemptsDeleted: number;
  /** Attempts behind a tombstone: their certificate's pseudonym instead of the student, no score, no external reference. */
  attemptsPseudonymised: number;
  /** Outbox events (sent or not) whose studentId is now their certificate's pseudonym. */
  webhookEventsPseudonymised: number;
  /** Audit rows of the tombstones with the file key, staff's text and the student id removed. */
  auditRowsScrubbed: number;
  /** The student's folders of the bucket, `{keyPrefix}/{course}/{student}/`: to empty after the commit. */
  s3Prefixes: string[];
  /** Recorded keys outside those folders (written under another S3_KEY_PREFIX): to delete too. */
  s3Keys: string[];
}

export interface ErasureDeps {
  sql: Sql;
  log: Log;
}

/** Rows still name the student after every step: the transaction was rolled back. */
export class ErasureIncompleteError extends ConflictError {
  constructor(remaining: Record<string, number>) {
    super(
      `rows still name the student after the erasure, so nothing was changed: ${Object.entries(remaining)
        .filter(([, count]) => count > 0)
        .map(([table, count]) => `${table} ${count}`)
        .join(', ')}`,
      { code: 'erasure_incomplete', remaining },
    );
  }
}

/** A dry run's way out of the transaction: thrown after the report, so that everything rolls back. */
class DryRunRollback extends Error {
  constructor(readonly report: ErasureReport) {
    super('dry run: rolled back');
  }
}

function parseActor(actor: string): string {
  const trimmed = actor.trim();
  if (trimmed.length < 1 || trimmed.length > 200)
    throw new ValidationError('actor must be 1-200 characters', 'actor');
  return trimmed;
}

/**
 * PostgreSQL's lock_not_available (lock_timeout ran out) or deadlock_detected (this transaction
 * was the one ended to break a deadlock with another that holds some of the student's rows and
 * waits for others): either way nothing was changed, and running it again can succeed.
 */
function isLockContention(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    (error.code === '55P03' || error.code === '40P01')
  );
}

/** Erases the student's personal data from the database (see the module comment). */
export async function eraseStudent(deps: ErasureDeps, input: EraseStudentInput): Promise<ErasureReport> {
  const studentId = assertUuid(input.studentId, 'studentId');
  const actor = parseActor(input.actor);
  const keyPrefix = input.keyPrefix ?? 'certificates';
  const dryRun = input.dryRun ?? false;
  let report: ErasureReport;
  try {
    report = (await deps.sql.begin(async (tx) => {
      const erased = await eraseInTransaction(tx, { studentId, actor, keyPrefix, dryRun });
      if (dryRun) throw new DryRunRollback(erased);
      return erased;
    })) as ErasureReport;
  } catch (error) {
    if (error instanceof DryRunRollback) report = error.report;
    else if (isLockContention(error))
      throw new ConflictError(
        "another transaction holds the student's rows (a certificate being uploaded, a scan): nothing was changed, run it again",
        { code: 'erasure_locked' },
      );
    else throw error;
  }
  // Counts only: the student id stays out of the logs.
  deps.log.info(dryRun ? 'Student erasure dry run' : 'Student erased', {
    actor,
    certificates_deleted: report.certificatesDeleted,
    certificates_revoked: report.certificatesRevoked,
    tombstones: report.tombstones.length,
    attempts_deleted: report.attemptsDeleted,
    attempts_pseudonymised: report.attemptsPseudonymised,
  });
  return report;
}

async function eraseInTransaction(
  tx: TransactionSql,
  input: { studentId: string; actor: string; keyPrefix: string; dryRun: boolean },
): Promise<ErasureReport> {
  const { studentId, actor } = input;
  await tx.unsafe(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT_SECONDS}s'`);

  // 1. Lock the student's rows. A generate that is uploading holds its certificate until it is
  //    marked issued: this waits for it and then sees it issued. Then their attempts: the scan's
  //    claim of attempts (FOR UPDATE SKIP LOCKED) passes the locked ones by, and one it already
  //    holds is waited for while it inserts that attempt's certificate. Read the certificates
  //    again once both are locked: a certificate inserted and committed while a lock was waited
  //    for (the scan's, a replacement by a reissue or the later-pass rule) is not in the first
  //    read's snapshot, and none can come after (its attempt or its original is locked now).
  //    Oldest first, the order of every other path that locks two of one student's certificates:
  //    a replacement's issue (generate) and a revocation lock the original before its replacement,
  //    and a key compromise's batch (queueReplacements) locks by age. In another order, each
  //    could hold one of the two and wait for the other (a deadlock).
  await tx`SELECT id FROM certificates WHERE student_id = ${studentId} ORDER BY created_at, id FOR UPDATE`;
  await tx`SELECT id FROM test_attempts WHERE student_id = ${studentId} ORDER BY id FOR UPDATE`;
  const certificates = await tx<
    { id: string; course_id: string; status: string; generated_at: Date | null; s3_key: string | null }[]
  >`
    SELECT id, course_id, status::text, generated_at, s3_key FROM certificates
    WHERE student_id = ${studentId} ORDER BY created_at, id FOR UPDATE`;

  // 2. Where the student's files are: every course folder a certificate of theirs was written to,
  //    and any recorded key outside those (an earlier S3_KEY_PREFIX).
  const s3Prefixes = [
    ...new Set(certificates.map((row) => `${input.keyPrefix}/${row.course_id}/${studentId}/`)),
  ];
  const s3Keys = [
    ...new Set(
      certificates
        .map((row) => row.s3_key)
        .filter((key): key is string => key !== null && !s3Prefixes.some((prefix) => key.startsWith(prefix))),
    ),
  ];

  // 3. Certificates never issued are deleted. Nothing public ever named them; the foreign keys of
  //    a successor link, the audit rows and outbox rows (none cascade) go first.
  const unissued = certificates.filter((row) => row.generated_at === null).map((row) => row.id);
  let certificatesDeleted = 0;
  if (unissued.length > 0) {
    await tx`
      UPDATE certificates SET superseded_by = NULL, updated_at = now()
      WHERE superseded_by = ANY (${unissued}::uuid[])`;
    await tx`DELETE FROM certificate_generation_log WHERE certificate_id = ANY (${unissued}::uuid[])`;
    await tx`DELETE FROM webhook_outbox WHERE certificate_id = ANY (${unissued}::uuid[])`;
    certificatesDeleted = (
      await tx`DELETE FROM certificates WHERE id = ANY (${unissued}::uuid[]) RETURNING id`
    ).length;
  }

  // 4. Every issued certificate is revoked, one per statement (see the module comment). Their
  //    status bits are set last, after the scans below: the list's row, which every certificate
  //    issued on that list updates, is locked from then to the commit only.
  const revokedIds: string[] = [];
  for (const row of certificates.filter((certificate) => certificate.status === 'issued')) {
    const revoked = await revokeIssued(tx, {
      certificateId: row.id,
      reasonCode: ERASURE_REASON,
      reasonText: null,
      actor,
      details: { erasure: true },
      deferBit: true,
    });
    if (revoked) revokedIds.push(row.id);
  }
  const certificatesRevoked = revokedIds.length;

  // 5. What is left are tombstones: the person is removed from them. The revocations this erasure
  //    made, and its own marks, are dated to the day (UTC), not the transaction's instant: one
  //    instant on every tombstone of the person would tie them together again, under their own
  //    pseudonyms, for whoever reads revokedAt (staff reads show it); the day ties them only to
  //    that day's other erasures.
  const erasedOn = tx`date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;
  const tombstones = await tx<{ id: string; verification_code: string; status: 'revoked' | 'superseded' }[]>`
    UPDATE certificates
    SET student_id = gen_random_uuid(), student_name = NULL, score = NULL, max_score = NULL, percentage = NULL,
        credential_jws = NULL, s3_key = NULL, pdf_sha256 = NULL, pdf_bytes = NULL, revoked_reason = NULL,
        last_error = NULL, erased_at = ${erasedOn}, updated_at = ${erasedOn},
        revoked_at = CASE WHEN id = ANY (${revokedIds}::uuid[]) THEN ${erasedOn} ELSE revoked_at END
    WHERE student_id = ${studentId}
    RETURNING id, verification_code, status::text`;
  const tombstoneIds = tombstones.map((row) => row.id);

  // 6. The attempts behind a tombstone stay (certificates.test_attempt_id references them), under
  //    their certificate's pseudonym (an attempt behind two, an original and its replacement,
  //    takes the original's: the two are linked anyway) and without their score (the staff routes
  //    showed a tombstone the attempt's).
  //    Marked enqueued, so that neither the scan nor a backfill ever takes one for a new
  //    certificate. Every other attempt is deleted: nothing is left to issue from.
  const attemptsPseudonymised = (
    await tx`
      UPDATE test_attempts a
      SET student_id = (SELECT c.student_id FROM certificates c WHERE c.test_attempt_id = a.id
                        ORDER BY c.created_at, c.id LIMIT 1),
          external_ref = NULL, score = NULL, max_score = NULL,
          certificate_enqueued_at = coalesce(a.certificate_enqueued_at, now())
      WHERE a.student_id = ${studentId}
        AND EXISTS (SELECT 1 FROM certificates c WHERE c.test_attempt_id = a.id)
      RETURNING a.id`
  ).length;
  const attemptsDeleted = (await tx`DELETE FROM test_attempts WHERE student_id = ${studentId} RETURNING id`)
    .length;

  // 7. The tombstones' audit rows: no file key (it holds the student id), no file hash or size
  //    (whoever holds a copy of the PDF could hash it and find the record again), no staff free
  //    text (a revocation's words, a reissue's reason such as "Name corrected: ...", a requeue's
  //    such as "restored in Keycloak", whose rows name the requester in details), and the
  //    student id wherever else it appears replaced by the certificate's pseudonym. Event, time
  //    and actor stay.
  const auditRowsScrubbed = (
    await tx`
      UPDATE certificate_generation_log l
      SET details = replace(
            (l.details - 's3_key' - 'pdf_sha256' - 'pdf_bytes' - 'reason_text')::text, ${studentId}, c.student_id::text
          )::jsonb,
          message = CASE WHEN l.event IN ('revoked', 'requeued')
                           OR (l.event IN ('superseded', 'created', 'reissue-requested') AND l.actor IS NOT NULL
                               AND l.actor <> ALL (${SYSTEM_ACTORS}::text[]))
                         THEN '[erased]' ELSE replace(l.message, ${studentId}, c.student_id::text) END,
          error = replace(l.error, ${studentId}, c.student_id::text)
      FROM certificates c
      WHERE l.certificate_id = ANY (${tombstoneIds}::uuid[]) AND c.id = l.certificate_id
      RETURNING l.id`
  ).length;

  // 8. Every outbox event naming the student, delivered or not (a redelivery re-sends the stored
  //    data), of any certificate: the revocations just written included. A tombstone's events take
  //    its pseudonym; one of a certificate long deleted, a random id of its own.
  const webhookEventsPseudonymised = (
    await tx`
      UPDATE webhook_outbox o
      SET data = jsonb_set(data, '{studentId}', to_jsonb(coalesce(
            (SELECT c.student_id FROM certificates c WHERE c.id = o.certificate_id AND c.erased_at IS NOT NULL),
            gen_random_uuid())::text))
      WHERE data->>'studentId' = ${studentId}
      RETURNING id`
  ).length;

  // 9. Nothing may still name the student; otherwise nothing is changed at all.
  const [remaining] = await tx<
    {
      certificates: number;
      test_attempts: number;
      webhook_outbox: number;
      certificate_generation_log: number;
    }[]
  >`
    SELECT (SELECT count(*) FROM certificates WHERE student_id = ${studentId})::int AS certificates,
           (SELECT count(*) FROM test_attempts WHERE student_id = ${studentId})::int AS test_attempts,
           (SELECT count(*) FROM webhook_outbox WHERE strpos(data::text, ${studentId}) > 0)::int AS webhook_outbox,
           (SELECT count(*) FROM certificate_generation_log
            WHERE strpos(details::text, ${studentId}) > 0 OR strpos(coalesce(message, ''), ${studentId}) > 0
               OR strpos(coalesce(error, ''), ${studentId}) > 0)::int AS certificate_generation_log`;
  if (remaining && Object.values(remaining).some((count) => count > 0))
    throw new ErasureIncompleteError({ ...remaining });

  // 10. The revocations' status bits (step 4), just before the commit.
  await setRevokedBits(tx, revokedIds);

  return {
    dryRun: input.dryRun,
    certificatesDeleted,
    certificatesRevoked,
    // In a stable order: a dry run and the run after it report alike.
    tombstones: tombstones
      .map((row) => ({ certificateId: row.id, verificationCode: row.verification_code, status: row.status }))
      .sort((left, right) => left.certificateId.localeCompare(right.certificateId)),
    attemptsDeleted,
    attemptsPseudonymised,
    webhookEventsPseudonymised,
    auditRowsScrubbed,
    s3Prefixes,
    s3Keys,
  };
}

/**
 * issued -> revoked (`requested-by-holder`) for one certificate, already locked, as
 * revokeCertificate in lifecycle.ts does it: its status bit set, an expiry the sweep had not
 * announced yet announced first, and the audit row, here marked `erasure`. The revocation event
 * itself is written by the outbox trigger.
 */
// ---------------------------------------------------------------------------------------------
// Files

export interface FileErasureReport {
  /** Every prefix looked at, with what was found there (and, unless a dry run, deleted). */
  purged: PurgedFiles[];
  /** Object versions deleted (or, on a dry run, found) in all. */
  versions: number;
  deleteMarkers: number;
  /**
   * True when the server has no versioning API (the s3rver stand-in): only the current objects
   * could be listed and deleted, and older versions, if the server kept any, were not seen.
   */
  currentObjectsOnly: boolean;
}

/**
 * After the database commit: every version and delete marker under the student's folders. Also
 * the student's folder in every other course (one listing each, almost always empty): a second
 * run after the commit finds no certificate naming the student, and must still be able to finish
 * what an interrupted first one left in the bucket. `keys`: single recorded keys (ErasureReport).
 */
export async function purgeStudentFiles(
  deps: { sql: Sql; files: CertificateFileEraser },
  input: { studentId: string; keyPrefix?: string; prefixes: string[]; keys?: string[]; dryRun?: boolean },
): Promise<FileErasureReport> {
  const studentId = assertUuid(input.studentId, 'studentId');
  const keyPrefix = input.keyPrefix ?? 'certificates';
  const courses = await deps.sql<{ id: string }[]>`SELECT id FROM courses ORDER BY id`;
  const prefixes = [
    ...new Set([
      ...input.prefixes,
      ...courses.map((course) => `${keyPrefix}/${course.id}/${studentId}/`),
      ...(input.keys ?? []),
    ]),
  ];
  // Every prefix names the student's folder or one of their recorded keys, never a shorter one;
  // checked before anything is deleted.
  const foreign = prefixes.find(
    (prefix) => !prefix.includes(studentId) && !(input.keys ?? []).includes(prefix),
  );
  if (foreign !== undefined)
    throw new ValidationError(`refusing to purge ${foreign}: it is not the student's`, 'prefix');
  const purged: PurgedFiles[] = [];
  for (const prefix of prefixes)
    purged.push(await deps.files.purgePrefix(prefix, { dryRun: input.dryRun ?? false }));
  return {
    purged,
    versions: purged.reduce((sum, entry) => sum + entry.versions, 0),
    deleteMarkers: purged.reduce((sum, entry) => sum + entry.deleteMarkers, 0),
    currentObjectsOnly: purged.some((entry) => entry.listing === 'current-objects'),
  };
}
