import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql, TransactionSql } from '../db/client.ts';
import { errorMessage } from '../errors.ts';
import { claimLeaseSeconds, confirmDispatch, releaseDispatch, withFreeSlots } from './budget.ts';
import { applyLaterPassRule, redecideWaitingLaterPasses, revokedAfter } from './lifecycle.ts';
import type { Dispatch, Log, ScanDeps, ScanOptions } from './ports.ts';

/**
 * The scheduled scan, in two short statements so it stays cheap however large the tables grow:
 * 1. enqueue: passing attempts the scan has not seen (partial index, O(new)) become `pending`
 *    certificates; the unique indexes (one per attempt, one live per student+course) make a
 *    repeated or concurrent enqueue a no-op.
 * 2. claim: due certificates are marked dispatched for a short while (so concurrent scans do not
 *    hand out the same ones), `generate` is invoked once per id, and each accepted invoke extends
 *    its mark to the full dispatch lease (budget.ts, CLAIM_LEASE_SECONDS). The generate claim
 *    itself is the real guard: a doubled invocation stops quietly.
 */

/**
 * A scan stops claiming when its Lambda has less than this left. After its last claim it still
 * invokes that batch (well under a second normally) and writes its summary; 20 s leaves room for
 * an invoke that uses all its tries and timeouts (lambda-dispatch.ts SCAN_INVOKE, 15 s at worst;
 * a test keeps this above it). A scan cut off anyway holds what it claimed only for the claim lease.
 */
export const CLAIM_STOP_MARGIN_MS = 20_000;

/**
 * How soon a scan whose budget was full claims again. At 1 s a slot freed by a 60-300 ms render
 * sat idle until the next poll: the drain was capped at GENERATE_MAX_CONCURRENCY certificates a
 * second and the slots were busy ~20 % of the time. A poll is one claim (a short transaction on
 * small partial indexes, a few ms: bench (d)) and one EXISTS from the scan's single container, so
 * ten a second cost the database little; the claim's budget lock is held that long, which is all
 * an ingestion reserving a slot meanwhile waits.
 */
const FILL_POLL_MS = 100;

/**
 * The deadline is said to have ended claiming only when it cut the fill window by more than this.
 * With SCAN_FILL_SECONDS at its maximum (the scan's timeout less CLAIM_STOP_MARGIN_MS) both end
 * together, apart from the milliseconds before the handler reads its remaining time; that is the
 * configuration working, not a scan that ran short.
 */
const DEADLINE_CUT_NOTICE_MS = 1000;

export interface EnqueueResult {
  scanned: number;
  created: number;
  /** Passing attempts whose insert did nothing (the student has or had a certificate): for decideLaterPasses. */
  laterPasses: string[];
  /**
   * Picked attempts left unmarked because a concurrent statement holds an earlier pass of the
   * same student and course (see `deferred` below): a later enqueue takes them once it commits.
   */
  deferred: number;
}

/** Which unscanned passing attempts an enqueue may take (the backfill narrows it; the scan takes all). */
export interface AttemptFilter {
  /** Completed at or after. */
  from?: Date;
  /** Completed strictly before. */
  to?: Date;
  courseId?: string;
}

export interface EnqueueOptions {
  filter?: AttemptFilter;
  /** false: the certificate's `certificate.issued` webhook is not written (a silent backfill). */
  notify?: boolean;
  /** Which run created the rows: the scan by default. */
  source?: 'scan' | 'backfill';
  /** The audit rows' actor when a person asked for the run (the backfill route's caller); else the source. */
  requestedBy?: string;
}

/**
 * Turns up to `limit` unscanned passing attempts into `pending` certificates, earliest first, with
 * one `created` audit row each. The scan's step 1, shared with the backfill so both create
 * exactly the same rows under the same unique indexes.
 */
export async function enqueuePassingAttempts(
  sql: Sql,
  limit: number,
  options: EnqueueOptions = {},
): Promise<EnqueueResult> {
  const { from, to, courseId } = options.filter ?? {};
  const source = options.source ?? 'scan';
  const notify = options.notify ?? true;
  // A backfilled row says so in its audit, with whether its issuance will be announced.
  const auditDetails = source === 'backfill' ? { backfill: true, notify } : {};
  const [row] = await sql<{ scanned: number; created: number; later_passes: string[]; deferred: number }[]>`
    WITH picked AS (
      SELECT id, student_id, course_id, completed_at
      FROM test_attempts
      WHERE passed AND certificate_enqueued_at IS NULL
        ${from ? sql`AND completed_at >= ${from}` : sql``}
        ${to ? sql`AND completed_at < ${to}` : sql``}
        ${courseId ? sql`AND course_id = ${courseId}` : sql``}
      ORDER BY completed_at, id
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ),
    deferred AS (
      -- An attempt with an earlier unscanned pass of the same student and course that this batch
      -- does not hold: a concurrent scan holds it (SKIP LOCKED skipped it) and gives it the
      -- certificate. This one is left unmarked, for the next scan's later-pass rule; inserting it
      -- here could win the race for the student's one live certificate.
      SELECT p.id FROM picked p
      WHERE EXISTS (
        SELECT 1 FROM test_attempts e
        WHERE e.student_id = p.student_id AND e.course_id = p.course_id
          AND e.passed AND e.certificate_enqueued_at IS NULL
          AND (e.completed_at, e.id) < (p.completed_at, p.id)
          AND e.id NOT IN (SELECT id FROM picked)
          ${from ? sql`AND e.completed_at >= ${from}` : sql``}
          ${to ? sql`AND e.completed_at < ${to}` : sql``})
    ),
    inserted AS (
      -- Earliest attempt first: when one batch holds two passing attempts of the same student
      -- and course, the earlier one gets the certificate and the later one is a no-op.
      -- A backfilled certificate's validity period counts from its pass (its UTC day), not from
      -- the day it is printed: a qualification earned years ago is not current until next year.
      -- A pass completed before a revoked certificate's own (history a backfill imports) is left to
      -- the later-pass rule, which records it against that certificate: a revocation is not undone
      -- by an older pass (lifecycle.ts, rule 2).
      INSERT INTO certificates (student_id, course_id, test_attempt_id, notify, validity_start)
      SELECT student_id, course_id, id, ${notify},
             CASE WHEN ${source === 'backfill'}::boolean THEN (completed_at AT TIME ZONE 'UTC')::date END
      FROM picked p
      WHERE id NOT IN (SELECT id FROM deferred)
        AND NOT ${revokedAfter(sql, 'p')}
      ORDER BY completed_at, id
      ON CONFLICT DO NOTHING
      RETURNING id, test_attempt_id
    ),
    marked AS (
      -- An attempt whose insert did nothing stays unmarked until the later-pass rule has decided
      -- it (the rule marks it), so a scan that dies before deciding leaves it to the next one.
      UPDATE test_attempts SET certificate_enqueued_at = now()
      WHERE id IN (SELECT test_attempt_id FROM inserted)
      RETURNING id
    ),
    audited AS (
      INSERT INTO certificate_generation_log (certificate_id, event, to_status, message, actor, details)
      SELECT id, 'created', 'pending', ${`pending certificate created by ${source}`}, ${options.requestedBy ?? source},
             jsonb_build_object('test_attempt_id', test_attempt_id) || ${sql.json(auditDetails)}::jsonb
      FROM inserted
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM picked)::int AS scanned, (SELECT count(*) FROM audited)::int AS created,
           (SELECT count(*) FROM deferred)::int AS deferred,
           (SELECT coalesce(array_agg(id ORDER BY completed_at, id), '{}') FROM picked
            WHERE id NOT IN (SELECT test_attempt_id FROM inserted) AND id NOT IN (SELECT id FROM deferred)) AS later_passes`;
  return {
    scanned: row?.scanned ?? 0,
    created: row?.created ?? 0,
    laterPasses: row?.later_passes ?? [],
    deferred: row?.deferred ?? 0,
  };
}

/** Who runs the later-pass rule for enqueued attempts: the scheduled scan, or a backfill run. */
export type LaterPassActor = 'scan' | 'backfill';

/**
 * Applies the later-pass rule (lifecycle.ts) to passing attempts the enqueue skipped because the
 * student has a live certificate: staff review behind a dead one, renewal of an expired one (the
 * new certificate is left undispatched, so the claim below hands it out), an audit row always. The rule decides each attempt once however
 * many scans call it; one that fails stays unmarked and is tried again by the next scan.
 * Returns how many were decided, and how many new certificates the rule created (renewals,
 * better-score reissues, a certificate after a revocation). `notify: false` (a silent backfill):
 * those certificates are issued without a `certificate.issued` webhook. `actor` names who
 * decided in the rule's audit rows, so a supersession a backfill made is not put on the scan.
 */
export async function decideLaterPasses(
  deps: { sql: Sql; log: Log },
  attemptIds: readonly string[],
  options: { notify?: boolean; actor?: LaterPassActor; until?: number } = {},
): Promise<{ decided: number; created: number }> {
  const actor = options.actor ?? 'scan';
  let decided = 0;
  let created = 0;
  for (const attemptId of attemptIds) {
    // Past `until` the rest stay unmarked, as a failed one does, for the next scan.
    if (options.until !== undefined && Date.now() >= options.until) break;
    try {
      const result = await applyLaterPassRule(
        { sql: deps.sql, log: deps.log },
        { attemptId, actor, ...(options.notify === undefined ? {} : { notify: options.notify }) },
      );
      decided += 1;
      if (result.createdCertificateId) created += 1;
    } catch (error) {
      // A backfill's attempts are history the scan leaves alone (SCAN_NOT_BEFORE): the next run retries.
      const retry = actor === 'backfill' ? 'the next backfill run' : 'the next scan';
      deps.log.warn(`Later passing attempt could not be decided; ${retry} tries again`, {
        attempt_id: attemptId,
        error: errorMessage(error),
      });
    }
  }
  return { decided, created };
}

/**
 * Claims up to `batchSize` due certificates for dispatch for `leaseSeconds`; returns their ids,
 * most overdue first. With `maxInFlight`, fewer: only as many as the concurrency budget has free
 * slots. The scan claims with the short claim lease and extends it per accepted invoke; the
 * in-process drain, which renders what it claims itself, with the full dispatch lease.
 */
export async function claimDueForDispatch(
  sql: Sql,
  batchSize: number,
  leaseSeconds: number,
  maxInFlight?: number,
): Promise<string[]> {
  if (maxInFlight === undefined) return await claimDue(sql, batchSize, leaseSeconds);
  return await withFreeSlots(sql, maxInFlight, async (tx, free) =>
    free > 0 ? await claimDue(tx, Math.min(batchSize, free), leaseSeconds) : [],
  );
}

async function claimDue(
  sql: Sql | TransactionSql,
  batchSize: number,
  leaseSeconds: number,
): Promise<string[]> {
  // Two picks (pending/failed by next_attempt_at on its index, expired leases) instead of one OR:
  // with a million due rows the OR became a bitmap scan plus a sort (~0.6 s); each branch now
  // stops after `batchSize` rows.
  // Both are ordered by when they came due. An expired lease is due once the lease has run out
  // and the backoff its claim set has passed (generate.ts): a worker that died without a result
  // queues behind the certificates that were waiting meanwhile, however old its next_attempt_at,
  // instead of taking its budget slot back at every lease expiry until it is dead.
  const rows = await sql<{ id: string; due_at: Date }[]>`
    WITH due AS (
      SELECT id, next_attempt_at AS due_at FROM certificates
      WHERE status IN ('pending', 'failed') AND next_attempt_at <= now()
        AND (dispatched_until IS NULL OR dispatched_until < now())
      ORDER BY next_attempt_at
      LIMIT ${batchSize}
      FOR UPDATE SKIP LOCKED
    ),
    expired AS (
      -- Few rows: rendering ones are at most the budget plus crashed ones (certificates_lease_idx).
      SELECT id, greatest(lease_expires_at, next_attempt_at) AS due_at FROM certificates
      WHERE status = 'rendering' AND lease_expires_at < now() AND next_attempt_at <= now()
        AND (dispatched_until IS NULL OR dispatched_until < now())
      ORDER BY due_at
      LIMIT ${batchSize}
      FOR UPDATE SKIP LOCKED
    ),
    picked AS (
      SELECT id, due_at FROM (SELECT id, due_at FROM due UNION ALL SELECT id, due_at FROM expired) candidates
      ORDER BY due_at
      LIMIT ${batchSize}
    )
    UPDATE certificates c SET dispatched_until = now() + make_interval(secs => ${leaseSeconds})
    FROM picked
    WHERE c.id = picked.id
    RETURNING c.id, picked.due_at`;
  // UPDATE ... RETURNING does not keep the subquery's order.
  return [...rows].sort((a, b) => a.due_at.getTime() - b.due_at.getTime()).map((row) => row.id);
}

/** Whether any certificate is due and not dispatched (the scan keeps filling the budget while so). */
export async function hasUndispatchedDue(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ due: boolean }[]>`
    SELECT EXISTS (
      SELECT 1 FROM certificates
      WHERE status IN ('pending', 'failed') AND next_attempt_at <= now()
        AND (dispatched_until IS NULL OR dispatched_until < now())
    ) OR EXISTS (
      SELECT 1 FROM certificates
      WHERE status = 'rendering' AND lease_expires_at < now() AND next_attempt_at <= now()
        AND (dispatched_until IS NULL OR dispatched_until < now())
    ) AS due`;
  return row?.due ?? false;
}

export interface DispatchResult {
  dispatched: string[];
  failed: string[];
  /** Claimed but not invoked, the scan's time being nearly up: released for the next scan. */
  unsent?: string[];
  /** What the first failed invoke threw (it ended the pass). */
  error?: unknown;
}

/**
 * Invokes `dispatch` for every id with bounded concurrency. An accepted invoke extends the
 * certificate's claim to `dispatchLeaseSeconds`; a failed one is released for the next scan.
 * After a failure nothing more is invoked (the invokes already under way finish) and the rest are
 * released unattempted: a throttled or unreachable Lambda API would fail them too, and trying
 * them all, round after round of `concurrency`, could take longer than the scan has left
 * (CLAIM_STOP_MARGIN_MS covers one invoke's worst case, not a batch's).
 */
export async function dispatchAll(
  sql: Sql,
  dispatch: Dispatch,
  ids: readonly string[],
  options: {
    concurrency: number;
    dispatchLeaseSeconds: number;
    log: Log;
    /**
     * No invoke starts from this time on (epoch ms): the rest is released unsent. Invokes that
     * are slow but succeed (each within its tries) could otherwise carry a batch past the scan's
     * timeout, which would end it before its summary line.
     */
    invokeUntil?: number;
  },
): Promise<DispatchResult> {
  const dispatched: string[] = [];
  const failed: string[] = [];
  const unsent: string[] = [];
  let firstError: unknown;
  let next = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      if (stopped) {
        failed.push(id);
        await releaseDispatch(sql, id, options.log);
        continue;
      }
      if (options.invokeUntil !== undefined && Date.now() >= options.invokeUntil) {
        unsent.push(id);
        await releaseDispatch(sql, id, options.log);
        continue;
      }
      try {
        await dispatch(id);
      } catch (error) {
        if (!stopped) firstError = error;
        stopped = true;
        failed.push(id);
        options.log.warn('Dispatch of certificate generation failed; released for the next scan', {
          certificate_id: id,
          error: errorMessage(error),
        });
        await releaseDispatch(sql, id, options.log);
        continue;
      }
      await confirmDispatch(sql, id, options.dispatchLeaseSeconds, options.log);
      dispatched.push(id);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, ids.length)) }, worker));
  return {
    dispatched,
    failed,
    ...(unsent.length > 0 ? { unsent } : {}),
    ...(firstError === undefined ? {} : { error: firstError }),
  };
}

/** Attempt outcomes in one summary window; `failed` is the summary line's `failed=`. */
export interface GenerationSummary {
  generated: number;
  /** Every failed attempt: `retrying` + `dead`. */
  failed: number;
  /** Failed attempts the certificate is retried after, attempts that ended without a result included. */
  retrying: number;
  /** Failed attempts after which the certificate was given up on (`dead`). */
  dead: number;
}

// Taken by the summary exclusively and by each writer of an event it counts shared; any constant
// no other lock uses.
export const SUMMARY_LOCK = 7_316_002;

/**
 * generate calls this in the transaction that writes a `failed` or `dead` audit row, just before
 * writing it; the lock is held until that transaction ends. Its claim and its `issued` update
 * take the same lock inside their statements, before writing the `claimed` row (which the
 * summary counts as failed when it took over an expired lease) and the `issued` one
 * (generate.ts claim and markIssued). A summary therefore never runs between such a row's insert
 * and its commit: every row whose `created_at` (the insert's clock_timestamp()) falls before a
 * summary's marker (its scan_runs row, dated the same way) is committed and counted by that
 * summary, every later one by the next. Writers share the lock, so they never wait for each
 * other; they wait for a summary only while its one indexed statement runs.
 */
export async function lockForCountedOutcome(tx: TransactionSql): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock_shared(${SUMMARY_LOCK})`;
}

/**
 * Outcomes of generations recorded since the previous scan's marker, however long ago it was (the
 * guide's summary line), and a `scan_runs` row that marks the start of the next window. Only
 * with no previous scan at all is the window the last hour, so a first tick on a large history
 * stays cheap. A longer gap (the schedule switched off while ingestion still invoked generate, or
 * scans failing for hours) is counted in full by the next summary rather than lost.
 *
 * An attempt that ended without a result (Lambda timeout, out of memory) has no outcome row of its
 * own: the `claimed` row of the attempt that took over its expired lease (from `rendering`) is
 * counted as its failure.
 *
 * Each counted row is counted by exactly one summary: summaries run one at a time
 * (two overlapping scans, an EventBridge double fire, would otherwise both count the same window)
 * and never while such a row is written but not committed (lockForCountedOutcome). The audit log's
 * `created_at` is the insert's clock_timestamp(), not its transaction's start: generate's issue
 * transaction begins before the S3 upload, and its row would otherwise be dated before a marker
 * written during the upload and fall into no window.
 */
export async function summariseSinceLastScan(
  sql: Sql,
  details: Record<string, number>,
): Promise<GenerationSummary> {
  return (await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK})`;
    // A new statement, so a new snapshot: it sees the marker of a summary that held the lock before.
    return await countSinceLastScan(tx, details);
  })) as GenerationSummary;
}

/** How long the scan's own rows (scan_runs, one a tick) are kept. */
export const SCAN_MARKER_DAYS = 7;

async function countSinceLastScan(
  sql: TransactionSql,
  details: Record<string, number>,
): Promise<GenerationSummary> {
  const [row] = await sql<GenerationSummary[]>`
    WITH since AS (
      SELECT coalesce((SELECT max(created_at) FROM scan_runs), now() - interval '1 hour') AS at
    ),
    outcomes AS (
      SELECT CASE WHEN event = 'claimed' THEN 'failed' ELSE event END AS outcome
      FROM certificate_generation_log, since
      WHERE created_at > since.at
        AND (event IN ('issued', 'failed', 'dead')
             OR (event = 'claimed' AND from_status = 'rendering'
                 AND NOT coalesce((details->>'exhausted')::boolean, false)))
    ),
    counts AS (
      SELECT count(*) FILTER (WHERE outcome = 'issued')::int AS generated,
             count(*) FILTER (WHERE outcome <> 'issued')::int AS failed,
             count(*) FILTER (WHERE outcome = 'failed')::int AS retrying,
             count(*) FILTER (WHERE outcome = 'dead')::int AS dead
      FROM outcomes
    ),
    marker AS (
      INSERT INTO scan_runs (details)
      SELECT ${sql.json(details)}::jsonb || to_jsonb(counts) FROM counts
      RETURNING 1
    ),
    pruned AS (
      -- Only the newest run is read (since, above). One a minute is 525,600 rows a year: a week's
      -- are kept, for whoever looks at recent ticks, and older ones go a hundred at a time (one a
      -- tick once caught up).
      DELETE FROM scan_runs
      WHERE id IN (
        SELECT id FROM scan_runs
        WHERE created_at < now() - make_interval(days => ${SCAN_MARKER_DAYS})
        ORDER BY created_at LIMIT 100)
      RETURNING 1
    ),
    stray AS (
      -- Markers an older version wrote into the audit log (during a deploy, or after a rollback),
      -- where they hid the guide's generation history: removed through their own index.
      DELETE FROM certificate_generation_log
      WHERE id IN (
        SELECT id FROM certificate_generation_log
        WHERE event = 'scan' AND certificate_id IS NULL
        ORDER BY created_at LIMIT 100)
      RETURNING 1
    )
    -- marker, pruned and stray run although nothing reads them: data-modifying CTEs always execute.
    SELECT generated, failed, retrying, dead FROM counts`;
  return row ?? { generated: 0, failed: 0, retrying: 0, dead: 0 };
}

export interface ScanResult extends EnqueueResult, DispatchResult {
  summary: GenerationSummary;
}

export interface ScanRunOptions extends ScanOptions {
  /**
   * When the platform stops this scan (epoch ms; on Lambda, now + getRemainingTimeInMillis()).
   * It claims nothing within CLAIM_STOP_MARGIN_MS of it. Unset: no limit but `fillSeconds`.
   */
  deadline?: number;
}

export async function runScan(deps: ScanDeps, options: ScanRunOptions): Promise<ScanResult> {
  const log = deps.log;
  // With a budget, the scan keeps topping it up for `fillSeconds` while work is waiting: a
  // backlog then drains at the budget's rate instead of one budget's worth per tick. Counted from
  // the scan's start, as the deadline is, so the enqueue below does not push the window past the
  // claim margin: SCAN_FILL_SECONDS within its bound never runs into the deadline.
  const fillUntil = Date.now() + (options.fillSeconds ?? 0) * 1000;
  const enqueued = await enqueuePassingAttempts(
    deps.sql,
    options.enqueueLimit,
    options.notBefore ? { filter: { from: options.notBefore } } : {},
  );
  // However long the enqueue took and whatever fillSeconds says, no claim is made that the
  // Lambda's timeout could cut off before its invoke; nor is a later pass decided after that,
  // so a backlog of them cannot run the scan into its timeout before its summary line.
  const claimUntil =
    options.deadline === undefined ? Number.POSITIVE_INFINITY : options.deadline - CLAIM_STOP_MARGIN_MS;
  await decideLaterPasses(deps, enqueued.laterPasses, { until: claimUntil });
  // Passes recorded against a certificate still being generated, now that it is settled.
  await redecideWaitingLaterPasses(deps, { limit: options.enqueueLimit, until: claimUntil });
  const result: DispatchResult = { dispatched: [], failed: [] };
  for (let first = true; ; first = false) {
    if (Date.now() >= claimUntil) {
      // Worth a line only when the deadline took claiming the scan would otherwise have done: its
      // one pass (the enqueue ran into the margin), or a good part of the fill window (a timeout
      // shorter than fillSeconds plus the margin). Not when the fill window was ending anyway, as
      // on every tick of a backlog with the defaults.
      if (first || fillUntil - claimUntil > DEADLINE_CUT_NOTICE_MS) {
        log.info('Scan stopped claiming: its time is nearly up; the next scan carries on', {
          remaining_ms: (options.deadline ?? 0) - Date.now(),
        });
      }
      break;
    }
    const ids = await claimDueForDispatch(
      deps.sql,
      options.batchSize,
      claimLeaseSeconds(options.dispatchLeaseSeconds),
      options.maxInFlight,
    );
    const pass = await dispatchAll(deps.sql, deps.dispatch, ids, {
      concurrency: options.dispatchConcurrency ?? 16,
      dispatchLeaseSeconds: options.dispatchLeaseSeconds,
      log,
      invokeUntil: claimUntil,
    });
    result.dispatched.push(...pass.dispatched);
    result.failed.push(...pass.failed);
    if (pass.unsent) {
      log.info('Scan stopped invoking: its time is nearly up; the next scan carries on', {
        unsent: pass.unsent.length,
        remaining_ms: (options.deadline ?? 0) - Date.now(),
      });
      break;
    }
    if (pass.error !== undefined) result.error ??= pass.error;
    // A failed invoke (Lambda throttled or unreachable) ends the pass: the next tick retries.
    if (pass.failed.length > 0 || Date.now() >= fillUntil || !(await hasUndispatchedDue(deps.sql))) break;
    if (ids.length === 0) await sleep(options.fillPollMs ?? FILL_POLL_MS);
  }
  const summary = await summariseSinceLastScan(deps.sql, {
    enqueued: enqueued.created,
    dispatched: result.dispatched.length,
    dispatch_failed: result.failed.length,
  });
  // Each number in the message is also the JSON field of the same name, so a Logs Insights query
  // on the fields and one parsing the text agree.
  log.info(`Certificate generation completed: generated=${summary.generated}, failed=${summary.failed}`, {
    attempts_scanned: enqueued.scanned,
    certificates_created: enqueued.created,
    dispatched: result.dispatched.length,
    dispatch_failed: result.failed.length,
    generated: summary.generated,
    failed: summary.failed,
    retrying: summary.retrying,
    dead: summary.dead,
  });
  return { ...enqueued, ...result, summary };
}
