import { z } from 'zod';
import type { Sql } from '../db/client.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { isoInstant } from '../validation.ts';
import { dispatchWithinBudget } from './budget.ts';
import { assertUuid, uuidString } from './ids.ts';
import type { Dispatch, Log } from './ports.ts';
import { courseExists } from './read-model.ts';

/**
 * Operator action: gives a `dead` (or waiting `failed`) certificate a fresh set of attempts,
 * due now, once the cause is fixed (student restored in Keycloak, logo uploaded...). A dead
 * certificate still counts as the live one for its student and course, so without this a
 * later passing attempt would never be issued either.
 */
export async function requeueCertificate(
  sql: Sql,
  certificateId: string,
  input: { requestedBy: string; reason?: string },
  options: { dispatchLeaseSeconds?: number } = {},
): Promise<{ id: string; previousStatus: string }> {
  assertUuid(certificateId, 'certificateId');
  const [row] = await sql<{ id: string; previous_status: string }[]>`
    WITH prev AS (SELECT id, status FROM certificates WHERE id = ${certificateId}),
    requeued AS (
      UPDATE certificates c
      -- With a dispatch lease the caller invokes generate itself and the scan leaves it alone
      -- meanwhile (as on ingestion); without one the next scan hands it out. A lease still
      -- running is kept: the scan has already invoked generate for this failed certificate (the
      -- invocation waits in Lambda's queue and will find it pending and due), so clearing it
      -- would free a budget slot that is in use and let a second invoke follow.
      SET status = 'pending', attempt_count = 0, next_attempt_at = now(),
          dispatched_until = coalesce(
            now() + make_interval(secs => ${options.dispatchLeaseSeconds ?? null}::int),
            CASE WHEN c.dispatched_until > now() THEN c.dispatched_until END),
          updated_at = now()
      FROM prev
      WHERE c.id = prev.id AND c.status IN ('dead', 'failed')
      RETURNING c.id, prev.status AS previous_status, c.last_error
    ),
    audit AS (
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, message, actor, details)
      SELECT id, 'requeued', previous_status, 'pending', ${input.reason ?? 'requeued by operator'}, ${input.requestedBy},
             jsonb_build_object('requested_by', ${input.requestedBy}::text, 'last_error', last_error)
      FROM requeued
    )
    SELECT id, previous_status::text FROM requeued`;
  if (row) return { id: row.id, previousStatus: row.previous_status };
  const [existing] = await sql<{ status: string }[]>`
    SELECT status::text FROM certificates WHERE id = ${certificateId}`;
  if (!existing) throw new NotFoundError('certificate');
  throw new ConflictError(`certificate is ${existing.status}; only dead or failed ones can be requeued`, {
    status: existing.status,
  });
}

/** An operator's reason for the audit log, optional, `fallback` when left out. */
function operatorReason(fallback: string) {
  return z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(500, 'must be at most 500 characters')
    .optional()
    .describe(`Why, for the audit log (default "${fallback}")`);
}

export const requeueInputSchema = z
  .strictObject({
    reason: operatorReason('requeued by operator'),
  })
  .describe('Optional; an empty body is the same as {}');

export type RequeueInput = z.infer<typeof requeueInputSchema>;

export interface RequeueResult {
  id: string;
  previousStatus: string;
  status: 'pending';
  /**
   * Whether generation was invoked now; otherwise the next scan picks it up, or, for a failed
   * certificate the scan had already invoked, that invocation (still in Lambda's queue) does.
   */
  dispatched: boolean;
}

/**
 * The operator action as the HTTP route runs it: requeue, then invoke generate at once instead
 * of waiting for the next scan. A failed invoke loses nothing: the dispatch lease is released
 * and the scan hands the certificate out.
 */
export async function requeueAndDispatch(
  deps: { sql: Sql; dispatch: Dispatch; log: Log },
  options: { dispatchLeaseSeconds: number; maxInFlight?: number },
  certificateId: string,
  input: { requestedBy: string; reason?: string },
): Promise<RequeueResult> {
  const log = deps.log;
  // Requeued without a dispatch lease: it is handed out now if the budget has room, else by the
  // scan; one the scan has already invoked keeps its lease, so it is not invoked a second time.
  const requeued = await requeueCertificate(deps.sql, certificateId, input);
  const dispatched = await dispatchWithinBudget(deps, options, requeued.id);
  log.info('Certificate requeued', {
    certificate_id: requeued.id,
    previous_status: requeued.previousStatus,
    requested_by: input.requestedBy,
    dispatched,
  });
  return { ...requeued, status: 'pending', dispatched };
}

/** At most this many certificates per bulk requeue: one statement, one HTTP request's time. */
export const BULK_REQUEUE_LIMIT = 1000;

export const bulkRequeueInputSchema = z
  .strictObject({
    status: z
      .enum(['dead', 'failed'], { error: 'must be "dead" or "failed"' })
      .default('dead')
      .describe(
        'Which certificates: `dead` ones (their retries used up, or refused for good), or `failed` ones ' +
          'waiting for their next retry, brought forward (e.g. the hour after a configuration error, ' +
          'CONFIGURATION_RETRY_SECONDS, once the setup is fixed)',
      ),
    courseId: uuidString().optional().describe("Only this course's certificates (default: every course)"),
    diedAfter: isoInstant()
      .optional()
      .describe(
        'Only certificates whose last failure (for `dead` ones, their death) is at or after this instant, e.g. the start of an outage',
      ),
    reason: operatorReason('requeued in bulk by operator'),
    dryRun: z
      .boolean({ error: 'must be true or false' })
      .default(false)
      .describe('Count what would be requeued, change nothing'),
  })
  .describe('Which dead (or failed) certificates to requeue; an empty body is the same as {}');

export type BulkRequeueInput = z.output<typeof bulkRequeueInputSchema>;

export interface BulkRequeueResult {
  dryRun: boolean;
  /** Requeued now (on a dry run: would be, up to the limit). */
  count: number;
  certificateIds: string[];
  /** Certificates matching the filter still left (beyond the limit): call again. */
  remaining: number;
}

/**
 * Operator action after an outage outlasted the retries, or once a course's broken template is
 * repaired: every dead certificate matching the filter gets a fresh set of attempts, due now,
 * with a `requeued` audit row each. With `status: 'failed'`, the certificates still waiting for a
 * retry instead (a configuration error waits CONFIGURATION_RETRY_SECONDS, an hour by default, for
 * a setup an operator may have fixed in minutes); a dispatch lease they hold is kept, as the
 * single requeue keeps it. Nothing is invoked from here: the scan hands them out at the
 * concurrency budget's pace, so a thousand certificates do not start at once. At most
 * BULK_REQUEUE_LIMIT per call, oldest death first; `remaining` says whether to call again.
 */
export async function requeueDeadCertificates(
  sql: Sql,
  input: Omit<BulkRequeueInput, 'status'> & { status?: BulkRequeueInput['status']; requestedBy: string },
  options: { limit?: number } = {},
): Promise<BulkRequeueResult> {
  const limit = options.limit ?? BULK_REQUEUE_LIMIT;
  const courseId = input.courseId ?? null;
  const diedAfter = input.diedAfter ?? null;
  const status = input.status ?? 'dead';
  // A mistyped course would match nothing and answer "none left", as the backfill and analytics
  // routes do not: an unknown course is not found.
  if (courseId !== null && !(await courseExists(sql, courseId))) throw new NotFoundError('Course');
  const matching = sql`
    status = ${status}::certificate_status
    AND (${courseId}::uuid IS NULL OR course_id = ${courseId}::uuid)
    AND (${diedAfter}::timestamptz IS NULL OR updated_at >= ${diedAfter}::timestamptz)`;
  if (input.dryRun) {
    const rows = await sql<{ id: string }[]>`
      SELECT id FROM certificates WHERE ${matching} ORDER BY updated_at, id LIMIT ${limit}`;
    const [{ total = 0 } = {}] = await sql<{ total: number }[]>`
      SELECT count(*)::int AS total FROM certificates WHERE ${matching}`;
    return {
      dryRun: true,
      count: rows.length,
      certificateIds: rows.map((row) => row.id),
      remaining: total - rows.length,
    };
  }
  const rows = await sql<{ id: string }[]>`
    WITH picked AS (
      -- Locked, skipping rows another requeue holds: two operators at once requeue each once.
      SELECT id FROM certificates WHERE ${matching}
      ORDER BY updated_at, id LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ),
    requeued AS (
      UPDATE certificates c
      SET status = 'pending', attempt_count = 0, next_attempt_at = now(), updated_at = now()
      FROM picked
      WHERE c.id = picked.id AND c.status = ${status}::certificate_status
      RETURNING c.id, c.last_error
    ),
    audit AS (
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, message, actor, details)
      SELECT id, 'requeued', ${status}::certificate_status, 'pending', ${input.reason ?? 'requeued in bulk by operator'},
             ${input.requestedBy},
             jsonb_build_object('requested_by', ${input.requestedBy}::text, 'last_error', last_error, 'bulk', true)
      FROM requeued
    )
    SELECT id FROM requeued ORDER BY id`;
  const [{ remaining = 0 } = {}] = await sql<{ remaining: number }[]>`
    SELECT count(*)::int AS remaining FROM certificates WHERE ${matching}`;
  return { dryRun: false, count: rows.length, certificateIds: rows.map((row) => row.id), remaining };
}
