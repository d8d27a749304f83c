import { createHash, randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Sql, TransactionSql } from '../db/client.ts';
import {
  ConfigurationError,
  errorMessage,
  PermanentError,
  TransientError,
  ValidationError,
} from '../errors.ts';
import { type CertificateFacts, type SignedCredential, scoreLine } from './facts.ts';
import { assertUuid } from './ids.ts';
import { assignIssueLifecycle, lockReplaced, settleRevokedOriginal, supersedeReplaced } from './lifecycle.ts';
import {
  type CertificateContent,
  type GenerateDeps,
  type GenerateOptions,
  noopMetrics,
  type TemplateRef,
} from './ports.ts';
import { isExhausted, retryDelaySeconds, retryDelaysByAttempt } from './retry.ts';
import { lockForCountedOutcome, SUMMARY_LOCK } from './scan.ts';
import { printableContent } from './text.ts';

/**
 * Generation of one certificate: claim (guarded update with a lease) -> status-list entry,
 * student from the directory and template, looked up at once -> render -> upload to the
 * deterministic key -> one guarded update to `issued`.
 * Every exit records what happened; a handled failure is returned, not thrown, because the
 * caller is an async invocation whose platform retries would only duplicate work. The state
 * machine, not the platform, decides when to try again.
 *
 * The PDF is written while the row is locked and still leased to this worker, and marked issued
 * in that same transaction: a worker that lost its lease (it stalled past LEASE_SECONDS and
 * another took over) finds the lease gone and writes nothing, so the object at the key is always
 * the one the record describes. LEASE_SECONDS must also exceed the function timeout (checked at
 * cold start), so a taken-over worker is normally dead already.
 *
 * A worker that dies without recording anything (Lambda timeout, out of memory) is treated like
 * one whose attempt failed: the claim already sets `next_attempt_at` to the retry delay this
 * attempt would get, so its expired lease is taken over only once that has passed too, and the
 * scan hands it out behind certificates that were waiting meanwhile. Otherwise certificates that
 * crash every time took their budget slots back at each lease expiry, ahead of all other work,
 * until they were dead. It is also counted as a failed attempt (CertificatesFailed, the scan
 * summary's `failed=`) when its lease is taken over, since it recorded nothing itself.
 */

export type GenerateOutcome =
  | { status: 'issued'; certificateId: string; s3Key: string; attempt: number; pdfSha256: string }
  | {
      status: 'skipped';
      certificateId: string;
      reason: 'not-claimable' | 'lease-lost' | 'replaced-certificate-revoked';
    }
  | { status: 'failed'; certificateId: string; attempt: number; error: string; retryInSeconds: number }
  | { status: 'dead'; certificateId: string; attempt: number; error: string };

interface ClaimedRow {
  id: string;
  student_id: string;
  course_id: string;
  test_attempt_id: string;
  verification_code: string;
  attempt_count: number;
  from_status: string;
  score: string;
  max_score: string;
  course_title: string | null;
  course_code: string | null;
  course_locale: string | null;
  pass_percentage: string | null;
  /** The claim's instant: the certificate's issue instant (generated_at, the credential's validFrom). */
  claimed_at: Date;
  expires_on: string | null;
  /** The certificate this one replaces (a reissue, a better score or a renewal), superseded when this one is issued. */
  replaces: string | null;
}

const MAX_ERROR_LENGTH = 1000;

/**
 * `retryDelays[n - 1]` is the delay a failure of attempt n would get (retryDelaysByAttempt): the
 * attempt's number is known only inside the statement that counts it.
 */
async function claim(
  sql: Sql,
  certificateId: string,
  owner: string,
  options: { leaseSeconds: number; retryDelays: readonly number[]; maxAttempts: number },
) {
  const delays = [...options.retryDelays];
  const [row] = await sql<ClaimedRow[]>`
    WITH prev AS (
      SELECT id, status FROM certificates WHERE id = ${certificateId}
    ),
    claimed AS (
      UPDATE certificates c
      SET status = 'rendering', lease_owner = ${owner},
          lease_expires_at = now() + make_interval(secs => ${options.leaseSeconds}),
          -- Left in place if this worker dies without a result: the backoff of a failed attempt
          -- (see the comment at the top). Every recorded outcome overwrites or ignores it.
          next_attempt_at = now() + make_interval(
            secs => (${delays}::int[])[least(c.attempt_count + 1, ${delays.length})]),
          attempt_count = c.attempt_count + 1, dispatched_until = NULL, updated_at = now()
      FROM prev
      WHERE c.id = prev.id
        AND ((c.status IN ('pending', 'failed') AND c.next_attempt_at <= now())
             OR (c.status = 'rendering' AND c.lease_expires_at < now() AND c.next_attempt_at <= now()))
      RETURNING c.id, c.student_id, c.course_id, c.test_attempt_id, c.verification_code, c.attempt_count,
                c.replaces, prev.status AS from_status,
                to_char(c.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS expires_on
    ),
    counted AS (
      -- A takeover's row is the summary's count of the attempt that ended without a result, so it
      -- is written under the summary's lock like every counted outcome (lockForCountedOutcome).
      -- Inside this statement, which is its own transaction, so it costs no extra round trip and
      -- is held until the commit; the audit insert waits for it (its WHERE reads this CTE).
      -- It reads claimed, so it is taken after the UPDATE holds the row lock: in the same order as
      -- the issue transaction (FOR UPDATE, then the lock). Taken before the row lock, a claim waiting
      -- for a stalled worker's upload would hold up a summary, and that worker's markIssued behind it.
      SELECT pg_advisory_xact_lock_shared(${SUMMARY_LOCK}) FROM claimed
    ),
    audit AS (
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, attempt, actor, message, details)
      SELECT id, 'claimed', from_status, 'rendering', attempt_count, 'generate',
             CASE WHEN from_status = 'rendering' THEN 'expired lease taken over' ELSE 'claimed for rendering' END,
             -- The attempt that died was the last allowed: this one records it as dead at once,
             -- and that row counts it (the summary leaves this one out).
             CASE WHEN from_status = 'rendering' AND attempt_count > ${options.maxAttempts}
                  THEN '{"exhausted": true}'::jsonb ELSE '{}'::jsonb END
      FROM claimed
      WHERE EXISTS (SELECT 1 FROM counted)
    )
    SELECT claimed.*, a.score, a.max_score, co.title AS course_title, co.code AS course_code,
           co.locale AS course_locale, co.pass_percentage,
           now() AS claimed_at
    FROM claimed
    JOIN test_attempts a ON a.id = claimed.test_attempt_id
    LEFT JOIN courses co ON co.id = claimed.course_id`;
  return row;
}

interface Issue {
  certificateId: string;
  owner: string;
  content: CertificateContent;
  template: TemplateRef;
  credential: SignedCredential | undefined;
  /** The key that signed the PDF's Open Badges credential (the RS256 credentials key). */
  openBadgeKid: string | null;
  /** The course's facts the Open Badges achievement states, as they are now (the certificate's `achievement`). */
  achievement: { code: string | null; locale: string | null; pass_percentage: string | null };
  issuedAt: Date;
  s3Key: string;
  sha256: string;
  bytes: number;
  durationMs: number;
}

async function markIssued(sql: TransactionSql, issue: Issue): Promise<boolean> {
  const { content } = issue;
  const rows = await sql`
    WITH issued AS (
      UPDATE certificates
      SET status = 'issued', student_name = ${content.studentName}, course_name = ${content.courseName},
          score = ${content.score}, max_score = ${content.maxScore}, percentage = ${content.percentage},
          issued_on = ${content.issuedOn}, locale = ${content.locale}, issuer_name = ${content.issuerName},
          template_id = ${issue.template.id}, template_version = ${issue.template.version},
          s3_key = ${issue.s3Key}, pdf_sha256 = ${issue.sha256}, pdf_bytes = ${issue.bytes},
          credential_jws = ${issue.credential?.jws ?? null}, credential_kid = ${issue.credential?.kid ?? null},
          open_badge_kid = ${issue.openBadgeKid},
          achievement = ${sql.json(issue.achievement)},
          generated_at = ${issue.issuedAt}, last_error = NULL, lease_owner = NULL, lease_expires_at = NULL,
          dispatched_until = NULL, updated_at = now(),
          -- Issued already past its expiry (a correction keeps its original's, which lapsed while
          -- it waited): its certificate.issued event says so, and the sweep must not announce an
          -- expiry dated before the issue, which receivers ordering by timestamp would undo. Judged
          -- at this transaction's now(), the issued event's own time: an expiry that passed during
          -- the render (after issuedAt) counts too.
          expiry_notified_at = CASE WHEN expires_at <= now() THEN now() END
      WHERE id = ${issue.certificateId} AND status = 'rendering' AND lease_owner = ${issue.owner}
      RETURNING id, attempt_count
    ),
    counted AS (
      -- The scan's summary counts the audit row below exactly once only if it cannot run between
      -- this insert and the commit (lockForCountedOutcome): the summary's lock, shared, held
      -- until the commit. Taken inside this statement, as the claim takes it, not in a round trip
      -- of its own; the insert waits for it (its WHERE reads this CTE).
      SELECT pg_advisory_xact_lock_shared(${SUMMARY_LOCK}) FROM issued
    ),
    audit AS (
      INSERT INTO certificate_generation_log
        (certificate_id, event, from_status, to_status, attempt, actor, message, duration_ms, details)
      SELECT id, 'issued', 'rendering', 'issued', attempt_count, 'generate', 'Certificate generated successfully',
             ${Math.round(issue.durationMs)},
             ${sql.json({
               s3_key: issue.s3Key,
               pdf_sha256: issue.sha256,
               pdf_bytes: issue.bytes,
               template_version: issue.template.version,
             })}::jsonb
      FROM issued
      WHERE EXISTS (SELECT 1 FROM counted)
    )
    SELECT id FROM issued`;
  return rows.length === 1;
}

interface Failure {
  certificateId: string;
  owner: string;
  attempt: number;
  dead: boolean;
  /** A configuration error: the attempt is given back, the certificate is not at fault. */
  refund: boolean;
  error: string;
  retryInSeconds: number;
  durationMs: number;
  details: Record<string, string | number | boolean>;
}

async function markFailed(sql: Sql, failure: Failure): Promise<boolean> {
  // A transaction only to hold the summary's lock until the audit row is committed (see markIssued).
  return (await sql.begin(async (tx) => {
    await lockForCountedOutcome(tx);
    return await recordFailure(tx, failure);
  })) as boolean;
}

async function recordFailure(sql: TransactionSql, failure: Failure): Promise<boolean> {
  const status = failure.dead ? 'dead' : 'failed';
  const rows = await sql`
    WITH failed AS (
      UPDATE certificates
      SET status = ${status}::certificate_status, last_error = ${failure.error},
          next_attempt_at = CASE WHEN ${failure.dead} THEN next_attempt_at
                                 ELSE now() + make_interval(secs => ${failure.retryInSeconds}) END,
          attempt_count = attempt_count - CASE WHEN ${failure.refund} THEN 1 ELSE 0 END,
          lease_owner = NULL, lease_expires_at = NULL, dispatched_until = NULL, updated_at = now()
      WHERE id = ${failure.certificateId} AND status = 'rendering' AND lease_owner = ${failure.owner}
      RETURNING id, attempt_count, next_attempt_at
    ),
    audit AS (
      INSERT INTO certificate_generation_log
        (certificate_id, event, from_status, to_status, attempt, actor, message, error, duration_ms, details)
      SELECT id, ${status}, 'rendering', ${status}::certificate_status, attempt_count, 'generate',
             ${failure.dead ? 'gave up' : 'will retry'}, ${failure.error}, ${Math.round(failure.durationMs)},
             ${sql.json(failure.details)}::jsonb || jsonb_build_object('next_attempt_at', next_attempt_at)
      FROM failed
    )
    SELECT id FROM failed`;
  return rows.length === 1;
}

function describeError(error: unknown): string {
  const message = errorMessage(error);
  return message.length > MAX_ERROR_LENGTH ? `${message.slice(0, MAX_ERROR_LENGTH - 1)}…` : message;
}

function percentageOf(score: number, maxScore: number): number {
  return Math.round((score / maxScore) * 10000) / 100;
}

/** The deterministic key: a retry after a crash overwrites the same object instead of orphaning one. */
export function certificateKey(
  prefix: string,
  ids: { courseId: string; studentId: string; certificateId: string },
): string {
  return `${prefix}/${ids.courseId}/${ids.studentId}/${ids.certificateId}.pdf`;
}

/** The generate options a deployment configures (functions/generate.ts and the benchmark). */
export function generateOptionsFromConfig(config: Config<'s3' | 'pipeline' | 'render'>): GenerateOptions {
  return {
    keyPrefix: config.s3.S3_KEY_PREFIX,
    verifyBaseUrl: config.render.VERIFY_BASE_URL,
    issuerName: config.render.ISSUER_NAME,
    defaultLocale: config.render.DEFAULT_LOCALE,
    leaseSeconds: config.pipeline.LEASE_SECONDS,
    maxAttempts: config.pipeline.MAX_GENERATION_ATTEMPTS,
    retryBaseSeconds: config.pipeline.RETRY_BASE_SECONDS,
    retryMaxSeconds: config.pipeline.RETRY_MAX_SECONDS,
    configurationRetrySeconds: config.pipeline.CONFIGURATION_RETRY_SECONDS,
  };
}

/**
 * Awaits every promise, then returns their values or throws the first failure in the order
 * given (not the order they failed in): the error a certificate records does not depend on
 * timing, and nothing is still running when the failure is handled.
 */
async function allInOrder<const T extends readonly unknown[]>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const failed = (await Promise.allSettled(promises)).find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  return await Promise.all(promises); // all settled: their values, typed
}

export async function generateCertificate(
  deps: GenerateDeps,
  options: GenerateOptions,
  certificateId: string,
): Promise<GenerateOutcome> {
  assertUuid(certificateId, 'certificateId');
  const log = deps.log;
  const metrics = deps.metrics ?? noopMetrics;
  const owner = randomUUID();
  const started = performance.now();

  const backoff = { baseSeconds: options.retryBaseSeconds, maxSeconds: options.retryMaxSeconds };
  const claimed = await claim(deps.sql, certificateId, owner, {
    leaseSeconds: options.leaseSeconds,
    retryDelays: retryDelaysByAttempt(options.maxAttempts, backoff, deps.random),
    maxAttempts: options.maxAttempts,
  });
  if (!claimed) {
    // Doubled invocation, already issued, or not due yet (a crashed attempt's backoff included):
    // the normal case of an idempotent worker.
    log.info('Certificate not claimable (issued, not due, or owned by another worker); nothing to do', {
      certificate_id: certificateId,
    });
    return { status: 'skipped', certificateId, reason: 'not-claimable' };
  }
  const attempt = claimed.attempt_count;
  if (claimed.from_status === 'rendering' && attempt <= options.maxAttempts) {
    // The previous attempt ended without a result (Lambda timeout, out of memory): its worker
    // recorded nothing, so it is counted as failed here, once, where its lease is taken over
    // (the summary counts the takeover's audit row the same way). A worker that was only slow
    // finds its lease gone and reports nothing (lease-lost). When it was the last allowed
    // attempt, the certificate is given up below, and that dead outcome is its one count.
    metrics.certificateFailed();
    log.warn(`Failed to generate certificate for student: ${claimed.student_id}`, {
      certificate_id: certificateId,
      student_id: claimed.student_id,
      course_id: claimed.course_id,
      attempt: attempt - 1,
      error: 'the attempt ended without a result (lease expired); taken over by a new attempt',
      status: 'failed',
    });
  }

  // The PDF this attempt tries to issue, once rendered: if the issuing COMMIT's answer is lost
  // (a failover), the row may be issued with it although the transaction seemed to fail.
  let issuing: { s3Key: string; sha256: string; bytes: number } | undefined;
  const reportIssued = (s3Key: string, sha256: string, bytes: number, commitAnswerLost = false) => {
    // The whole attempt, commit included, as a failure's duration is (GenerationDuration).
    const durationMs = performance.now() - started;
    metrics.certificateGenerated(durationMs);
    log.info(`Certificate generated successfully: certificate_id=${certificateId}, s3_key=${s3Key}`, {
      certificate_id: certificateId,
      s3_key: s3Key,
      attempt,
      duration_ms: Math.round(durationMs),
      pdf_bytes: bytes,
      ...(commitAnswerLost ? { commit_answer_lost: true } : {}),
    });
    return { status: 'issued' as const, certificateId, s3Key, attempt, pdfSha256: sha256 };
  };

  try {
    if (attempt > options.maxAttempts) {
      // Only reachable when earlier attempts died without recording anything (lease expired).
      throw new PermanentError(
        `gave up after ${options.maxAttempts} attempts; the last one ended without a result (lease expired)`,
        'attempts-exhausted',
      );
    }
    if (claimed.course_title === null) throw new PermanentError('course not found', 'course-missing');
    // Status-list entry and expiry before printing, so the PDF shows the expiry the record holds;
    // a retried render gets the same ones back.
    // Three lookups that need only the claim run at once: each is a round trip to another
    // service (PostgreSQL, Keycloak), so a certificate waits for the slowest, not for the sum.
    const locale = claimed.course_locale ?? options.defaultLocale;
    // The printed issue date: the claim's instant's day in UTC.
    const today = claimed.claimed_at.toISOString().slice(0, 10);
    const [lifecycle, student, template] = await allInOrder([
      assignIssueLifecycle(deps.sql, certificateId, { issuedOn: today, owner }),
      // A certificate replacing another reads the name afresh: a reissue for a name corrected in
      // Keycloak a minute ago must not print the copy this container cached before.
      deps.directory.getStudent(claimed.student_id, claimed.replaces ? { fresh: true } : undefined),
      deps.resolveTemplate ? deps.resolveTemplate(claimed.course_id, locale) : undefined,
    ]);
    const expiresOn = lifecycle?.expiresAt?.toISOString().slice(0, 10);
    const score = Number(claimed.score);
    const maxScore = Number(claimed.max_score);
    // Normalised exactly as the renderer prints it, so the stored snapshot and the PDF agree;
    // a name the renderer would refuse fails here (ValidationError -> dead with the reason).
    const printable: CertificateContent = printableContent({
      certificateId,
      verificationCode: claimed.verification_code,
      verifyUrl: `${options.verifyBaseUrl}/${encodeURIComponent(claimed.verification_code)}`,
      studentName: student.displayName,
      courseName: claimed.course_title,
      score,
      maxScore,
      percentage: percentageOf(score, maxScore),
      issuedOn: today,
      ...(expiresOn ? { expiresOn } : {}),
      locale,
      issuerName: options.issuerName,
    });
    const facts: CertificateFacts = {
      code: printable.verificationCode,
      name: printable.studentName,
      course: printable.courseName,
      score: scoreLine(score, maxScore),
      issued: printable.issuedOn,
      // The expiry the lifecycle just assigned (and the PDF prints), so the record and the
      // signed facts agree. Never the one the claim read: a retry after the course lost its
      // validity period has none now, and signing the old one made a genuine copy "altered".
      expires: expiresOn ?? null,
      issuer: printable.issuerName,
    };
    // When this certificate counts as generated: recorded as generated_at and stated as the Open
    // Badges credential's validFrom, so the credential in the PDF and the one the routes serve
    // later agree. The claim's instant, whose UTC day is the printed issue date: one clock and one
    // instant, so a render that straddles midnight is not dated one day on paper and the next in a
    // wallet (nor a year apart on 31 December).
    const issuedAt = claimed.claimed_at;
    // The facts' JWS and the Open Badges credential (only beside a signed one) at once: neither
    // needs the other, and signed together they share one read of the issuer key's state.
    const [credential, openBadge] = deps.signer
      ? await allInOrder([
          deps.signer.sign(facts),
          deps.openBadge?.signForRendering({
            certificateId,
            studentName: printable.studentName,
            courseName: printable.courseName,
            issuedAt,
            record: {
              studentId: claimed.student_id,
              verificationCode: claimed.verification_code,
              course: {
                id: claimed.course_id,
                title: claimed.course_title,
                code: claimed.course_code,
                locale: claimed.course_locale,
                passPercentage: Number(claimed.pass_percentage),
              },
              statusEntry: lifecycle
                ? { listId: lifecycle.statusListId, index: lifecycle.statusListIndex }
                : null,
              expiresAt: lifecycle?.expiresAt ?? null,
            },
          }),
        ])
      : [undefined, undefined];
    const content: CertificateContent = credential
      ? {
          ...printable,
          credential: { jws: credential.jws, facts, ...(openBadge ? { openBadge: openBadge.jwt } : {}) },
        }
      : printable;
    const rendered = await deps.renderer.render(content, template);
    const sha256 = createHash('sha256').update(rendered.pdf).digest('hex');
    const s3Key = certificateKey(options.keyPrefix, {
      courseId: claimed.course_id,
      studentId: claimed.student_id,
      certificateId,
    });
    issuing = { s3Key, sha256, bytes: rendered.pdf.byteLength };
    const issued = await deps.sql.begin(async (tx) => {
      // A replacement locks the certificate it replaces first, in the order a revocation of that
      // one locks the two (revokeIssued settles a waiting replacement with it): a revocation that
      // got there first has revoked this one, and the lease check below finds it gone.
      const original = claimed.replaces ? await lockReplaced(tx, claimed.replaces) : undefined;
      // Row lock + lease check before the write: a worker that took over waits here, and one
      // whose lease was taken finds it gone and writes nothing (see the comment at the top).
      // NO KEY UPDATE: it keeps every other writer of the row out for the upload, but not the
      // foreign-key checks of rows that reference it (an audit row, an analytics counter), which
      // FOR UPDATE would hold for as long as the upload takes.
      const [held] = await tx<{ replaces: string | null }[]>`
        SELECT replaces FROM certificates
        WHERE id = ${certificateId} AND status = 'rendering' AND lease_owner = ${owner}
        FOR NO KEY UPDATE`;
      if (!held) {
        // A staff reissue's replacement whose original was revoked while it rendered was revoked
        // with it (revokeIssued): say so, rather than blame a lease no other worker took.
        if (!claimed.replaces) return false;
        const [now] = await tx<{ status: string }[]>`
          SELECT status::text FROM certificates WHERE id = ${certificateId}`;
        return now?.status === 'revoked' ? ('cancelled' as const) : false;
      }
      // What this one replaces now, read under its lock, not what the claim read: a revocation of
      // the original while this one rendered detaches a newer pass's replacement (renewal, better
      // score), which is then that pass's own certificate and is issued as such, superseding nothing.
      const replaces = held.replaces;
      if (replaces !== null && replaces !== claimed.replaces)
        throw new Error(`the certificate this one replaces changed from ${claimed.replaces} to ${replaces}`);
      // An issued original is superseded after the upload; a revoked one settles this replacement.
      if (replaces && original === 'revoked') {
        const settled = await settleRevokedOriginal(tx, {
          originalId: replaces,
          replacementId: certificateId,
          replacementAttemptId: claimed.test_attempt_id,
        });
        if (settled === 'cancelled') return 'cancelled' as const;
      } else if (replaces && original !== 'issued')
        throw new Error(`the certificate this one replaces (${replaces}) is ${original ?? 'gone'}`);
      try {
        await deps.storage.putPdf(s3Key, rendered.pdf, {
          'certificate-id': certificateId,
          sha256,
          'template-version': encodeURIComponent(rendered.template.version),
        });
      } catch (error) {
        metrics.s3Error();
        throw error;
      }
      // The original stops being live in the transaction that makes this one live: superseded,
      // its status bit set. Until now it was valid, so the holder was never without one.
      // (Locked above and issued, so it supersedes.)
      if (
        replaces &&
        original === 'issued' &&
        !(await supersedeReplaced(tx, { originalId: replaces, replacementId: certificateId }))
      )
        throw new Error(`the certificate this one replaces (${replaces}) is no longer issued`);
      return await markIssued(tx, {
        certificateId,
        owner,
        content,
        template: rendered.template,
        credential,
        openBadgeKid: openBadge?.kid ?? null,
        achievement: {
          code: claimed.course_code,
          locale: claimed.course_locale,
          pass_percentage: claimed.pass_percentage,
        },
        issuedAt,
        s3Key,
        sha256,
        bytes: rendered.pdf.byteLength,
        // After the upload: a slow or throttled S3 shows in the audit row.
        durationMs: performance.now() - started,
      });
    });
    if (issued === 'cancelled') {
      log.info('Replacement not issued: the certificate it replaces was revoked, and it with it', {
        certificate_id: certificateId,
        replaces: claimed.replaces,
      });
      return { status: 'skipped', certificateId, reason: 'replaced-certificate-revoked' };
    }
    if (!issued) {
      log.warn('Lease lost before the certificate could be issued; another worker owns it', {
        certificate_id: certificateId,
        attempt,
      });
      return { status: 'skipped', certificateId, reason: 'lease-lost' };
    }
    return reportIssued(s3Key, sha256, rendered.pdf.byteLength);
  } catch (error) {
    // Content the renderer refuses (ValidationError) will be refused again: no point retrying.
    const permanent = error instanceof PermanentError || error instanceof ValidationError;
    // Our setup is wrong (IAM, bucket, client secret): wait long, keep the attempt, tell someone.
    const configuration = error instanceof ConfigurationError;
    const dead = permanent || (!configuration && isExhausted(attempt, options.maxAttempts));
    const message = describeError(error);
    const retryInSeconds = dead
      ? 0
      : configuration
        ? (options.configurationRetrySeconds ?? 3600)
        : Math.max(
            retryDelaySeconds(attempt, backoff, deps.random),
            // A dependency that said when to come back (Keycloak's 429 or 503 Retry-After) is not
            // asked sooner, nor later than the backoff's own longest wait.
            Math.min(
              error instanceof TransientError ? (error.retryAfterSeconds ?? 0) : 0,
              backoff.maxSeconds,
            ),
          );
    if (configuration) metrics.configurationError?.(error.dependency);
    const recorded = await markFailed(deps.sql, {
      certificateId,
      owner,
      attempt,
      dead,
      refund: configuration,
      error: message,
      retryInSeconds,
      durationMs: performance.now() - started,
      details: {
        permanent,
        ...(configuration ? { configuration: true } : {}),
        ...(error instanceof TransientError ? { dependency: error.dependency } : {}),
        ...(error instanceof PermanentError ? { reason: error.reason } : {}),
        ...(dead ? {} : { retry_in_seconds: retryInSeconds }),
      },
    });
    if (!recorded) {
      // The failure could not be recorded because the row is no longer this attempt's. Either the
      // issuing COMMIT went through and only its answer was lost (the row is issued with this very
      // PDF: no other render has its hash), or a takeover owns it and has counted this attempt.
      if (issuing && (await issuedWithPdf(deps.sql, certificateId, issuing.sha256)))
        return reportIssued(issuing.s3Key, issuing.sha256, issuing.bytes, true);
      log.warn('Lease lost before the failure could be recorded; another worker owns it', {
        certificate_id: certificateId,
        attempt,
        error: message,
      });
      return { status: 'skipped', certificateId, reason: 'lease-lost' };
    }
    const fields = {
      certificate_id: certificateId,
      student_id: claimed.student_id,
      course_id: claimed.course_id,
      attempt,
      error: message,
      ...(dead ? { status: 'dead' } : { status: 'failed', retry_in_seconds: retryInSeconds }),
    };
    if (dead) log.error(`Failed to generate certificate for student: ${claimed.student_id}`, fields);
    else log.warn(`Failed to generate certificate for student: ${claimed.student_id}`, fields);
    metrics.certificateFailed();
    if (dead) metrics.certificateDead?.();
    return dead
      ? { status: 'dead', certificateId, attempt, error: message }
      : { status: 'failed', certificateId, attempt, error: message, retryInSeconds };
  }
}

/** Whether the certificate is issued with the PDF whose SHA-256 is `sha256` (this attempt's own). */
async function issuedWithPdf(sql: Sql, certificateId: string, sha256: string): Promise<boolean> {
  const [row] = await sql<{ issued: boolean }[]>`
    SELECT status IN ('issued', 'revoked', 'superseded') AND pdf_sha256 = ${sha256} AS issued
    FROM certificates WHERE id = ${certificateId}`;
  return row?.issued === true;
}
