import { setTimeout as sleep } from 'node:timers/promises';
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
