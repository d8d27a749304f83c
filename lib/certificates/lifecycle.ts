import { randomInt, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Sql, TransactionSql } from '../db/client.ts';
import { ConflictError, errorMessage, NotFoundError, ValidationError } from '../errors.ts';
import { parseWith } from '../validation.ts';
import { dispatchWithinBudget } from './budget.ts';
import { expiredEventsFrom } from './expiry-events.ts';
import { assertUuid } from './ids.ts';
import type { Dispatch, Log } from './ports.ts';
import { printsSomething } from './text.ts';

/** How an immediate invoke is bounded: the dispatch lease and the shared budget (GENERATE_MAX_CONCURRENCY). */
export interface DispatchOptions {
  dispatchLeaseSeconds?: number;
  maxInFlight?: number;
}

/**
 * Certificate lifecycle after issue (issue 11): revoke, reissue, expiry by date, the status
 * list entry every issued certificate gets, and the rule for passing attempts that arrive while
 * the student already has (or had) a certificate for the course.
 *
 * Every transition is one SQL statement guarded by the state it leaves (`WHERE status =
 * 'issued'`), with its audit rows and its status-list bit in the same statement, so concurrent
 * calls resolve to exactly one winner and nothing half-done is ever committed.
 *
 * Revocation is final: there is no un-revoke. A certificate revoked by mistake is followed by a
 * new one (a later pass, or staff record a new attempt), never by editing the old record.
 */

// ---------------------------------------------------------------------------------------------
// Reasons and errors

/**
 * Why a certificate is revoked. The code is what verifiers and reports group by; the free text
 * says the rest (required with `other`).
 * - issued-in-error: wrong student, wrong course, test data, duplicate.
 * - academic-misconduct: cheating or plagiarism found after the fact.
 * - attempt-invalidated: the test attempt behind it was annulled or regraded below the pass mark.
 * - identity-fraud: someone other than the student took the test.
 * - requested-by-holder: the student asked for it to be withdrawn.
 * - other: anything else; reasonText is then required.
 */
export const REVOCATION_REASONS = [
  'issued-in-error',
  'academic-misconduct',
  'attempt-invalidated',
  'identity-fraud',
  'requested-by-holder',
  'other',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/**
 * What the public page and JSON say of a revocation's reason. Anyone the holder ever showed the
 * code reads it beside the holder's name, for as long as the record lives: "academic misconduct"
 * or "identity fraud" there is an accusation published about a person, which a verifier does not
 * need to know that the certificate no longer stands. So only the reasons that say nothing about
 * the holder's conduct are told as they are (the issuer's mistake, the holder's own request); the
 * others are "withdrawn by the issuer". Staff views and webhooks keep the code itself.
 */
export const PUBLIC_REVOCATION_REASONS = [
  'issued-in-error',
  'requested-by-holder',
  'withdrawn-by-issuer',
] as const;
export type PublicRevocationReason = (typeof PUBLIC_REVOCATION_REASONS)[number];

export function publicRevocationReason(reason: RevocationReason | null): PublicRevocationReason | null {
  if (reason === null) return null;
  return reason === 'issued-in-error' || reason === 'requested-by-holder' ? reason : 'withdrawn-by-issuer';
}

/** CertificateStateError's status for an issued certificate whose replacement is not issued yet. */
export const REPLACEMENT_PENDING = 'replacement-pending';
/** The 409 `status` of a reissue asked of an issued certificate past its expiry. */
export const EXPIRED = 'expired';

/** The certificate is not in a state the action can leave (already revoked, not issued yet...). */
export class CertificateStateError extends ConflictError {
  constructor(
    readonly action: 'revoke' | 'reissue',
    readonly certificateId: string,
    readonly status: string,
  ) {
    super(
      status === 'revoked' && action === 'revoke'
        ? 'certificate is already revoked'
        : status === REPLACEMENT_PENDING
          ? 'a replacement of this certificate is already being issued (if it is dead, requeue it)'
          : status === EXPIRED && action === 'reissue'
            ? 'certificate has expired; a reissue keeps its expiry, so a new passing attempt renews it instead'
            : `certificate is ${status}; only issued certificates can be ${action === 'revoke' ? 'revoked' : 'reissued'}`,
      { certificateId, status, action },
    );
  }
}

const actorSchema = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

/** Who acts, as the audit rows record them: trimmed, 1-200 characters. */
export const parseActor = (actor: string): string => parseWith(actorSchema, actor, 'actor');

export const revokeInputSchema = z
  .strictObject({
    reasonCode: z.enum(REVOCATION_REASONS, { error: `must be one of ${REVOCATION_REASONS.join(', ')}` }),
    reasonText: z.string().trim().max(1000, 'must be at most 1000 characters').optional(),
  })
  // Something the holder can read: invisible characters alone (a zero-width space) are not a reason.
  .refine((input) => input.reasonCode !== 'other' || printsSomething(input.reasonText ?? ''), {
    path: ['reasonText'],
    message: 'is required when reasonCode is other',
  });

export const reissueInputSchema = z.strictObject({
  reason: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(1000, 'must be at most 1000 characters')
    // Checked after trimming, so the same as min(1); it is here for the published schema, which
    // sees the untrimmed value ("   " is blank).
    .regex(/\S/, 'must not be empty')
    .refine(printsSomething, 'must not be empty'),
});

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.map(String).join('.') || undefined;
  throw new ValidationError(field ? `${field} ${issue?.message ?? 'is invalid'}` : 'invalid input', field);
}

async function currentStatus(sql: Sql, certificateId: string): Promise<string> {
  const [row] = await sql<
    { status: string }[]
  >`SELECT status::text FROM certificates WHERE id = ${certificateId}`;
  if (!row) throw new NotFoundError('certificate');
  return row.status;
}

// An issued certificate past its date whose expiry the sweep (lib/webhooks/expiry-sweep.ts) has
// not announced yet is never swept once it leaves `issued`. Revoke, reissue and a renewal announce
// that expiry themselves, in the statement that moves it, as the sweep would have: these four
// fragments make a statement `WITH prior, x AS (UPDATE ... FROM prior ...), lapsed, expired, ...`.

/**
 * `prior`: the certificate to move, if issued, locked before the update reads it, with whether its
 * expiry is due and unannounced. Locked first so that this is judged on the version the update
 * changes: a sweep that marked it while this statement waited has announced it already.
 */
/**
 * The "live" certificate of a student and course (or attempt), as the unique indexes count it:
 * not revoked or superseded, and a replacement only once it is issued (until then the certificate
 * it replaces is the live one). At most one row matches.
 */
export function isLive(sql: Sql | TransactionSql, alias: string) {
  const c = sql(alias);
  return sql`${c}.status NOT IN ('revoked', 'superseded') AND (${c}.replaces IS NULL OR ${c}.status = 'issued')`;
}

function lapsedBefore(sql: Sql | TransactionSql, certificateId: string) {
  return sql`prior AS (
      SELECT id, (expires_at IS NOT NULL AND expires_at <= now() AND expiry_notified_at IS NULL) AS lapsed
      FROM certificates WHERE id = ${certificateId} AND status = 'issued'
      FOR UPDATE
    )`;
}

/** In the update's SET: marks the expiry announced, as the sweep does (silent ones included). */
function markLapsed(sql: Sql | TransactionSql) {
  return sql`expiry_notified_at = CASE WHEN prior.lapsed THEN now() ELSE c.expiry_notified_at END`;
}

/** In the update's RETURNING: what `lapsed` and the event need, under the names they use. */
function lapsedColumns(sql: Sql | TransactionSql) {
  return sql`c.id, c.student_id, c.course_id, c.verification_code, c.expires_at, c.notify, prior.lapsed`;
}

/**
 * `lapsed` and `expired`: the `certificate.expired` event of a lapsed one (expiredEventsFrom).
 * Its timestamp is the expiry, so it is delivered before the status event the trigger writes.
 */
function announceLapsed(sql: Sql | TransactionSql) {
  return sql`lapsed AS (SELECT * FROM x WHERE x.lapsed),
    expired AS (${expiredEventsFrom(sql, 'lapsed')})`;
}

// In the statements below, PostgreSQL's set_bit numbers bits from the least significant one of
// each byte while the W3C list numbers them from the most significant one: spec index i is
// set_bit position (i / 8) * 8 + 7 - i % 8.

// ---------------------------------------------------------------------------------------------
// Revoke

export interface LifecycleDeps {
  sql: Sql;
  log: Log;
}

export interface RevokeInput {
  certificateId: string;
  reasonCode: RevocationReason;
  reasonText?: string;
  /** Who revokes it (the staff member's subject); goes into the certificate and the audit row. */
  actor: string;
}

export interface RevokeResult {
  id: string;
  revokedAt: Date;
  reasonCode: RevocationReason;
  reasonText: string | null;
  /** Whether a status-list bit was set (false for certificates issued before status lists). */
  statusBitSet: boolean;
}

/**
 * Revokes one issued certificate, in the caller's transaction: status, lapsed expiry announced,
 * its status-list bit set, an audit row (its details with `details` added), and its waiting
 * replacement settled (settleReplacementOf). Nothing when it is not issued. revokeCertificate runs
 * it in a transaction of its own; an erasure (erasure.ts) in its transaction, once per
 * certificate (one UPDATE of status_lists joined to several rows of one list sets only one of
 * their bits).
 *
 * Statements in the order generate takes the same locks (the original, its replacement, the
 * status list): one statement doing it all would lock the list before the replacement, against
 * assignIssueLifecycle's order, and read the replacement with a snapshot older than the lock on
 * the original, missing one a reissue committed while this waited for it.
 */
export async function revokeIssued(
  tx: TransactionSql,
  input: {
    certificateId: string;
    reasonCode: RevocationReason;
    reasonText: string | null;
    actor: string;
    details?: Record<string, boolean>;
    /**
     * The caller sets the status bit itself, later in the same transaction (setRevokedBits): the
     * list's row, which every issue on that list updates, is then locked only from there to the
     * commit, not across the caller's other statements (an erasure's scans of whole tables).
     */
    deferBit?: boolean;
  },
): Promise<{ id: string; revoked_at: Date; bit_set: boolean } | undefined> {
  const { certificateId, reasonCode, reasonText: text, actor } = input;
  // Locked whatever its status, then judged: a certificate whose issuing transaction is open is
  // still 'rendering' to this statement's snapshot, and a status filter would pass it by without
  // waiting. Waiting, it is judged as that transaction left it (issued: revoked here).
  const [original] = await tx<{ test_attempt_id: string; status: string }[]>`
    SELECT test_attempt_id, status::text FROM certificates WHERE id = ${certificateId} FOR UPDATE`;
  if (original?.status !== 'issued') return undefined;
  // A new statement, so a new snapshot: it sees a replacement committed while this waited.
  const [replacement] = await tx<{ id: string; test_attempt_id: string }[]>`
    SELECT id, test_attempt_id FROM certificates
    WHERE replaces = ${certificateId} AND status IN ('pending', 'rendering', 'failed', 'dead')
    FOR UPDATE`;
  const [row] = await tx<{ id: string; revoked_at: Date; bit_set: boolean }[]>`
    WITH ${lapsedBefore(tx, certificateId)},
    x AS (
      UPDATE certificates c
      SET status = 'revoked', revoked_at = now(), revocation_reason = ${reasonCode}, revoked_reason = ${text},
          revoked_by = ${actor}, updated_at = now(), ${markLapsed(tx)}
      FROM prior
      WHERE c.id = prior.id AND c.status = 'issued'
      RETURNING c.revoked_at, c.status_list_id, c.status_list_index, ${lapsedColumns(tx)}
    ),
    ${announceLapsed(tx)},
    bit AS (
      UPDATE status_lists l SET bits = set_bit(l.bits, (x.status_list_index / 8) * 8 + 7 - x.status_list_index % 8, 1), updated_at = now()
      FROM x WHERE l.id = x.status_list_id AND NOT ${input.deferBit ?? false}::boolean
      RETURNING l.id
    ),
    audit AS (
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, message, actor, details)
      SELECT id, 'revoked', 'issued', 'revoked', ${text ?? reasonCode}, ${actor},
             jsonb_build_object('reason_code', ${reasonCode}::text, 'reason_text', ${text}::text,
                                'status_list_id', status_list_id, 'status_list_index', status_list_index)
               || ${tx.json(input.details ?? {})}::jsonb
      FROM x
    )
    SELECT id, revoked_at, EXISTS (SELECT 1 FROM bit) AS bit_set FROM x`;
  if (row && replacement)
    await settleReplacementOf(tx, {
      replacementId: replacement.id,
      originalId: certificateId,
      sameAttempt: replacement.test_attempt_id === original.test_attempt_id,
      reasonCode,
      reasonText: text,
      actor,
    });
  return row;
}

/**
 * Sets the status bits of revoked certificates whose revocation deferred them (revokeIssued's
 * `deferBit`), one statement per certificate: an UPDATE ... FROM joining two certificates of the
 * same list would update its row once, with one of the two bits.
 */
export async function setRevokedBits(tx: TransactionSql, certificateIds: readonly string[]): Promise<number> {
  let set = 0;
  for (const id of certificateIds) {
    const rows = await tx`
      UPDATE status_lists l
      SET bits = set_bit(l.bits, (c.status_list_index / 8) * 8 + 7 - c.status_list_index % 8, 1), updated_at = now()
      FROM certificates c
      WHERE c.id = ${id} AND c.status = 'revoked' AND l.id = c.status_list_id
      RETURNING l.id`;
    set += rows.length;
  }
  return set;
}

/**
 * A waiting replacement whose original was revoked. A staff reissue's (the same attempt) goes with
 * it: revoked before it was ever issued (no status bit, no event: nothing of it was ever
 * published). A renewal's or better score's is the certificate of a newer passing attempt: it no
 * longer replaces anything and is issued as that attempt's own (`own`), so the pass is not lost.
 */
async function settleReplacementOf(
  tx: TransactionSql,
  input: {
    replacementId: string;
    originalId: string;
    sameAttempt: boolean;
    reasonCode: RevocationReason;
    reasonText: string | null;
    actor: string;
  },
): Promise<'own' | 'cancelled'> {
  if (!input.sameAttempt) {
    // The newer pass's own certificate, unless the student already holds a live one for the course
    // (one only a replacement from before revocations settled them can meet): that covers the pass.
    const [detached] = await tx<{ id: string }[]>`
      WITH detached AS (
        UPDATE certificates r SET replaces = NULL, updated_at = now()
        WHERE r.id = ${input.replacementId} AND r.replaces = ${input.originalId}
          AND r.status IN ('pending', 'rendering', 'failed', 'dead')
          AND NOT EXISTS (
            SELECT 1 FROM certificates c
            WHERE c.student_id = r.student_id AND c.course_id = r.course_id AND c.id <> r.id AND ${isLive(tx, 'c')})
        RETURNING r.id
      )
      INSERT INTO certificate_generation_log (certificate_id, event, message, actor, details)
      SELECT id, 'replacement-detached',
             'the certificate it was to replace was revoked: issued as its own attempt''s certificate', ${input.actor},
             jsonb_build_object('replaced', ${input.originalId}::uuid)
      FROM detached
      RETURNING certificate_id AS id`;
    if (detached) return 'own';
  }
  await tx`
      WITH cancelled AS (
        UPDATE certificates
        SET status = 'revoked', revoked_at = now(), revocation_reason = ${input.reasonCode},
            revoked_reason = ${input.reasonText}, revoked_by = ${input.actor}, lease_owner = NULL,
            lease_expires_at = NULL, dispatched_until = NULL, updated_at = now()
        WHERE id = ${input.replacementId} AND replaces = ${input.originalId}
          AND status IN ('pending', 'rendering', 'failed', 'dead')
        RETURNING id
      )
      INSERT INTO certificate_generation_log (certificate_id, event, to_status, message, actor, details)
      SELECT id, 'revoked', 'revoked', 'the certificate it was to replace was revoked', ${input.actor},
             jsonb_build_object('reason_code', ${input.reasonCode}::text, 'replaces', ${input.originalId}::uuid)
      FROM cancelled`;
  return 'cancelled';
}

/**
 * issued -> revoked. Never deletes anything: the PDF stays in S3 and the row stays, the
 * download route answers 410 and the status list says revoked from the next time it is served.
 * Of concurrent calls exactly one succeeds; the others get CertificateStateError.
 */
export async function revokeCertificate(deps: LifecycleDeps, input: RevokeInput): Promise<RevokeResult> {
  assertUuid(input.certificateId, 'certificateId');
  const { reasonCode, reasonText } = parse(revokeInputSchema, {
    reasonCode: input.reasonCode,
    reasonText: input.reasonText,
  });
  const actor = parse(actorSchema, input.actor);
  // Text that prints nothing (a zero-width space) is no text: the reason code stands alone.
  const text = reasonText && printsSomething(reasonText) ? reasonText : null;
  const row = await deps.sql.begin((tx) =>
    revokeIssued(tx, { certificateId: input.certificateId, reasonCode, reasonText: text, actor }),
  );
  if (!row) {
    throw new CertificateStateError(
      'revoke',
      input.certificateId,
      await currentStatus(deps.sql, input.certificateId),
    );
  }
  deps.log.info('Certificate revoked', {
    certificate_id: row.id,
    reason_code: reasonCode,
    actor,
  });
  return { id: row.id, revokedAt: row.revoked_at, reasonCode, reasonText: text, statusBitSet: row.bit_set };
}

// ---------------------------------------------------------------------------------------------
// Reissue

export interface ReissueDeps extends LifecycleDeps {
  /** When given, generation of the new certificate is invoked at once (the scan stays the safety net). */
  dispatch?: Dispatch;
}

export interface ReissueInput {
  certificateId: string;
  reason: string;
  actor: string;
}

export interface ReissueResult {
  /** The new, pending certificate: same student, course and attempt; new id, code and S3 key. */
  id: string;
  supersedes: string;
  dispatched: boolean;
}

/**
 * The replacements of these certificates, created pending in one statement: those issued and
 * not expired, each at most once (certificates_one_replacement: a second call, or a replacement
 * already waiting, finds it), with the audit rows of both. Answers the replacements created.
 */
export function queueReplacements(sql: Sql, originalIds: readonly string[], reason: string, actor: string) {
  return sql<{ id: string; original: string }[]>`
    WITH locked AS (
      -- Locked whatever their status, then judged (x), as revokeIssued does: one whose issuing
      -- transaction is open is waited for instead of passed by as 'rendering'.
      SELECT c.id, c.student_id, c.course_id, c.test_attempt_id, c.status, c.expires_at FROM certificates c
      WHERE c.id = ANY (${[...originalIds]}::uuid[])
      -- Oldest first, the order of every path that locks two certificates of one student (an
      -- erasure; a replacement's issue and a revocation, the original before its replacement).
      ORDER BY c.created_at, c.id
      FOR UPDATE
    ),
    x AS (
      SELECT id, student_id, course_id, test_attempt_id FROM locked
      WHERE status = 'issued'
        -- A correction keeps the expiry (assignIssueLifecycle): an expired certificate's
        -- replacement would be born expired.
        AND (expires_at IS NULL OR expires_at > now())
    ),
    successor AS (
      INSERT INTO certificates (id, student_id, course_id, test_attempt_id, replaces)
      -- Created due and unreserved: dispatchNow reserves a budget slot, or the scan hands it out.
      SELECT gen_random_uuid(), student_id, course_id, test_attempt_id, id
      FROM x
      ON CONFLICT DO NOTHING
      RETURNING id, test_attempt_id, replaces
    ),
    audit AS (
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, message, actor, details)
      SELECT s.replaces, 'reissue-requested', 'issued'::certificate_status, 'issued'::certificate_status, ${reason}, ${actor},
             jsonb_build_object('replacement', s.id, 'test_attempt_id', s.test_attempt_id)
      FROM successor s
      UNION ALL
      SELECT s.id, 'created', NULL::certificate_status, 'pending'::certificate_status, ${reason}, ${actor},
             jsonb_build_object('reissue_of', s.replaces, 'test_attempt_id', s.test_attempt_id)
      FROM successor s
    )
    SELECT id, replaces AS original FROM successor`;
}

/**
 * A new pending certificate of the same attempt that replaces an issued one. The normal pipeline
 * renders it (fresh student name from Keycloak, current template) under its own id, so its PDF
 * gets a new S3 key and it gets a new verification code. The original stays issued, valid and
 * downloadable until the replacement is issued: that transaction supersedes it, links it through
 * superseded_by and sets its status-list bit (supersedeReplaced), so a replacement that fails for
 * good never leaves the holder without a valid certificate. A reissue is a correction, not a
 * renewal: the replacement keeps the original's expiry (assignIssueLifecycle), so an expired
 * certificate is refused (its replacement would be born expired; a new passing attempt renews it).
 * Of concurrent calls exactly one succeeds; the others, and any call while a replacement waits,
 * get CertificateStateError.
 */
export async function reissueCertificate(
  deps: ReissueDeps,
  input: ReissueInput,
  options: DispatchOptions = {},
): Promise<ReissueResult> {
  assertUuid(input.certificateId, 'certificateId');
  const { reason } = parse(reissueInputSchema, { reason: input.reason });
  const actor = parse(actorSchema, input.actor);
  const [row] = await queueReplacements(deps.sql, [input.certificateId], reason, actor);
  if (!row) {
    const [state] = await deps.sql<{ status: string; expired: boolean }[]>`
      SELECT status::text, (expires_at IS NOT NULL AND expires_at <= now()) AS expired
      FROM certificates WHERE id = ${input.certificateId}`;
    if (!state) throw new NotFoundError('certificate');
    throw new CertificateStateError(
      'reissue',
      input.certificateId,
      state.status !== 'issued' ? state.status : state.expired ? EXPIRED : REPLACEMENT_PENDING,
    );
  }
  const log = deps.log;
  log.info('Certificate reissued', { certificate_id: row.id, supersedes: input.certificateId, actor });
  const dispatched = await dispatchNow(deps, row.id, log, options);
  return { id: row.id, supersedes: input.certificateId, dispatched };
}

/**
 * First in a replacement's issuing transaction (generate): locks the certificate it replaces, in
 * the order revokeIssued locks the two, and says what it is now. `issued`: supersedeReplaced after
 * the upload. `revoked`: settleRevokedOriginal, once the lease is confirmed. Anything else (it was
 * superseded, by this replacement issued by a worker that took the lease over): the lease check
 * finds the replacement gone.
 */
// NO KEY UPDATE, as generate's own lock: held across the upload, it must not stop the original's
// analytics counters and audit rows (foreign keys to it) from being written meanwhile.
export async function lockReplaced(tx: TransactionSql, originalId: string): Promise<string | undefined> {
  const [original] = await tx<{ status: string }[]>`
    SELECT status::text FROM certificates WHERE id = ${originalId} FOR NO KEY UPDATE`;
  return original?.status;
}

/**
 * A replacement generate holds (lease confirmed) whose original was revoked without settling it
 * (a revocation from before revocations did): settled as revokeIssued would have. `cancelled`:
 * not to be issued; `own`: issued as its own attempt's certificate.
 */
export async function settleRevokedOriginal(
  tx: TransactionSql,
  input: { originalId: string; replacementId: string; replacementAttemptId: string },
): Promise<'cancelled' | 'own'> {
  const [original] = await tx<{ test_attempt_id: string; revocation_reason: RevocationReason | null }[]>`
    SELECT test_attempt_id, revocation_reason FROM certificates WHERE id = ${input.originalId}`;
  return await settleReplacementOf(tx, {
    replacementId: input.replacementId,
    originalId: input.originalId,
    sameAttempt: original?.test_attempt_id === input.replacementAttemptId,
    reasonCode: original?.revocation_reason ?? 'issued-in-error',
    reasonText: null,
    actor: 'system',
  });
}

/**
 * In the replacement's issuing transaction (generate), before the replacement is marked issued:
 * the certificate it replaces -> superseded, linked to it, its status-list bit set, its lapsed
 * expiry announced, with the audit row of whoever asked for the replacement and why. False when
 * the original is no longer issued (revoked meanwhile, which revokes a waiting replacement too).
 */
export async function supersedeReplaced(
  tx: TransactionSql,
  input: { originalId: string; replacementId: string },
): Promise<boolean> {
  const [row] = await tx<{ id: string }[]>`
    WITH ${lapsedBefore(tx, input.originalId)},
    request AS (
      SELECT l.message, l.actor, l.details FROM certificate_generation_log l
      WHERE l.certificate_id = ${input.replacementId} AND l.event = 'created'
      ORDER BY l.id LIMIT 1
    ),
    x AS (
      UPDATE certificates c
      SET status = 'superseded', superseded_by = ${input.replacementId}, superseded_at = now(), updated_at = now(),
          ${markLapsed(tx)}
      FROM prior
      WHERE c.id = prior.id AND c.status = 'issued'
      RETURNING c.status_list_id, c.status_list_index, ${lapsedColumns(tx)}
    ),
    ${announceLapsed(tx)},
    bit AS (
      UPDATE status_lists l SET bits = set_bit(l.bits, (x.status_list_index / 8) * 8 + 7 - x.status_list_index % 8, 1), updated_at = now()
      FROM x WHERE l.id = x.status_list_id
    ),
    audit AS (
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, message, actor, details)
      SELECT x.id, 'superseded', 'issued'::certificate_status, 'superseded'::certificate_status,
             coalesce(r.message, 'superseded by its replacement'), coalesce(r.actor, 'system'),
             jsonb_build_object('superseded_by', ${input.replacementId}::uuid)
               || coalesce(r.details - 'reissue_of', '{}'::jsonb)
      FROM x LEFT JOIN request r ON true
    )
    SELECT id FROM x`;
  return row !== undefined;
}

async function dispatchNow(
  deps: { sql: Sql; dispatch?: Dispatch },
  id: string,
  log: Log,
  options: DispatchOptions,
): Promise<boolean> {
  if (!deps.dispatch) return false;
  // Through the concurrency budget like every other invoke: when it is full the new certificate
  // simply waits, pending and due, for the scan.
  return await dispatchWithinBudget(
    { sql: deps.sql, dispatch: deps.dispatch, log },
    { dispatchLeaseSeconds: options.dispatchLeaseSeconds ?? 300, maxInFlight: options.maxInFlight },
    id,
  );
}

// ---------------------------------------------------------------------------------------------
// Expiry

/**
 * When a certificate issued on `issuedOn` (the printed UTC date, YYYY-MM-DD) expires: midnight
 * UTC at the start of the same day `validityMonths` later, clamped to the month's last day
 * (31 January + 1 month = 28/29 February), exactly as PostgreSQL's `date + interval` does in
 * assignIssueLifecycle. Null when the course has no validity period. Generate can call it
 * before rendering to print the date.
 */
export function expiresAtFor(issuedOn: string, validityMonths: number | null | undefined): Date | null {
  if (validityMonths === null || validityMonths === undefined) return null;
  if (!Number.isInteger(validityMonths) || validityMonths < 1)
    throw new RangeError('validityMonths must be >= 1');
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(issuedOn);
  if (!match) throw new RangeError('issuedOn must be YYYY-MM-DD');
  const [year, month, day] = [Number(match[1]), Number(match[2]) - 1, Number(match[3])];
  const target = month + validityMonths;
  const lastDay = utcDay(year, target + 1, 0).getUTCDate();
  return utcDay(year, target, Math.min(day, lastDay));
}

/** Midnight UTC of a day; not Date.UTC, which reads years 0-99 as 1900-1999. */
function utcDay(year: number, monthIndex: number, day: number): Date {
  const date = new Date(0);
  date.setUTCFullYear(year, monthIndex, day);
  return date;
}

/** The stored states (the `certificate_status` enum). */
export type CertificateStatus =
  | 'pending'
  | 'rendering'
  | 'issued'
  | 'failed'
  | 'dead'
  | 'revoked'
  | 'superseded';

/** The stored state, or `expired` for an issued certificate past its date. */
export type EffectiveStatus = CertificateStatus | 'expired';

/** What lists, downloads, the page and the credentials say: an issued certificate past its date is expired. */
export function effectiveStatus(
  row: { status: string; expires_at?: Date | null },
  now: Date,
): EffectiveStatus {
  const status = row.status as EffectiveStatus;
  if (status === 'issued' && row.expires_at && row.expires_at.getTime() <= now.getTime()) return 'expired';
  return status;
}

// ---------------------------------------------------------------------------------------------
// Status list entry and expiry at issue

export interface IssueLifecycleOptions {
  /** Entries per new list; at least 131,072 (the W3C minimum). */
  listSize?: number;
  /** Random index source in [0, max); injectable for tests. */
  random?: (max: number) => number;
  /**
   * The date that will be printed (YYYY-MM-DD, UTC), for a certificate still `rendering`: its
   * expiry is computed from it. An issued certificate's own issued_on takes precedence.
   */
  issuedOn?: string;
  /**
   * The lease owner of the generate attempt asking (with `issuedOn`): only the worker holding the
   * lease recomputes a rendering certificate's expiry. A worker whose lease was taken over prints
   * its own date and then writes nothing; without this it could overwrite the expiry the new
   * owner printed, and the record would disagree with the PDF.
   */
  owner?: string;
}

const DEFAULT_LIST_SIZE = 131_072;
const MAX_DRAWS = 64;
// Serialises the creation of revocation lists (any constant no other lock uses): concurrent
// allocations that find no open list create exactly one between them.
const STATUS_LIST_CREATE_LOCK = 7_316_003;

/**
 * For a certificate being rendered (claimed by generate) or just issued: its expiry from the
 * course's validity period and a random free index in an open revocation list (a new list is
 * created when none is open, by one of the allocations that find none). Idempotent: a
 * certificate that has its entry gets the same one back, so a retried render prints and embeds
 * the same status entry; while it is not issued its expiry is computed again from the date the
 * attempt prints. Generate calls it after its claim (with `issuedOn`, to print the expiry and
 * embed the credential); backfillIssueLifecycle (run by `npm run migrate`) gives certificates
 * issued before status lists existed theirs.
 *
 * Two statements, no explicit transaction: one reads the certificate's state and the open list,
 * one claims a drawn index (plus, when no list is open, a short locked one that creates it). The
 * list row is locked only while the claiming statement runs, because every generate container in the fleet allocates from the same list: before, the lock was held
 * across four round trips and a commit, and allocations queued behind it (in the benchmark's
 * drain, 8 certificates in flight spent a mean 89 ms here). The unique index on (list, index)
 * decides a race for one index; the loser draws again, as it does for an index already taken.
 */
export async function assignIssueLifecycle(
  sql: Sql,
  certificateId: string,
  options: IssueLifecycleOptions = {},
): Promise<{ statusListId: string; statusListIndex: number; expiresAt: Date | null } | null> {
  assertUuid(certificateId, 'certificateId');
  const size = options.listSize ?? DEFAULT_LIST_SIZE;
  if (!Number.isInteger(size) || size < DEFAULT_LIST_SIZE || size % 8 !== 0) {
    throw new RangeError('listSize must be a multiple of 8 and at least 131072');
  }
  const random = options.random ?? randomInt;
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    const [state] = await sql<
      {
        status: string;
        status_list_id: string | null;
        status_list_index: number | null;
        expires_at: Date | null;
        open_list_id: string | null;
        open_list_size: number | null;
        validity_months: number | null;
        validity_start: string | null;
        corrects: boolean;
        corrected_expires_at: Date | null;
      }[]
    >`
      SELECT c.status::text, c.status_list_id, c.status_list_index, c.expires_at,
             open.id AS open_list_id, open.size AS open_list_size, co.validity_months,
             to_char(c.validity_start, 'YYYY-MM-DD') AS validity_start,
             corrected.id IS NOT NULL AS corrects, corrected.expires_at AS corrected_expires_at
      FROM certificates c
      JOIN courses co ON co.id = c.course_id
      -- A staff reissue (a replacement of the same attempt) corrects its original and keeps its
      -- expiry: a name fix in month 11 of 12 must not grant 12 more months. A renewal's or a
      -- better score's replacement is another, newer pass: its validity starts at its own issue.
      LEFT JOIN certificates corrected
        ON corrected.id = c.replaces AND corrected.test_attempt_id = c.test_attempt_id
      LEFT JOIN LATERAL (
        SELECT id, size FROM status_lists
        WHERE purpose = 'revocation' AND allocated * 2 < size AND c.status_list_id IS NULL
        ORDER BY created_at, id
        LIMIT 1
      ) open ON true
      WHERE c.id = ${certificateId}`;
    if (state?.status !== 'issued' && state?.status !== 'rendering') return null;
    if (state.status_list_id !== null && state.status_list_index !== null) {
      let expiresAt = state.expires_at;
      if (state.status === 'rendering' && options.issuedOn !== undefined) {
        // Not issued yet: the expiry follows the date this attempt prints (a backfilled
        // certificate's, its pass: validity_start), not the first attempt's. A retry after
        // midnight, or a requeue weeks later, would otherwise print a validity partly or wholly
        // spent (issued today, expired last month).
        expiresAt = state.corrects
          ? state.corrected_expires_at
          : expiresAtFor(state.validity_start ?? options.issuedOn, state.validity_months);
        if (expiresAt?.getTime() !== state.expires_at?.getTime())
          await sql`
            UPDATE certificates SET expires_at = ${expiresAt}, updated_at = now()
            WHERE id = ${certificateId} AND status = 'rendering'
              AND (${options.owner ?? null}::text IS NULL OR lease_owner = ${options.owner ?? null}::text)`;
      }
      return { statusListId: state.status_list_id, statusListIndex: state.status_list_index, expiresAt };
    }
    if (state.open_list_id === null || state.open_list_size === null) {
      // No open list. Every generate in flight sees the same, so each creating its own left one
      // empty list per concurrent worker (a 128 Kibit list is published and signed for as long
      // as it exists). Under the lock, the first creates it and the others, looking again once
      // they hold the lock, find it open and draw from it.
      await sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${STATUS_LIST_CREATE_LOCK})`;
        // A new statement, so a new snapshot: it sees a list the previous lock holder committed.
        await tx`
          INSERT INTO status_lists (purpose, size, bits)
          SELECT 'revocation', ${size}, decode(repeat('00', ${size / 8}), 'hex')
          WHERE NOT EXISTS (
            SELECT 1 FROM status_lists WHERE purpose = 'revocation' AND allocated * 2 < size)`;
      });
      continue;
    }
    const listId = state.open_list_id;
    const index = random(state.open_list_size);
    let row: { status_list_index: number; expires_at: Date | null } | undefined;
    try {
      // One statement, so the count goes up exactly when the certificate gets its entry. The
      // list must still be open and the index free as of this statement; a concurrent claim of
      // the same index that it cannot see yet is refused by the unique index. No row: the list
      // filled up, the index is taken (or its bit is set) or the certificate changed, so look
      // again. (Two allocations racing past half full leave the list a little over half: harmless.)
      [row] = await sql<{ status_list_index: number; expires_at: Date | null }[]>`
        WITH assigned AS (
          UPDATE certificates c
          SET status_list_id = l.id, status_list_index = ${index},
              expires_at = CASE WHEN ${state.corrects}::boolean THEN ${state.corrected_expires_at}::timestamptz
                ELSE coalesce(c.expires_at, CASE WHEN co.validity_months IS NULL THEN NULL
                  ELSE (coalesce(c.validity_start, c.issued_on, ${options.issuedOn ?? null}::date, (now() AT TIME ZONE 'UTC')::date)
                        + make_interval(months => co.validity_months))::timestamp AT TIME ZONE 'UTC' END) END,
              updated_at = now()
          FROM courses co, status_lists l
          WHERE c.id = ${certificateId} AND co.id = c.course_id
            AND c.status IN ('rendering', 'issued') AND c.status_list_id IS NULL
            AND l.id = ${listId} AND l.allocated * 2 < l.size
            AND NOT EXISTS (SELECT 1 FROM certificates t
                            WHERE t.status_list_id = ${listId} AND t.status_list_index = ${index})
            -- Bits are never cleared: a revoked or superseded certificate that was deleted left
            -- its bit set, and a certificate drawing that index would be revoked from birth.
            AND get_bit(l.bits, (${index}::int / 8) * 8 + 7 - ${index}::int % 8) = 0
          RETURNING c.status_list_index, c.expires_at
        ),
        -- updated_at (the list's validFrom) is left alone: handing out an index must not change
        -- the published list, or polling it would tell when certificates were issued
        -- (Bitstring Status List §6.5).
        counted AS (
          UPDATE status_lists SET allocated = allocated + 1
          WHERE id = ${listId} AND EXISTS (SELECT 1 FROM assigned)
        )
        SELECT status_list_index, expires_at FROM assigned`;
    } catch (error) {
      if (isTakenIndex(error)) continue;
      throw error;
    }
    if (row)
      return { statusListId: listId, statusListIndex: row.status_list_index, expiresAt: row.expires_at };
  }
  throw new Error(`no free status list index found after ${MAX_DRAWS} draws`);
}

/** The unique index on (status_list_id, status_list_index) refused a race for the same index. */
function isTakenIndex(error: unknown): boolean {
  const { code, constraint_name: constraint } = error as { code?: string; constraint_name?: string };
  return code === '23505' && constraint === 'certificates_status_entry_idx';
}

/**
 * Issued certificates that have no status entry yet: those issued before the lifecycle migration
 * (generate gives every certificate it renders one). `npm run migrate` runs it after the
 * migrations until nothing is left, so no scan tick has to look.
 */
export async function backfillIssueLifecycle(
  sql: Sql,
  limit: number,
  options: IssueLifecycleOptions = {},
): Promise<number> {
  const rows = await sql<{ id: string }[]>`
    SELECT id FROM certificates WHERE status = 'issued' AND status_list_id IS NULL
    ORDER BY generated_at LIMIT ${limit}`;
  let done = 0;
  for (const row of rows) if (await assignIssueLifecycle(sql, row.id, options)) done++;
  return done;
}

// ---------------------------------------------------------------------------------------------
// Later passes and retakes

export type LaterPassOutcome =
  | 'created'
  | 'issued-after-revocation'
  | 'renewed-after-expiry'
  | 'reissued-better-score'
  | 'already-certified'
  | 'in-progress'
  | 'staff-review';

export interface LaterPassResult {
  outcome: LaterPassOutcome;
  /** false when the attempt had already been decided (a repeated or concurrent call). */
  decided: boolean;
  /** The certificate created for this attempt, if this call created one. */
  createdCertificateId: string | null;
  /** The student's live certificate for the course after the decision, if any. */
  liveCertificateId: string | null;
  dispatched: boolean;
}

interface LiveRow {
  id: string;
  status: string;
  expired: boolean;
  better: boolean;
  /** This attempt was completed after the one the live certificate is for. */
  later: boolean;
  /** A replacement of the live (issued) certificate that is not issued yet, and its status. */
  replacement_id: string | null;
  replacement_status: string | null;
}

/**
 * The rule for a passing attempt of a student who already has, or had, a certificate for the
 * course. The scan and ingestion call it for every passing attempt their own insert skipped
 * (conflict on "one live certificate per student and course"); calling it for any passing
 * attempt is safe. Decided once per attempt (test_attempts.later_pass_outcome) and serialised per
 * student and course, so any number of concurrent scans produce one outcome and at most one
 * new certificate. Every decision writes an audit row.
 *
 * 1. The attempt already has a certificate: already-certified (nothing to do).
 * 2. No live certificate, the last one revoked: a new certificate (issued-after-revocation),
 *    unless a revoked one is of a pass completed after this attempt (history a backfill imports):
 *    recorded against it (already-certified), a revocation is not undone by an older pass.
 *    No certificate at all: a new one (created).
 * 3. The live one is dead: no new certificate; the attempt is surfaced to staff (staff-review,
 *    audit row `later-pass-blocked` on the dead certificate; staff requeue it or revoke it).
 * 4. The live one is pending, rendering or failed: recorded against it (in-progress). That is
 *    not final: once the live one is issued or gone, redecideWaitingLaterPasses (the scan)
 *    decides the attempt again by these rules, so the outcome does not depend on whether
 *    generation had finished when the attempt was first decided.
 * 5. The live one is issued but expired, and this attempt was completed after the live one's:
 *    it is superseded by a new one (renewed-after-expiry).
 * 6. The live one is issued, the course opts in to `reissue_on_better_score`, and this attempt
 *    was completed after the live one's with a strictly higher percentage: superseded by a new
 *    one (reissued-better-score).
 * 7. Otherwise (an older attempt included): recorded against the live certificate
 *    (already-certified).
 *
 * `notify: false` (a silent backfill): a certificate this rule creates is issued without a
 * `certificate.issued` webhook, as the backfill's own are; the supersession of a live one is
 * still announced.
 */
export async function applyLaterPassRule(
  deps: { sql: Sql; dispatch?: Dispatch; log: Log },
  input: { attemptId: string; actor?: string; notify?: boolean },
  options: DispatchOptions = {},
): Promise<LaterPassResult> {
  assertUuid(input.attemptId, 'attemptId');
  const actor = input.actor ?? 'scan';
  const notify = input.notify ?? true;
  const result = await deps.sql.begin(async (tx) => {
    const [attempt] = await tx<
      {
        id: string;
        student_id: string;
        course_id: string;
        passed: boolean;
        later_pass_outcome: LaterPassOutcome | null;
      }[]
    >`SELECT id, student_id, course_id, passed, later_pass_outcome FROM test_attempts WHERE id = ${input.attemptId}`;
    if (!attempt) throw new NotFoundError('test attempt');
    if (!attempt.passed) throw new ValidationError('the attempt did not pass', 'attemptId');
    // One decision at a time per student and course; the next one sees this one committed.
    await tx`SELECT pg_advisory_xact_lock(hashtextextended(${laterPassLock(attempt)}, 0))`;
    const [fresh] = await tx<{ later_pass_outcome: LaterPassOutcome | null }[]>`
      SELECT later_pass_outcome FROM test_attempts WHERE id = ${attempt.id}`;
    if (fresh?.later_pass_outcome) {
      const live = await liveOf(tx, attempt.student_id, attempt.course_id, attempt.id);
      return decided(fresh.later_pass_outcome, false, null, live?.id ?? null);
    }
    return await decideUndecided(tx, attempt, actor, notify);
  });

  const log = deps.log;
  let dispatched = false;
  if (result.createdCertificateId)
    dispatched = await dispatchNow(deps, result.createdCertificateId, log, options);
  log.info('Later passing attempt handled', {
    attempt_id: input.attemptId,
    outcome: result.outcome,
    decided: result.decided,
    certificate_id: result.createdCertificateId ?? result.liveCertificateId,
  });
  return { ...result, dispatched };
}

/** The advisory lock key that serialises later-pass decisions of one student and course. */
function laterPassLock(attempt: { student_id: string; course_id: string }): string {
  return `later-pass:${attempt.student_id}:${attempt.course_id}`;
}

export interface RedecideOptions {
  /** Most attempts decided again per call. */
  limit?: number;
  /** Who decides, for the audit rows: the scan by default. */
  actor?: string;
  /** Epoch ms: no attempt is started after it; the rest wait for the next call. */
  until?: number;
}

/**
 * Decides again, by the later-pass rule, up to `limit` attempts recorded `in-progress` whose
 * student no longer has a pending, rendering or failed certificate for the course: it was issued
 * (renewal, better score, or already-certified), is dead (staff-review), or is gone, revoked or
 * superseded without a successor waiting (a new certificate). The audit rows are the rule's, and
 * the decision is as silent as the first one was (test_attempts.later_pass_notify). The scan
 * calls it on every tick; a certificate it creates is left for the scan's claim to hand out.
 *
 * Safe under concurrent scans and ingestion: each attempt is decided under the rule's lock, and
 * only if it is still in-progress and still not waiting once the lock is held. An attempt whose
 * student and course another decision holds is skipped rather than waited for (the next call takes
 * it), so two scans do not queue behind each other; one whose decision fails (the live certificate
 * changed meanwhile) stays in-progress for the next call. Returns how many attempts were decided
 * and how many certificates that created.
 */
export async function redecideWaitingLaterPasses(
  deps: { sql: Sql; log: Log },
  options: RedecideOptions = {},
): Promise<{ decided: number; created: number }> {
  const limit = options.limit ?? 100;
  const actor = options.actor ?? 'scan';
  const candidates = await deps.sql<{ id: string; student_id: string; course_id: string }[]>`
    SELECT a.id, a.student_id, a.course_id FROM test_attempts a
    WHERE a.later_pass_outcome = 'in-progress' AND NOT ${waitingFor(deps.sql)}
    ORDER BY a.later_pass_at, a.id
    LIMIT ${limit}`;
  let decidedCount = 0;
  let created = 0;
  for (const attempt of candidates) {
    if (options.until !== undefined && Date.now() >= options.until) break;
    try {
      const result = await deps.sql.begin(async (tx) => {
        const [lock] = await tx<{ locked: boolean }[]>`
          SELECT pg_try_advisory_xact_lock(hashtextextended(${laterPassLock(attempt)}, 0)) AS locked`;
        if (!lock?.locked) return null;
        // A new snapshot under the lock: a concurrent call may have decided it, or a reissue put a
        // new certificate in the way. The rule then decides it from an empty outcome, as at first.
        const [reopened] = await tx<{ later_pass_notify: boolean; later_pass_actor: string | null }[]>`
          UPDATE test_attempts a SET later_pass_outcome = NULL
          WHERE a.id = ${attempt.id} AND a.later_pass_outcome = 'in-progress' AND NOT ${waitingFor(tx)}
          RETURNING a.later_pass_notify, a.later_pass_actor`;
        if (!reopened) return null;
        // A backfill's decisions differ in kind (a certificate it creates counts its validity from
        // the pass): a pass the backfill recorded is decided again as the backfill's, and its
        // audit rows say so. The others are decided again by the caller (the scan), as before.
        const decider = reopened.later_pass_actor === 'backfill' ? 'backfill' : actor;
        return await decideUndecided(tx, attempt, decider, reopened.later_pass_notify);
      });
      if (!result) continue;
      decidedCount += 1;
      if (result.createdCertificateId) created += 1;
      deps.log.info('Later passing attempt decided again', {
        attempt_id: attempt.id,
        outcome: result.outcome,
        certificate_id: result.createdCertificateId ?? result.liveCertificateId,
      });
    } catch (error) {
      deps.log.warn('Later passing attempt could not be decided again; the next scan tries again', {
        attempt_id: attempt.id,
        error: errorMessage(error),
      });
    }
  }
  return { decided: decidedCount, created };
}

/**
 * The revoked certificates `r` of the student and course of the attempt aliased `alias` whose own
 * pass was completed after it (a FROM item and its WHERE): an older pass does not undo them.
 */
function revokedOfLaterPasses(sql: Sql | TransactionSql, alias: string) {
  const attempt = sql(alias);
  return sql`certificates r JOIN test_attempts ra ON ra.id = r.test_attempt_id
      WHERE r.student_id = ${attempt}.student_id AND r.course_id = ${attempt}.course_id AND r.status = 'revoked'
        AND (ra.completed_at, ra.id) > (${attempt}.completed_at, ${attempt}.id)`;
}

/** For an attempt aliased `alias` (with its id): a revoked certificate of a later pass exists. */
export function revokedAfter(sql: Sql | TransactionSql, alias: string) {
  return sql`EXISTS (SELECT 1 FROM ${revokedOfLaterPasses(sql, alias)})`;
}

/** For an attempt `a`: its student has a certificate for the course that is not settled yet. */
function waitingFor(sql: Sql | TransactionSql) {
  return sql`EXISTS (
      SELECT 1 FROM certificates c
      WHERE c.student_id = a.student_id AND c.course_id = a.course_id
        AND c.status IN ('pending', 'rendering', 'failed'))`;
}

/**
 * Rules 1-7 for an attempt with no outcome, its student and course locked (the advisory lock of
 * applyLaterPassRule), in the caller's transaction.
 */
async function decideUndecided(
  tx: TransactionSql,
  attempt: { id: string; student_id: string; course_id: string },
  actor: string,
  notify: boolean,
): Promise<Omit<LaterPassResult, 'dispatched'>> {
  const [own] = await tx<{ id: string }[]>`
    SELECT id FROM certificates WHERE test_attempt_id = ${attempt.id} ORDER BY created_at DESC LIMIT 1`;
  if (own) {
    await record(tx, attempt.id, 'already-certified', actor, notify);
    const live = await liveOf(tx, attempt.student_id, attempt.course_id, attempt.id);
    return decided('already-certified', true, null, live?.id ?? own.id);
  }

  const live = await liveOf(tx, attempt.student_id, attempt.course_id, attempt.id);
  if (!live) {
    // A revoked certificate of a pass completed after this one: history (a backfill's) does not
    // undo the revocation. Recorded against the latest such certificate, which stays revoked.
    const [revoked] = await tx<{ id: string }[]>`
      SELECT r.id FROM test_attempts a CROSS JOIN ${revokedOfLaterPasses(tx, 'a')} AND a.id = ${attempt.id}
      ORDER BY r.created_at DESC, r.id DESC LIMIT 1`;
    if (revoked) {
      await note(tx, revoked.id, attempt.id, 'already-certified', actor, notify);
      return decided('already-certified', true, null, null);
    }
    const [previous] = await tx<{ id: string; status: string }[]>`
      SELECT id, status::text FROM certificates
      WHERE student_id = ${attempt.student_id} AND course_id = ${attempt.course_id}
      ORDER BY created_at DESC, id DESC LIMIT 1`;
    const afterRevocation = previous?.status === 'revoked';
    const outcome: LaterPassOutcome = afterRevocation ? 'issued-after-revocation' : 'created';
    const [created] = await tx<{ id: string }[]>`
      WITH cert AS (
        INSERT INTO certificates (student_id, course_id, test_attempt_id, notify, validity_start)
        VALUES (${attempt.student_id}, ${attempt.course_id}, ${attempt.id}, ${notify},
                ${backfilledValidityStart(tx, actor, attempt.id)})
        ON CONFLICT DO NOTHING
        RETURNING id
      ),
      audit AS (
        INSERT INTO certificate_generation_log (certificate_id, event, to_status, message, actor, details)
        SELECT id, 'created', 'pending',
               ${afterRevocation ? 'later pass after revocation: new certificate' : 'pending certificate created for a passing attempt'},
               ${actor}, jsonb_build_object('test_attempt_id', ${attempt.id}::uuid, 'rule', ${outcome}::text,
                                            'previous_certificate_id', ${previous?.id ?? null}::uuid)
        FROM cert
      )
      SELECT id FROM cert`;
    if (created) {
      await record(tx, attempt.id, outcome, actor, notify);
      return decided(outcome, true, created.id, created.id);
    }
    // Someone outside this rule (the scan's own insert) created the live one meanwhile.
    const now = await liveOf(tx, attempt.student_id, attempt.course_id, attempt.id);
    if (!now) throw new Error('certificate insert conflicted but no live certificate exists');
    await note(tx, now.id, attempt.id, 'in-progress', actor, notify);
    return decided('in-progress', true, null, now.id);
  }

  // A replacement of the live certificate not issued yet stands where a live certificate that is
  // not issued would: the attempt waits for it, or for staff when it is dead.
  const blocking =
    live.replacement_id && live.replacement_status
      ? { id: live.replacement_id, status: live.replacement_status }
      : { id: live.id, status: live.status };
  if (blocking.status === 'dead') {
    await tx`
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, message, actor, details)
      VALUES (${blocking.id}, 'later-pass-blocked', 'dead', 'dead',
              'a later passing attempt is blocked by this dead certificate: staff review needed', ${actor},
              jsonb_build_object('test_attempt_id', ${attempt.id}::uuid, 'rule', 'staff-review'))`;
    await record(tx, attempt.id, 'staff-review', actor, notify);
    return decided('staff-review', true, null, blocking.id);
  }
  if (blocking.status !== 'issued') {
    await note(tx, blocking.id, attempt.id, 'in-progress', actor, notify);
    return decided('in-progress', true, null, blocking.id);
  }
  // Only a pass completed after the live certificate's own attempt renews or improves it: an
  // older one (history imported by a backfill) would otherwise turn an expired certificate into a
  // fresh one without any new pass.
  if (live.later && (live.expired || live.better)) {
    const outcome: LaterPassOutcome = live.expired ? 'renewed-after-expiry' : 'reissued-better-score';
    const created = await replacementFor(tx, live.id, attempt.id, outcome, actor, notify);
    if (created) {
      await record(tx, attempt.id, outcome, actor, notify);
      return decided(outcome, true, created, created);
    }
    // The live one left `issued` meanwhile, or staff asked for its replacement: decide again next call.
    throw new ConflictError('the live certificate changed while applying the later-pass rule', {
      certificateId: live.id,
    });
  }
  await note(tx, live.id, attempt.id, 'already-certified', actor, notify);
  return decided('already-certified', true, null, live.id);
}

function decided(
  outcome: LaterPassOutcome,
  isNew: boolean,
  createdCertificateId: string | null,
  liveCertificateId: string | null,
): Omit<LaterPassResult, 'dispatched'> {
  return { outcome, decided: isNew, createdCertificateId, liveCertificateId };
}

async function liveOf(
  tx: TransactionSql,
  studentId: string,
  courseId: string,
  attemptId: string,
): Promise<LiveRow | undefined> {
  // `better`: this attempt's percentage is strictly higher than the live certificate's attempt,
  // compared in exact numeric arithmetic, and the course opted in. `later`: it was completed
  // after that attempt (a backfill decides old attempts long after newer ones were certified).
  const [row] = await tx<LiveRow[]>`
    SELECT c.id, c.status::text,
           (c.expires_at IS NOT NULL AND c.expires_at <= now()) AS expired,
           (co.reissue_on_better_score AND n.score * a.max_score > a.score * n.max_score) AS better,
           (n.completed_at > a.completed_at) AS later,
           r.id AS replacement_id, r.status::text AS replacement_status
    FROM certificates c
    JOIN courses co ON co.id = c.course_id
    JOIN test_attempts a ON a.id = c.test_attempt_id
    JOIN test_attempts n ON n.id = ${attemptId}
    LEFT JOIN certificates r ON r.replaces = c.id AND r.status IN ('pending', 'rendering', 'failed', 'dead')
    WHERE c.student_id = ${studentId} AND c.course_id = ${courseId} AND ${isLive(tx, 'c')}`;
  return row;
}

/**
 * The attempt's outcome, with the decision's `notify` and actor, so that an in-progress one is
 * decided again alike: as silently, and as the backfill's when the backfill decided it (a
 * certificate it creates then counts its validity from the pass, backfilledValidityStart).
 */
async function record(
  tx: TransactionSql,
  attemptId: string,
  outcome: LaterPassOutcome,
  actor: string,
  notify: boolean,
): Promise<void> {
  await tx`
    UPDATE test_attempts
    SET later_pass_outcome = ${outcome}, later_pass_at = now(), later_pass_notify = ${notify},
        later_pass_actor = ${actor},
        certificate_enqueued_at = coalesce(certificate_enqueued_at, now())
    WHERE id = ${attemptId} AND later_pass_outcome IS NULL`;
}

/** Audit row saying a later pass was recorded against an existing certificate, and the decision. */
async function note(
  tx: TransactionSql,
  certificateId: string,
  attemptId: string,
  outcome: 'in-progress' | 'already-certified',
  actor: string,
  notify: boolean,
): Promise<void> {
  await tx`
    INSERT INTO certificate_generation_log (certificate_id, event, message, actor, details)
    VALUES (${certificateId}, 'later-pass', ${`later passing attempt recorded: ${outcome}`}, ${actor},
            jsonb_build_object('test_attempt_id', ${attemptId}::uuid, 'rule', ${outcome}::text))`;
  await record(tx, attemptId, outcome, actor, notify);
}

/**
 * Where a certificate the backfill creates starts its validity period: its pass's UTC day, as the
 * backfill's own enqueue sets it (scan.ts). NULL otherwise: the day it is printed.
 */
function backfilledValidityStart(tx: TransactionSql, actor: string, attemptId: string) {
  return tx`(SELECT CASE WHEN ${actor} = 'backfill' THEN (completed_at AT TIME ZONE 'UTC')::date END
             FROM test_attempts WHERE id = ${attemptId}::uuid)`;
}

/**
 * A new pending certificate for `attemptId` replacing the live issued one, which stays issued
 * until the replacement is (supersedeReplaced). Null when the live one is no longer issued or
 * already has a replacement.
 */
async function replacementFor(
  tx: TransactionSql,
  certificateId: string,
  attemptId: string,
  rule: LaterPassOutcome,
  actor: string,
  notify = true,
): Promise<string | null> {
  const newId = randomUUID();
  const message =
    rule === 'renewed-after-expiry' ? 'renewed by a later pass after expiry' : 'reissued for a better score';
  const [row] = await tx<{ id: string }[]>`
    WITH x AS (
      SELECT id, student_id, course_id FROM certificates
      WHERE id = ${certificateId} AND status = 'issued'
      FOR UPDATE
    ),
    successor AS (
      INSERT INTO certificates (id, student_id, course_id, test_attempt_id, notify, replaces, validity_start)
      SELECT ${newId}, student_id, course_id, ${attemptId}, ${notify}, id,
             ${backfilledValidityStart(tx, actor, attemptId)}
      FROM x
      ON CONFLICT DO NOTHING
      RETURNING id
    ),
    audit AS (
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, message, actor, details)
      SELECT x.id, 'reissue-requested', 'issued'::certificate_status, 'issued'::certificate_status, ${message}, ${actor},
             jsonb_build_object('replacement', s.id, 'test_attempt_id', ${attemptId}::uuid, 'rule', ${rule}::text)
      FROM x JOIN successor s ON true
      UNION ALL
      SELECT s.id, 'created', NULL::certificate_status, 'pending'::certificate_status, ${message}, ${actor},
             jsonb_build_object('reissue_of', x.id, 'test_attempt_id', ${attemptId}::uuid, 'rule', ${rule}::text)
      FROM x JOIN successor s ON true
    )
    SELECT id FROM successor`;
  return row?.id ?? null;
}

/**
 * Staff work list: passing attempts blocked by a dead certificate, oldest first; of one course
 * when `courseId` is given. `deadCertificateId` is null once no dead certificate blocks it any more.
 * The ones still blocked come first: an attempt keeps its `staff-review` outcome once resolved, so
 * oldest first alone would let resolved entries fill the limit and hide a newly blocked one.
 */
export async function laterPassesNeedingStaff(
  sql: Sql,
  limit = 100,
  courseId?: string,
): Promise<
  { attemptId: string; studentId: string; courseId: string; deadCertificateId: string | null; since: Date }[]
> {
  const rows = await sql<
    { attempt_id: string; student_id: string; course_id: string; dead_id: string | null; since: Date }[]
  >`
    SELECT * FROM (
      SELECT a.id AS attempt_id, a.student_id, a.course_id, a.later_pass_at AS since,
             (SELECT c.id FROM certificates c WHERE c.student_id = a.student_id AND c.course_id = a.course_id
                AND c.status = 'dead' LIMIT 1) AS dead_id
      FROM test_attempts a
      WHERE a.later_pass_outcome = 'staff-review' ${courseId === undefined ? sql`` : sql`AND a.course_id = ${courseId}`}
    ) listed
    ORDER BY dead_id IS NULL, since, attempt_id
    LIMIT ${limit}`;
  return rows.map((row) => ({
    attemptId: row.attempt_id,
    studentId: row.student_id,
    courseId: row.course_id,
    deadCertificateId: row.dead_id,
    since: row.since,
  }));
}
