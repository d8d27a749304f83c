import { setTimeout as sleep } from 'node:timers/promises';
import type postgres from 'postgres';
import type { Sql } from '../../lib/db/client.ts';

/** Which waiting session a test looks for; all unset: any session of the database. */
export interface LockWaitFilter {
  applicationName?: string;
  /** A LIKE pattern the waiting statement's text matches. */
  queryLike?: string;
}

/** Whether a session of this database waits for a lock another transaction holds. */
export async function waitingForLock(sql: Sql, filter: LockWaitFilter = {}): Promise<boolean> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'
      AND (${filter.applicationName ?? null}::text IS NULL OR application_name = ${filter.applicationName ?? null}::text)
      AND (${filter.queryLike ?? null}::text IS NULL OR query LIKE ${filter.queryLike ?? null}::text)`;
  return (row?.n ?? 0) > 0;
}

/**
 * Polls (never sleeps on a guess) until a session waits for a lock, the point where a test lets
 * the holder go; or until `ended()` says the work expected to wait ended without waiting, so a
 * broken guard fails the test on its result instead of hanging it.
 */
export async function untilWaitingForLock(
  sql: Sql,
  filter: LockWaitFilter & { ended?: () => boolean } = {},
): Promise<void> {
  while (!filter.ended?.()) {
    if (await waitingForLock(sql, filter)) return;
    await sleep(10);
  }
}

/**
 * A race played in a fixed order: `hold` runs in a transaction on a connection of its own and
 * stays uncommitted while `contender` starts; once the contender waits for a lock (or has ended
 * without waiting, which the test then judges), `thenHold` runs in the same transaction, which
 * commits. Resolves to the contender's outcome, settled.
 */
export async function contendWithOpenTransaction<T>(
  sql: Sql,
  hold: (held: postgres.ReservedSql) => Promise<unknown>,
  contender: () => Promise<T>,
  thenHold?: (held: postgres.ReservedSql) => Promise<unknown>,
): Promise<PromiseSettledResult<T>> {
  const held = await sql.reserve();
  let contending: Promise<T> | undefined;
  try {
    await held`BEGIN`;
    try {
      await hold(held);
      let ended = false;
      contending = contender().finally(() => {
        ended = true;
      });
      contending.catch(() => undefined);
      await untilWaitingForLock(sql, { ended: () => ended });
      await thenHold?.(held);
      await held`COMMIT`;
    } catch (error) {
      await held`ROLLBACK`.catch(() => undefined);
      throw error;
    }
    const [outcome] = await Promise.allSettled([contending]);
    if (!outcome) throw new Error('no outcome');
    return outcome;
  } finally {
    await contending?.catch(() => undefined);
    held.release();
  }
}
