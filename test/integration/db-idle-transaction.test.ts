import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { createSql, type Sql } from '../../lib/db/client.ts';
import { gate } from '../support/gate.ts';

// A function that dies or loses its network inside a transaction (generate holds a certificate's
// row across its S3 upload) must not hold that transaction's locks until TCP keepalive notices:
// the server ends a session idle in a transaction after DB_IDLE_IN_TRANSACTION_TIMEOUT_MS.

const opened: Sql[] = [];

afterEach(async () => {
  for (const sql of opened.splice(0)) await sql.end({ timeout: 5 });
});

function connect(env: Record<string, string>): Sql {
  const url = inject('stack').env.DATABASE_URL ?? '';
  const sql = createSql({ ...loadConfig(['db'], { DATABASE_URL: url, ...env }).db, DB_POOL_MAX: 1 });
  opened.push(sql);
  return sql;
}

describe('a transaction left idle', () => {
  it('is ended by the server after DB_IDLE_IN_TRANSACTION_TIMEOUT_MS, and its locks let go', async () => {
    const zombie = connect({ DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '300' });
    const other = connect({});
    const key = randomInt(1, 2 ** 31);
    // The worker takes a lock and then waits for something that never answers (a hung upload).
    // It never wakes: with postgres 3.4.9 a query or the commit of a transaction whose connection
    // the server closed throws from a timer, uncaught (porsager/postgres#1208, #1154). On Lambda
    // no live worker meets that: a transaction idles 120 s only past the function's own timeout.
    const hung = gate();
    const holding = zombie
      .begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${key})`;
        await hung.wait();
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    await hung.reached;
    const [held] = await other<{ free: boolean }[]>`
      SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = ${key}) AS free`;
    expect(held?.free).toBe(false);

    // Another session gets the lock once the server has ended the idle one: polled, not timed.
    for (;;) {
      const [row] = await other<{ got: boolean }[]>`SELECT pg_try_advisory_lock(${key}) AS got`;
      if (row?.got) break;
      await sleep(50);
    }
    await other`SELECT pg_advisory_unlock(${key})`;
    // The worker's transaction failed: nothing it did is committed.
    const failure = await holding;
    expect(failure).toBeInstanceOf(Error);
    expect(String((failure as { code?: string }).code)).toMatch(
      /^(25P03|CONNECTION_CLOSED|CONNECTION_ENDED)$/,
    );
  }, 60_000);

  it('by default after 120 s, on every connection', async () => {
    const sql = connect({});
    const [row] = await sql<{ idle_in_transaction_session_timeout: string }[]>`
      SHOW idle_in_transaction_session_timeout`;
    expect(row?.idle_in_transaction_session_timeout).toBe('2min');
  });
});
