import type { Sql, TransactionSql } from '../db/client.ts';
import { errorMessage } from '../errors.ts';
import type { Dispatch, Log } from './ports.ts';

/**
 * One concurrency budget for rendering (GENERATE_MAX_CONCURRENCY): the number of certificates
 * in flight, i.e. handed to a worker and not yet done (dispatched, or rendering under a live
 * lease), never exceeds it. Every path that invokes `generate` (the scan, the ingestion route,
 * requeue) reserves its slots here first, under one transaction-scoped advisory lock, so
 * concurrent scans and requests cannot together overshoot. What does not fit stays `pending`
 * in the database until a slot frees up; nothing waits in Lambda's async queue. On AWS the same
 * number is generate's reserved concurrency, so even a stray invoke cannot exceed it.
 */

// Any constant shared by all callers; only this module takes it.
const DISPATCH_LOCK = 7_316_001;

/**
 * How long a certificate is reserved before its invoke has been accepted. A claim only has to
 * outlive the invoke that follows it: Lambda answers an async invoke in tens of milliseconds and a
 * scan's whole batch goes out in well under a second. The full DISPATCH_LEASE_SECONDS is set only
 * once Lambda has answered 202 (confirmDispatch): a scan or route that dies between claim and
 * invoke (Lambda timeout, crash) then holds its slots for this long, not for five minutes of a
 * budget that counts them as in flight. An invoke that outlasts it (a Lambda API slow for 30 s)
 * risks a second invoke by another scan, which generate's claim turns into a no-op.
 */
export const CLAIM_LEASE_SECONDS = 30;

/** The lease to claim with: never longer than the dispatch lease it becomes. */
export function claimLeaseSeconds(dispatchLeaseSeconds: number): number {
  return Math.min(CLAIM_LEASE_SECONDS, dispatchLeaseSeconds);
}

/** Certificates dispatched or rendering right now. */
export async function countInFlight(sql: Sql | TransactionSql): Promise<number> {
  const [row] = await sql<{ in_flight: number }[]>`
    SELECT (
      (SELECT count(*) FROM certificates
       WHERE dispatched_until > now() AND status IN ('pending', 'failed', 'rendering'))
      +
      (SELECT count(*) FROM certificates
       WHERE status = 'rendering' AND lease_expires_at >= now()
         AND (dispatched_until IS NULL OR dispatched_until <= now()))
    )::int AS in_flight`;
  return row?.in_flight ?? 0;
}

/**
 * Runs `reserve` with the budget's lock held and the number of free slots; the reservation
 * (setting `dispatched_until`) must happen inside, in the same transaction.
 */
export async function withFreeSlots<T>(
  sql: Sql,
  maxInFlight: number,
  reserve: (tx: TransactionSql, freeSlots: number) => Promise<T>,
): Promise<T> {
  return (await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${DISPATCH_LOCK})`;
    const free = Math.max(0, maxInFlight - (await countInFlight(tx)));
    return await reserve(tx, free);
  })) as T;
}

/**
 * Reserves one slot for a certificate a caller wants to invoke at once (ingestion, requeue), for
 * `leaseSeconds` (the claim lease: confirmDispatch extends it once the invoke is accepted).
 * False when the budget is full or someone else has dispatched it: the scan hands it out later.
 */
export async function reserveDispatch(
  sql: Sql,
  certificateId: string,
  options: { leaseSeconds: number; maxInFlight: number },
): Promise<boolean> {
  return await withFreeSlots(sql, options.maxInFlight, async (tx, free) => {
    if (free < 1) return false;
    const rows = await tx`
      UPDATE certificates SET dispatched_until = now() + make_interval(secs => ${options.leaseSeconds})
      WHERE id = ${certificateId} AND status IN ('pending', 'failed') AND next_attempt_at <= now()
        AND (dispatched_until IS NULL OR dispatched_until < now())
      RETURNING id`;
    return rows.length === 1;
  });
}

/**
 * Invokes `generate` for one certificate now if the budget has a free slot (ingestion, requeue).
 * False when it did not: budget full, or the invoke failed and the slot was released; either
 * way the certificate is committed as due and the scan hands it out.
 */
export async function dispatchWithinBudget(
  deps: { sql: Sql; dispatch: Dispatch; log: Log },
  options: { dispatchLeaseSeconds: number; maxInFlight?: number },
  certificateId: string,
): Promise<boolean> {
  const log = deps.log;
  const reserved = await reserveDispatch(deps.sql, certificateId, {
    leaseSeconds: claimLeaseSeconds(options.dispatchLeaseSeconds),
    maxInFlight: options.maxInFlight ?? Number.POSITIVE_INFINITY,
  }).catch((error: unknown) => {
    log.warn('Could not reserve a generation slot; the scan will pick it up', {
      certificate_id: certificateId,
      error: errorMessage(error),
    });
    return false;
  });
  if (!reserved) {
    // Already dispatched: a requeue of a certificate whose invocation waits in Lambda's queue.
    log.info('Not invoked now: budget full or already dispatched', { certificate_id: certificateId });
    return false;
  }
  try {
    await deps.dispatch(certificateId);
  } catch (error) {
    log.warn('Immediate generation could not be invoked; the scan will pick it up', {
      certificate_id: certificateId,
      error: errorMessage(error),
    });
    await releaseDispatch(deps.sql, certificateId, log);
    return false;
  }
  await confirmDispatch(deps.sql, certificateId, options.dispatchLeaseSeconds, log);
  return true;
}

/**
 * Lambda accepted the invoke: the claim becomes the full dispatch lease, so the certificate is
 * not handed out again while the invocation waits in Lambda's queue. A certificate generate has
 * claimed meanwhile (its claim clears `dispatched_until`) is left alone. Never throws: if this
 * fails, the claim lease runs out early and the worst case is a second invoke, a no-op.
 */
export async function confirmDispatch(
  sql: Sql,
  certificateId: string,
  dispatchLeaseSeconds: number,
  log: Log,
): Promise<void> {
  await sql`
    UPDATE certificates SET dispatched_until = now() + make_interval(secs => ${dispatchLeaseSeconds})
    WHERE id = ${certificateId} AND dispatched_until IS NOT NULL
      AND status IN ('pending', 'failed', 'rendering')`.catch((error: unknown) => {
    log.warn('Could not extend the dispatch lease of an invoked certificate', {
      certificate_id: certificateId,
      error: errorMessage(error),
    });
  });
}

/**
 * Releases a dispatch claim whose invocation failed, so the next scan retries it. Never throws:
 * if the release fails too, the dispatch lease simply expires and the scan hands it out later.
 */
export async function releaseDispatch(sql: Sql, certificateId: string, log: Log): Promise<void> {
  await sql`UPDATE certificates SET dispatched_until = NULL WHERE id = ${certificateId}`.catch(
    (error: unknown) => {
      log.warn('Could not release dispatch claim', {
        certificate_id: certificateId,
        error: errorMessage(error),
      });
    },
  );
}

/**
 * Hands a certificate whose invocation Lambda dropped back to the scan now instead of when its
 * dispatch lease runs out. Returns its status and whether it was released; an issued (or
 * otherwise finished) one is left alone. With `dropped` (`at`: the latest the dropped invocation
 * can have been dispatched, FailedInvocation.dispatchedBy; and the dispatch lease), a lease that
 * ends later than the dropped invocation's could have is a newer dispatch's
 * (the scan handed the certificate out again meanwhile, as it does once a lease runs out during
 * the hours Lambda keeps a throttled event): left alone, or the next scan would invoke it again
 * beside that dispatch and count its budget slot free while it is in use.
 */
export async function releaseDropped(
  sql: Sql,
  certificateId: string,
  dropped?: { at: Date; leaseSeconds: number },
): Promise<{ status: string; released: boolean } | undefined> {
  const latestOwnLease = dropped ? new Date(dropped.at.getTime() + dropped.leaseSeconds * 1000) : null;
  const [row] = await sql<{ status: string; released: boolean }[]>`
    WITH released AS (
      UPDATE certificates SET dispatched_until = NULL
      WHERE id = ${certificateId} AND status IN ('pending', 'failed')
        AND (${latestOwnLease}::timestamptz IS NULL OR dispatched_until IS NULL
             OR dispatched_until <= ${latestOwnLease}::timestamptz)
      RETURNING id, status
    )
    SELECT status::text, true AS released FROM released
    UNION ALL
    SELECT status::text, false AS released FROM certificates
    WHERE id = ${certificateId} AND NOT EXISTS (SELECT 1 FROM released)`;
  return row;
}

/**
 * Releases every claim held for a worker, so the scan hands those certificates out at once
 * instead of when their leases run out: dispatch claims still in the future (up to
 * DISPATCH_LEASE_SECONDS) are cleared, and live rendering leases (up to LEASE_SECONDS) are
 * expired. Until then the budget counts them as in flight, and with a small
 * GENERATE_MAX_CONCURRENCY they can hold every slot for minutes while nothing moves.
 *
 * A released rendering lease is taken over like that of a worker that died: generate's takeover
 * counts the stopped attempt once as failed (the summary's `failed=`), and its attempt count is
 * kept. Only the backoff its claim set is dropped (the takeover also waits for `next_attempt_at`),
 * since the attempt did not fail, its worker was stopped. A lease that had already run out before
 * is left as it is: that worker ended on its own (a Lambda timeout), and the backoff its claim set
 * is real. The result counts the certificates released, by status.
 *
 * Only safe when no worker of a previous run can be alive: it cannot tell a live lease from a
 * stale one, and takes every lease and dispatch claim for stale. That holds for the PostgreSQL
 * `npm start` started itself, before it starts serverless offline and after it has stopped the
 * process tree of one that died: serverless offline keeps async invocations in memory, so what it
 * had accepted is gone with it. Never on a database other workers may use: their certificates
 * would be handed out a second time and the budget overshot.
 */
export async function releaseStaleClaims(sql: Sql): Promise<{ dispatched: number; rendering: number }> {
  // Every SET expression reads the row as it was before this statement.
  const [row] = await sql<{ dispatched: number; rendering: number }[]>`
    WITH released AS (
      UPDATE certificates
      SET dispatched_until = NULL,
          next_attempt_at = CASE WHEN status = 'rendering' AND lease_expires_at >= now()
                                 THEN least(next_attempt_at, now()) ELSE next_attempt_at END,
          lease_expires_at = CASE WHEN status = 'rendering' AND lease_expires_at >= now()
                                  THEN now() ELSE lease_expires_at END
      WHERE (status IN ('pending', 'failed', 'rendering') AND dispatched_until > now())
         OR (status = 'rendering' AND lease_expires_at >= now())
      RETURNING status
    )
    SELECT count(*) FILTER (WHERE status <> 'rendering')::int AS dispatched,
           count(*) FILTER (WHERE status = 'rendering')::int AS rendering
    FROM released`;
  return { dispatched: row?.dispatched ?? 0, rendering: row?.rendering ?? 0 };
}
