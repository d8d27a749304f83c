import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Sql } from '../db/client.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import {
  exclusiveEndOf,
  isoDayOrInstant,
  isoDayOrInstantUntil,
  isSupportedInstant,
  OUT_OF_RANGE,
  startOf,
} from '../validation.ts';
import { assertUuid } from './ids.ts';
import { revokedAfter } from './lifecycle.ts';
import type { Log } from './ports.ts';
import { courseExists } from './read-model.ts';
import { type AttemptFilter, decideLaterPasses, enqueuePassingAttempts } from './scan.ts';

/**
 * Backfill of past attempts: certificates for passing attempts the scan has not seen, selected
 * by completion date (and course) and never past the scan's history boundary (selectionOf), fed
 * in at the concurrency budget's pace instead of all at once.
 * The state is the database itself (an attempt is done once `certificate_enqueued_at` is set, or
 * the later-pass rule decided it), so a run stopped anywhere resumes where it stopped and a
 * second run issues nothing twice. Rendering is left to the normal scan/generate pipeline: the
 * backfill only creates `pending` rows, and only while few enough are waiting.
 */

export const backfillRequestSchema = z
  .strictObject({
    // Years 0001-9999, and a bare `to` day's exclusive end (the next midnight) too: PostgreSQL
    // has no year 0000 and cannot read the `+010000-…` a Date of year 10000 is written as.
    from: isoDayOrInstant().describe('Attempts completed on or after this date (YYYY-MM-DD, UTC) or instant'),
    to: isoDayOrInstantUntil()
      .optional()
      .describe(
        'Attempts completed up to and including this date (YYYY-MM-DD, UTC), or before this instant; ' +
          "never past SCAN_NOT_BEFORE (default: SCAN_NOT_BEFORE, or the call's start when it is not set)",
      ),
    dryRun: z.boolean({ error: 'must be a boolean' }).default(false).describe('Only count; change nothing'),
    notify: z
      .boolean({ error: 'must be a boolean' })
      .default(false)
      .describe('Send `certificate.issued` webhooks for the backfilled certificates (default: silent)'),
  })
  .refine((value) => value.to === undefined || exclusiveEndOf(value.to) > startOf(value.from), {
    error: 'must be after `from`',
    path: ['to'],
  });

export type BackfillRequest = z.infer<typeof backfillRequestSchema>;

/**
 * What a run may select from: attempts completed in [from, to), of one course when `courseId` is
 * set. `to` is required: an open-ended selection would take the scan's live passes (see
 * selectionOf).
 */
export interface BackfillSelection extends AttemptFilter {
  from: Date;
  to: Date;
}

/** Where the history a run may take ends, besides the request's own `to`. */
export interface BackfillBoundary {
  /**
   * SCAN_NOT_BEFORE: the scan issues (and announces) every pass completed at or after it, so a
   * backfill that took one would race the scan for it and issue it silently, as its own.
   */
  scanNotBefore?: Date | undefined;
  /** When the run started: without SCAN_NOT_BEFORE, no pass completed later is history. */
  startedAt: Date;
}

/** What set a selection's `to`: the request's own `to`, SCAN_NOT_BEFORE, or the run's start. */
export type SelectionEnd = 'to' | 'SCAN_NOT_BEFORE' | 'start';

export interface BoundedSelection extends BackfillSelection {
  endedBy: SelectionEnd;
}

/**
 * The request's window, ended at the history boundary: at SCAN_NOT_BEFORE when it is known (a
 * later `to` is cut to it, a missing one becomes it), otherwise at the run's start. Passes after
 * the boundary are the scan's, which creates them with `notify = true`; a backfill that took
 * them would issue real passes made during its run without any webhook. Without SCAN_NOT_BEFORE
 * the scan issues history too, so this only keeps the run off passes made after it started.
 */
export function selectionOf(
  input: { from: string; to?: string | undefined },
  boundary: BackfillBoundary,
  courseId?: string,
): BoundedSelection {
  const from = startOf(input.from);
  // A bare `to` date includes that whole day (UTC): `--to 2024-12-31` means "through the 31st".
  const requested = input.to === undefined ? undefined : exclusiveEndOf(input.to);
  // The schema has checked both already; a caller that skipped it still gets a 400, not a 500.
  if (!isSupportedInstant(from.getTime())) throw new ValidationError(`from ${OUT_OF_RANGE}`, 'from');
  if (requested && !isSupportedInstant(requested.getTime()))
    throw new ValidationError(`to ${OUT_OF_RANGE}`, 'to');
  if (courseId !== undefined) assertUuid(courseId, 'courseId');
  const limit = boundary.scanNotBefore ?? boundary.startedAt;
  const limitedBy: SelectionEnd = boundary.scanNotBefore ? 'SCAN_NOT_BEFORE' : 'start';
  const [to, endedBy] =
    requested && requested.getTime() <= limit.getTime() ? [requested, 'to' as const] : [limit, limitedBy];
  // A window that ends before it starts selects nothing: said, not run as "0 certificates, done"
  // (a `from` after SCAN_NOT_BEFORE names passes that are the scan's, not the backfill's).
  if (to.getTime() <= from.getTime())
    throw new ValidationError(
      `from must be before ${to.toISOString()}, where the backfill's history ends (${
        endedBy === 'SCAN_NOT_BEFORE'
          ? 'SCAN_NOT_BEFORE: the scan issues the passes from then on'
          : endedBy === 'start'
            ? "this run's start"
            : 'to'
      })`,
      'from',
    );
  return { from, to, endedBy, ...(courseId ? { courseId } : {}) };
}

export interface CourseCount {
  courseId: string;
  title: string;
  /** Passing attempts selected and not yet seen by the scan. */
  attempts: number;
  /** Certificates the run would create: one per student without a live certificate of the course. */
  certificates: number;
  /**
   * Of those, the ones whose validity period (counted from the pass, the course's
   * validity_months) has already ended: issued expired, shown so everywhere, not downloadable.
   */
  expiredAtIssue: number;
}

export interface SampleAttempt {
  attemptId: string;
  studentId: string;
  courseId: string;
  completedAt: Date;
  score: number;
  maxScore: number;
}

export interface BackfillPreview {
  courses: CourseCount[];
  totalCertificates: number;
  totalExpiredAtIssue: number;
  totalAttempts: number;
  sample: SampleAttempt[];
}

/** The selection's attempts: passing, not seen by the scan, in the date window (and course). */
function selected(sql: Sql, selection: BackfillSelection) {
  return sql`
    a.passed AND a.certificate_enqueued_at IS NULL
    AND a.completed_at >= ${selection.from} AND a.completed_at < ${selection.to}
    ${selection.courseId ? sql`AND a.course_id = ${selection.courseId}` : sql``}`;
}

/**
 * What a run would do, read-only. A student with several passing attempts of a course gets one
 * certificate (the earliest attempt's, as the enqueue does); one who already holds a live
 * certificate of the course gets none here (the later-pass rule decides their attempt, which
 * renews an expired certificate or reissues for a better score: those are not counted).
 */
export async function previewBackfill(
  sql: Sql,
  selection: BackfillSelection,
  sampleSize = 5,
): Promise<BackfillPreview> {
  const courses = await sql<
    { course_id: string; title: string; attempts: number; certificates: number; expired_at_issue: number }[]
  >`
    WITH firsts AS (
      -- The attempt each student's certificate would come from: their earliest in the selection.
      SELECT DISTINCT ON (a.student_id, a.course_id) a.id, a.student_id, a.course_id, a.completed_at
      FROM test_attempts a
      WHERE ${selected(sql, selection)}
      ORDER BY a.student_id, a.course_id, a.completed_at, a.id
    ),
    creates AS (
      SELECT f.course_id, count(*)::int AS certificates,
             count(*) FILTER (WHERE c.validity_months IS NOT NULL
               AND ((f.completed_at AT TIME ZONE 'UTC')::date + make_interval(months => c.validity_months))
                   <= (now() AT TIME ZONE 'UTC')::date)::int AS expired_at_issue
      FROM firsts f JOIN courses c ON c.id = f.course_id
      WHERE NOT EXISTS (
        SELECT 1 FROM certificates x
        WHERE x.student_id = f.student_id AND x.course_id = f.course_id
          AND x.status NOT IN ('revoked', 'superseded'))
        -- An older pass than a revoked certificate's own changes nothing (the later-pass rule).
        AND NOT ${revokedAfter(sql, 'f')}
      GROUP BY f.course_id
    )
    SELECT a.course_id, c.title, count(*)::int AS attempts,
           coalesce(min(k.certificates), 0)::int AS certificates,
           coalesce(min(k.expired_at_issue), 0)::int AS expired_at_issue
    FROM test_attempts a JOIN courses c ON c.id = a.course_id
    LEFT JOIN creates k ON k.course_id = a.course_id
    WHERE ${selected(sql, selection)}
    GROUP BY a.course_id, c.title
    ORDER BY c.title, a.course_id`;
  const sample = await sql<
    {
      id: string;
      student_id: string;
      course_id: string;
      completed_at: Date;
      score: string;
      max_score: string;
    }[]
  >`
    SELECT a.id, a.student_id, a.course_id, a.completed_at, a.score, a.max_score
    FROM test_attempts a
    WHERE ${selected(sql, selection)}
    ORDER BY a.completed_at, a.id
    LIMIT ${sampleSize}`;
  return {
    courses: courses.map((row) => ({
      courseId: row.course_id,
      title: row.title,
      attempts: row.attempts,
      certificates: row.certificates,
      expiredAtIssue: row.expired_at_issue,
    })),
    totalCertificates: courses.reduce((sum, row) => sum + row.certificates, 0),
    totalExpiredAtIssue: courses.reduce((sum, row) => sum + row.expired_at_issue, 0),
    totalAttempts: courses.reduce((sum, row) => sum + row.attempts, 0),
    sample: sample.map((row) => ({
      attemptId: row.id,
      studentId: row.student_id,
      courseId: row.course_id,
      completedAt: row.completed_at,
      score: Number(row.score),
      maxScore: Number(row.max_score),
    })),
  };
}

/**
 * Certificates created and not yet finished, the backlog a run must keep small: pending,
 * rendering, and failed ones waiting for their retry. A failed certificate is claimed again ahead
 * of newer passes; not counting it, a run during an outage (Keycloak or S3 down, a broken
 * template) refilled its window as fast as generate failed and turned its whole selection into
 * retries in front of the live passes.
 */
export async function countWaiting(sql: Sql): Promise<number> {
  const [row] = await sql<{ waiting: number }[]>`
    SELECT count(*)::int AS waiting FROM certificates WHERE status IN ('pending', 'rendering', 'failed')`;
  return row?.waiting ?? 0;
}

export interface BackfillProgress {
  /** Attempts taken off the selection so far (certificate created, or decided by the later-pass rule). */
  done: number;
  created: number;
  /** What was left of the selection when the run started. */
  total: number;
  elapsedMs: number;
}

/**
 * How many certificates a backfill lets wait in front of the workers: twice the concurrency
 * budget (GENERATE_MAX_CONCURRENCY), so the scan always has work and new passes never queue
 * behind more than that. The route and `npm run backfill` pace alike.
 */
export function backfillMaxWaiting(maxInFlight: number): number {
  return 2 * maxInFlight;
}

export interface BackfillOptions {
  /** Attempts per batch (one transaction). */
  batchSize: number;
  /**
   * At most this many certificates wait (pending, rendering or failed) before the next batch is added:
   * the budget (GENERATE_MAX_CONCURRENCY) times a small factor, so the scan always has work
   * and a backfill never piles up more than that in front of new attempts.
   */
  maxWaiting: number;
  /** false: the backfilled certificates' issuance sends no webhook. */
  notify: boolean;
  /** Stop after this many batches (the HTTP route: one, then let the scan drain). */
  maxBatches?: number;
  /** The staff `sub` that asked (the HTTP route): the created certificates' audit actor, else `backfill`. */
  requestedBy?: string;
  /** Checked between batches: an abort (Ctrl-C) ends the run cleanly there. */
  signal?: AbortSignal;
  /** How long to wait for the backlog to shrink before looking again. */
  pollMs?: number;
  onProgress?: (progress: BackfillProgress) => void;
  /** Before each pause, why the run pauses (the command line shows it beside its progress). */
  onWait?: (reason: string) => void;
}

export interface BackfillResult extends BackfillProgress {
  /** Why the run ended: nothing left, batch limit, aborted, or no attempt could be decided. */
  stopped: 'done' | 'batch-limit' | 'aborted' | 'stuck';
  remaining: number;
}

/**
 * Batches in a row that settled nothing but waited on another run (its earlier passes of the same
 * students, or the attempts left, held by its statement), before the run stops "stuck": such a
 * hold lasts one statement or one later-pass decision, never this long.
 */
const MAX_WAITED_ROUNDS = 30;

async function remainingAttempts(sql: Sql, selection: BackfillSelection): Promise<number> {
  const [row] = await sql<{ remaining: number }[]>`
    SELECT count(*)::int AS remaining FROM test_attempts a WHERE ${selected(sql, selection)}`;
  return row?.remaining ?? 0;
}

export async function runBackfill(
  deps: { sql: Sql; log: Log },
  selection: BackfillSelection,
  options: BackfillOptions,
): Promise<BackfillResult> {
  const started = Date.now();
  const total = await remainingAttempts(deps.sql, selection);
  const progress: BackfillProgress = { done: 0, created: 0, total, elapsedMs: 0 };
  let batches = 0;
  let waitedRounds = 0;
  let stopped: BackfillResult['stopped'] = 'done';
  for (;;) {
    if (options.signal?.aborted) {
      stopped = 'aborted';
      break;
    }
    if (options.maxBatches !== undefined && batches >= options.maxBatches) {
      stopped = 'batch-limit';
      break;
    }
    const room = options.maxWaiting - (await countWaiting(deps.sql));
    if (room <= 0) {
      // The route never waits: one batch's worth of work at most, the scan drains the rest.
      if (options.maxBatches !== undefined) {
        stopped = 'batch-limit';
        break;
      }
      options.onWait?.(
        `waiting for the backlog: ${options.maxWaiting} or more certificates pending, rendering or failed (retrying)`,
      );
      await sleep(options.pollMs ?? 1000, undefined, { signal: options.signal }).catch(() => undefined);
      continue;
    }
    const batch = await enqueuePassingAttempts(deps.sql, Math.min(options.batchSize, room), {
      filter: selection,
      notify: options.notify,
      source: 'backfill',
      requestedBy: options.requestedBy,
    });
    batches += 1;
    if (batch.scanned === 0) {
      // Nothing free to take. Attempts another run's statement holds right now (SKIP LOCKED passed
      // over them) are still to do: wait for that run to let go, as for deferred ones, rather than
      // end "done" with work left. The route's one batch returns at once; a later call takes them.
      const held = options.maxBatches === undefined ? await remainingAttempts(deps.sql, selection) : 0;
      if (held > 0) {
        if (waitedRounds >= MAX_WAITED_ROUNDS) {
          stopped = 'stuck';
          break;
        }
        waitedRounds += 1;
        deps.log.info('Backfill waiting: another run holds the attempts left', { held });
        options.onWait?.(`waiting: another run holds the ${held} attempt(s) left`);
        await sleep(options.pollMs ?? 1000, undefined, { signal: options.signal }).catch(() => undefined);
        continue;
      }
      break;
    }
    // Attempts of students who already have a live certificate: the scan's rule decides (and marks)
    // them, silently when the backfill is (a renewal it creates is a backfilled certificate too).
    const { decided, created } = await decideLaterPasses(deps, batch.laterPasses, {
      notify: options.notify,
      actor: 'backfill',
    });
    progress.done += batch.created + decided;
    progress.created += batch.created + created;
    progress.elapsedMs = Date.now() - started;
    options.onProgress?.({ ...progress });
    if (batch.created + decided > 0) {
      waitedRounds = 0;
      continue;
    }
    // Nothing of the batch was settled. Attempts deferred behind an earlier pass that a
    // concurrent run or scan holds are taken again once its statement commits (milliseconds);
    // a second backfill started beside this one must not end this one with work left.
    if (batch.deferred > 0 && waitedRounds < MAX_WAITED_ROUNDS) {
      // The route's one batch is spent: it returns at once, as always; a later call takes them.
      if (options.maxBatches !== undefined && batches >= options.maxBatches) continue;
      waitedRounds += 1;
      deps.log.info('Backfill waiting: another run holds earlier passes of the same students', {
        deferred: batch.deferred,
      });
      options.onWait?.(`waiting: another run holds earlier passes of ${batch.deferred} attempt(s)' students`);
      await sleep(options.pollMs ?? 1000, undefined, { signal: options.signal }).catch(() => undefined);
      continue;
    }
    // Every attempt of the batch failed to be decided: looping would pick the same ones forever.
    stopped = 'stuck';
    break;
  }
  progress.elapsedMs = Date.now() - started;
  const remaining = await remainingAttempts(deps.sql, selection);
  deps.log.info('Backfill run ended', {
    ...progress,
    stopped,
    remaining,
    notify: options.notify,
    completed_before: selection.to.toISOString(),
  });
  return { ...progress, stopped, remaining };
}

/** "1234/5000 (24.7%)  83.1/s  ETA 45s": the progress line of the command-line backfill. */
export function formatProgress(progress: BackfillProgress): string {
  const rate = progress.elapsedMs > 0 ? (progress.done * 1000) / progress.elapsedMs : 0;
  const left = Math.max(0, progress.total - progress.done);
  const percent = progress.total > 0 ? (progress.done * 100) / progress.total : 100;
  const eta = rate > 0 ? `${Math.ceil(left / rate)}s` : '?';
  return `${progress.done}/${progress.total} (${percent.toFixed(1)}%)  ${rate.toFixed(1)}/s  ETA ${eta}`;
}

export interface CourseBackfillResult {
  courseId: string;
  dryRun: boolean;
  /** Dry run: certificates a run would create. Otherwise: certificates this call created. */
  certificates: number;
  /** Dry run: of those, the ones issued already past their validity period. Otherwise 0. */
  expiredAtIssue: number;
  /** Passing attempts of the selection still waiting for the backfill after this call. */
  remainingAttempts: number;
  /** Dry run: the first few attempts of the selection. Otherwise empty. */
  sample: SampleAttempt[];
}

/** The route's answer: the result, and where its selection ended (the effective `to`). */
export interface CourseBackfillRun extends CourseBackfillResult {
  /** Attempts completed before this instant were selected: `to`, SCAN_NOT_BEFORE or the call's start. */
  completedBefore: Date;
}

/** Whether `courseId` names a course: a mistyped id must not read as "nothing to backfill". */
/**
 * The staff route's backfill of one course: a dry run counts; a real run adds at most one batch
 * (and nothing while the backlog is full) and returns at once, leaving rendering to the scan.
 * Calling it again continues where it stopped.
 */
export async function backfillCourse(
  deps: { sql: Sql; log: Log },
  courseId: string,
  request: BackfillRequest,
  options: { batchSize: number; maxWaiting: number; boundary: BackfillBoundary; requestedBy: string },
): Promise<CourseBackfillRun> {
  const selection = selectionOf(request, options.boundary, courseId);
  if (!(await courseExists(deps.sql, courseId))) throw new NotFoundError('course');
  if (request.dryRun) {
    const preview = await previewBackfill(deps.sql, selection);
    return {
      courseId,
      dryRun: true,
      certificates: preview.totalCertificates,
      expiredAtIssue: preview.totalExpiredAtIssue,
      remainingAttempts: preview.totalAttempts,
      sample: preview.sample,
      completedBefore: selection.to,
    };
  }
  const result = await runBackfill(deps, selection, {
    batchSize: options.batchSize,
    maxWaiting: options.maxWaiting,
    notify: request.notify,
    maxBatches: 1,
    requestedBy: options.requestedBy,
  });
  return {
    courseId,
    dryRun: false,
    certificates: result.created,
    expiredAtIssue: 0,
    remainingAttempts: result.remaining,
    sample: [],
    completedBefore: selection.to,
  };
}
