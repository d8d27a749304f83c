import { z } from 'zod';
import type { Sql, TransactionSql } from '../db/client.ts';
import { ConflictError, errorMessage, ValidationError } from '../errors.ts';
import { isoInstant, parseWith } from '../validation.ts';
import { dispatchWithinBudget } from './budget.ts';
import { uuidString } from './ids.ts';
import { applyLaterPassRule, isLive, revokedAfter } from './lifecycle.ts';
import type { Dispatch, Log } from './ports.ts';

/**
 * Ingestion of one test attempt (the guide's `process_raws`): a raw score and its maximum
 * become an attempt whose pass/fail is decided here against the course's pass mark. A passing
 * attempt gets its pending certificate in the same transaction and `generate` is invoked at
 * once; the scheduled scan stays the safety net if that invoke fails. Repeating a request with
 * the same `externalRef` returns the first result instead of recording a second attempt.
 */

// numeric(10, 2) in the schema: at most 8 integer digits and 2 decimals, never silently rounded.
const MAX_SCORE_VALUE = 99_999_999.99;
// A value within 1e-9 of two decimals passes: a float sum such as 0.05 + 68.88 + 1.07 is
// 69.99999999999999 and means 70.00, which is what the row stores. `cents` is that value, and
// pass/fail, the score-below-maximum rule and a retry's comparison all use it, so a pass at the
// mark is not decided on the float's last bit and a resent request is the same attempt.
const cents = (value: number) => Math.round(value * 100) / 100;
const twoDecimals = (value: number) => Math.abs(cents(value) - value) < 1e-9;
const CLOCK_SKEW_MS = 5 * 60 * 1000;

export const recordAttemptInputSchema = z
  .object({
    // Lower-cased as PostgreSQL prints them: a retry compares them with the stored attempt.
    studentId: uuidString(),
    courseId: uuidString(),
    score: z
      .number({ error: 'must be a number' })
      .finite()
      .min(0, 'must not be negative')
      .max(MAX_SCORE_VALUE)
      .refine(twoDecimals, 'must have at most two decimals')
      // The refinements are not JSON Schema: the published contract states them in words.
      .meta({ description: 'At most two decimals, and not above `maxScore`' }),
    maxScore: z
      .number({ error: 'must be a number' })
      .finite()
      .positive('must be greater than 0')
      .max(MAX_SCORE_VALUE)
      .refine(twoDecimals, 'must have at most two decimals')
      // 1e-10 passes the two-decimals rule as 0.00, which the row cannot hold (max_score > 0).
      .refine((value) => cents(value) > 0, 'must be at least 0.01')
      .meta({ description: 'Greater than 0, at most two decimals' }),
    // Years 0001-9999 (isoInstant): PostgreSQL refuses year 0000 with a 500 otherwise.
    completedAt: isoInstant()
      .refine((value) => Date.parse(value) <= Date.now() + CLOCK_SKEW_MS, 'must not be in the future')
      .meta({
        description:
          'When the attempt was completed (default: now); not in the future (5 minutes of clock skew ' +
          'allowed), years 0001-9999',
      })
      .optional(),
    externalRef: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .optional(),
  })
  .strict()
  .refine((input) => cents(input.score) <= cents(input.maxScore), {
    path: ['score'],
    message: 'must not exceed maxScore',
  });

export type RecordAttemptInput = z.infer<typeof recordAttemptInputSchema>;

export interface AttemptView {
  id: string;
  studentId: string;
  courseId: string;
  score: number;
  maxScore: number;
  percentage: number;
  passed: boolean;
  passPercentage: number;
  completedAt: string;
  externalRef: string | null;
}

export interface RecordAttemptResult {
  /** false when `externalRef` had been recorded before: this is the earlier attempt. */
  created: boolean;
  attempt: AttemptView;
  /** The live certificate for this student and course, if the attempt passed. */
  certificate: { id: string; status: string; created: boolean } | null;
  /** Whether generation was invoked now (only for a newly created certificate). */
  dispatched: boolean;
}

export interface RecordAttemptDeps {
  sql: Sql;
  dispatch: Dispatch;
  log: Log;
}

export interface RecordAttemptOptions {
  /** Same meaning as the scan's: the scan leaves a freshly dispatched certificate alone this long. */
  dispatchLeaseSeconds: number;
  /** The concurrency budget (GENERATE_MAX_CONCURRENCY); when it is full the scan issues it later. */
  maxInFlight?: number;
  /**
   * Who posted it (the route's caller: a certificate admin or the testing system's service
   * account): the created certificate's audit actor, with the client it used, for good. Else
   * `ingestion`.
   */
  postedBy?: { subject: string; clientId?: string };
}

interface AttemptRow {
  id: string;
  student_id: string;
  course_id: string;
  score: string;
  max_score: string;
  passed: boolean;
  completed_at: Date;
  external_ref: string | null;
  pass_percentage: string;
}

/** The student's live certificate for the course (at most one exists), if any. */
async function liveCertificate(
  sql: Sql | TransactionSql,
  studentId: string,
  courseId: string,
): Promise<{ id: string; status: string } | undefined> {
  const [row] = await sql<{ id: string; status: string }[]>`
    SELECT c.id, c.status::text FROM certificates c
    WHERE c.student_id = ${studentId} AND c.course_id = ${courseId} AND ${isLive(sql, 'c')}`;
  return row;
}

function toView(row: AttemptRow): AttemptView {
  const score = Number(row.score);
  const maxScore = Number(row.max_score);
  return {
    id: row.id,
    studentId: row.student_id,
    courseId: row.course_id,
    score,
    maxScore,
    percentage: Math.round((score / maxScore) * 10000) / 100,
    passed: row.passed,
    passPercentage: Number(row.pass_percentage),
    completedAt: row.completed_at.toISOString(),
    externalRef: row.external_ref,
  };
}

export function parseRecordAttemptInput(input: unknown): RecordAttemptInput {
  const parsed = parseWith(recordAttemptInputSchema, input);
  return { ...parsed, score: cents(parsed.score), maxScore: cents(parsed.maxScore) };
}

export async function recordAttempt(
  deps: RecordAttemptDeps,
  options: RecordAttemptOptions,
  rawInput: unknown,
): Promise<RecordAttemptResult> {
  const input = parseRecordAttemptInput(rawInput);
  const log = deps.log;

  const result = await deps.sql.begin(async (tx) => {
    const [course] = await tx<{ pass_percentage: string }[]>`
      SELECT pass_percentage FROM courses WHERE id = ${input.courseId}`;
    if (!course) throw new ValidationError('courseId does not name a known course', 'courseId');

    // Pass mark compared in exact numeric arithmetic: 70.00% of 3 is not a float question.
    const [inserted] = await tx<AttemptRow[]>`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at, external_ref)
      VALUES (${input.studentId}, ${input.courseId}, ${input.score}, ${input.maxScore},
              ${input.score}::numeric * 100 >= ${course.pass_percentage}::numeric * ${input.maxScore}::numeric,
              coalesce(${input.completedAt ?? null}::timestamptz, now()), ${input.externalRef ?? null})
      ON CONFLICT (external_ref) DO NOTHING
      RETURNING id, student_id, course_id, score, max_score, passed, completed_at, external_ref,
                ${course.pass_percentage}::numeric AS pass_percentage`;

    if (!inserted) {
      const [existing] = await tx<AttemptRow[]>`
        SELECT a.id, a.student_id, a.course_id, a.score, a.max_score, a.passed, a.completed_at,
               a.external_ref, c.pass_percentage
        FROM test_attempts a JOIN courses c ON c.id = a.course_id
        WHERE a.external_ref = ${input.externalRef ?? null}`;
      if (!existing) throw new Error('attempt vanished after external_ref conflict');
      const same =
        existing.student_id === input.studentId &&
        existing.course_id === input.courseId &&
        Number(existing.score) === input.score &&
        Number(existing.max_score) === input.maxScore &&
        // A retry may leave completedAt out (the first call's `now()` stands); one that gives it
        // must give the same instant.
        (input.completedAt === undefined ||
          existing.completed_at.getTime() === Date.parse(input.completedAt));
      if (!same) {
        throw new ConflictError('externalRef was already recorded with different values', {
          attemptId: existing.id,
        });
      }
      const certificate = await liveCertificate(tx, existing.student_id, existing.course_id);
      return {
        created: false,
        attempt: toView(existing),
        certificate: existing.passed && certificate ? { ...certificate, created: false } : null,
      };
    }

    if (!inserted.passed) return { created: true, attempt: toView(inserted), certificate: null };

    const [created] = await tx<{ id: string; status: string }[]>`
      WITH cert AS (
        -- A pass completed before a revoked certificate's own (one posted late, with its
        -- completedAt) is left to the later-pass rule, as the scan leaves it: no new certificate.
        INSERT INTO certificates (student_id, course_id, test_attempt_id)
        SELECT a.student_id, a.course_id, a.id FROM test_attempts a
        WHERE a.id = ${inserted.id} AND NOT ${revokedAfter(tx, 'a')}
        ON CONFLICT DO NOTHING
        RETURNING id, status, test_attempt_id
      ),
      audit AS (
        INSERT INTO certificate_generation_log (certificate_id, event, to_status, message, actor, details)
        SELECT id, 'created', 'pending', 'pending certificate created on ingestion',
               ${options.postedBy?.subject ?? 'ingestion'},
               jsonb_build_object('test_attempt_id', test_attempt_id)
                 || ${tx.json(options.postedBy?.clientId ? { client_id: options.postedBy.clientId } : {})}::jsonb
        FROM cert
      )
      SELECT id, status::text FROM cert`;
    if (created) {
      await tx`UPDATE test_attempts SET certificate_enqueued_at = now() WHERE id = ${inserted.id}`;
      return { created: true, attempt: toView(inserted), certificate: { ...created, created: true } };
    }

    // The student has a live certificate for the course: the later-pass rule decides below,
    // after commit. The attempt stays unmarked until then, so the scan decides it if we die first.
    const live = await liveCertificate(tx, inserted.student_id, inserted.course_id);
    return {
      created: true,
      attempt: toView(inserted),
      certificate: live ? { ...live, created: false } : null,
      laterPass: true,
    };
  });

  if ('laterPass' in result) {
    const { laterPass: _, ...recorded } = result;
    return await decideLaterPass(deps, options, recorded);
  }
  // The attempt and its pending certificate are committed: whatever happens now, the scan is
  // the safety net.
  const dispatched = result.certificate?.created
    ? await dispatchWithinBudget(deps, options, result.certificate.id)
    : false;
  log.info('Test attempt recorded', {
    attempt_id: result.attempt.id,
    course_id: result.attempt.courseId,
    passed: result.attempt.passed,
    created: result.created,
    certificate_id: result.certificate?.id,
    dispatched,
  });
  return { ...result, dispatched };
}

/**
 * A passing attempt whose certificate insert did nothing (the student has a live certificate):
 * the later-pass rule (lifecycle.ts) surfaces a pass blocked by a dead certificate to staff,
 * renews an expired one (and dispatches the new one), or records it against the live one. Should the rule fail, the
 * attempt is committed and unmarked, so the next scan decides it.
 */
async function decideLaterPass(
  deps: RecordAttemptDeps,
  options: RecordAttemptOptions,
  recorded: Omit<RecordAttemptResult, 'dispatched'>,
): Promise<RecordAttemptResult> {
  const { attempt } = recorded;
  try {
    const decision = await applyLaterPassRule(
      deps,
      // The poster is on record here too: a renewal or a better score's reissue it causes.
      { attemptId: attempt.id, actor: options.postedBy?.subject ?? 'ingestion' },
      { dispatchLeaseSeconds: options.dispatchLeaseSeconds, maxInFlight: options.maxInFlight },
    );
    // The certificate this attempt created (a replacement waits beside the live one it replaces
    // until it is issued), else the live one.
    const [created] = decision.createdCertificateId
      ? await deps.sql<{ id: string; status: string }[]>`
          SELECT id, status::text FROM certificates WHERE id = ${decision.createdCertificateId}`
      : [];
    const live = created ?? (await liveCertificate(deps.sql, attempt.studentId, attempt.courseId));
    const certificate = live ? { ...live, created: live.id === decision.createdCertificateId } : null;
    deps.log.info('Test attempt recorded', {
      attempt_id: attempt.id,
      course_id: attempt.courseId,
      passed: true,
      later_pass_outcome: decision.outcome,
      certificate_id: certificate?.id,
      dispatched: decision.dispatched,
    });
    return { ...recorded, certificate, dispatched: decision.dispatched };
  } catch (error) {
    // The scan takes passes completed from SCAN_NOT_BEFORE on: one completed before it (a
    // backdated completedAt) is decided only by a backfill over its date, which the line says.
    deps.log.warn(
      'Later passing attempt could not be decided now; the scan will (if completed before SCAN_NOT_BEFORE, npm run backfill over its date will)',
      { attempt_id: attempt.id, completed_at: attempt.completedAt, error: errorMessage(error) },
    );
    return { ...recorded, dispatched: false };
  }
}
