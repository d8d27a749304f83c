import { z } from 'zod';
import type { Sql } from '../db/client.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { parseWith } from '../validation.ts';
import { dispatchWithinBudget } from './budget.ts';
import { assertUuid } from './ids.ts';
import type { Dispatch, Log } from './ports.ts';

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
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, message, details)
      SELECT id, 'requeued', previous_status, 'pending', ${input.reason ?? 'requeued by operator'},
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

export const requeueInputSchema = z
  .strictObject({
    reason: z
      .string({ error: 'must be a string' })
      .trim()
      .min(1, 'must not be empty')
      .max(500, 'must be at most 500 characters')
      .optional()
      .describe('Why, for the audit log (default "requeued by operator")'),
  })
  .describe('Optional; an empty body is the same as {}');

export type RequeueInput = z.infer<typeof requeueInputSchema>;

export function parseRequeueInput(input: unknown): RequeueInput {
  return parseWith(requeueInputSchema, input ?? {}, 'body');
}

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
