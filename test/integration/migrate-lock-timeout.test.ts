import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PG_MIGRATE_LOCK_ID } from 'node-pg-migrate';
import postgres from 'postgres';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { MIGRATION_LOCK_TIMEOUT_MS, migrateUp } from '../../lib/db/migrate.ts';
import { gate } from '../support/gate.ts';
import { emptyDatabase } from '../support/migrations.ts';

// `npm run migrate` during an upgrade, while the functions serve: a migration waiting for a
// table the live traffic holds must fail after its lock_timeout (and leave nothing half done),
// not queue every later query of that table behind it; a second migrate run still waits for
// the first (the advisory lock has no time limit).

const MIGRATION = '1700000000000_add-note';
const FREE = '1690000000000_free-table';

/** An empty database of its own and a migrations folder with one ALTER TABLE of a table in it. */
async function setup() {
  const url = await emptyDatabase('m');
  const sql = postgres(url, { max: 2, onnotice: () => undefined });
  opened.push(sql);
  await sql`CREATE TABLE busy (id int PRIMARY KEY)`;
  await sql`INSERT INTO busy (id) VALUES (1)`;
  const dir = await mkdtemp(join(inject('stack').root, 'migrations-'));
  await writeFile(join(dir, `${MIGRATION}.sql`), '-- Up Migration\nALTER TABLE busy ADD COLUMN note text;\n');
  return { url, db: { DATABASE_URL: url, DB_CONNECT_TIMEOUT_SECONDS: 10 }, sql, dir };
}

/** A transaction holding a row of the table, as generate holds a certificate's across its upload, until `busy` opens. */
async function holdRow(sql: postgres.Sql) {
  const busy = gate();
  gates.push(busy);
  const holding = sql.begin(async (tx) => {
    await tx`UPDATE busy SET id = id WHERE id = 1`;
    await busy.wait();
  });
  await busy.reached;
  return { busy, holding };
}

const opened: postgres.Sql[] = [];
const gates: { open: () => void }[] = [];

afterEach(async () => {
  // Whatever a test left held is let go, so a migration still waiting can finish.
  for (const held of gates.splice(0)) held.open();
  for (const sql of opened.splice(0)) await sql.end({ timeout: 5 });
});

describe('migrateUp and other sessions', () => {
  it('fails with its lock timeout, rolled back, when the table it alters is busy; applies once it is free', async () => {
    const { db, sql, dir } = await setup();
    const { busy, holding } = await holdRow(sql);

    const failure = await migrateUp(db, () => undefined, { dir, lockTimeoutMs: 50, lockTries: 1 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(String(failure)).toMatch(/waited more than 50 ms \(lock_timeout\).*rolled back.*npm run migrate/);
    expect((failure as Error).cause).toMatchObject({ code: '55P03' });
    // Nothing half done: neither the column nor the record of the migration.
    const columns = await sql`SELECT column_name FROM information_schema.columns WHERE table_name = 'busy'`;
    expect(columns.map((row) => row.column_name)).toEqual(['id']);
    expect(await sql`SELECT name FROM pgmigrations`).toHaveLength(0);

    busy.open();
    await holding;
    // The failed run let go of the advisory lock too: the next run is not stuck behind it.
    expect(await migrateUp(db, () => undefined, { dir, lockTimeoutMs: 50 })).toEqual([MIGRATION]);
  }, 30_000);

  it('after a lock timeout, rolls back, lets the queue go and tries again: applied once the row is free', async () => {
    const { db, sql, dir } = await setup();
    const { busy, holding } = await holdRow(sql);
    // A migration before the busy one: committed by the first try, which then gives up on the next.
    await writeFile(join(dir, `${FREE}.sql`), '-- Up Migration\nCREATE TABLE free (id int);\n');
    const lines: string[] = [];
    const ran = await migrateUp(db, () => undefined, {
      dir,
      lockTimeoutMs: 50,
      retryDelayMs: () => 10,
      onRetry: (line) => {
        lines.push(line);
        // The holder commits once the first try has given up (the second may still find it busy).
        busy.open();
      },
    });
    await holding;
    // Both are what this run applied, though the try that applied the first one failed.
    expect(ran).toEqual([FREE, MIGRATION]);
    expect(lines.find((line) => line.includes('trying again'))).toMatch(
      /waited more than 50 ms for a lock and was rolled back; trying again in 10 ms \(try 2 of 10\)/,
    );
    const columns = await sql`SELECT column_name FROM information_schema.columns WHERE table_name = 'busy'`;
    expect(columns.map((row) => row.column_name)).toEqual(['id', 'note']);
  }, 30_000);

  it("waits for a lock well under the functions' shortest statement timeout: a request queued behind a waiting ALTER is slowed, not failed", () => {
    const timeouts = [
      ...readFileSync('serverless.yml', 'utf8').matchAll(/DB_STATEMENT_TIMEOUT_MS: [^\d\n]*(\d+)/g),
    ].map((match) => Number(match[1]));
    expect(timeouts.length).toBeGreaterThan(1);
    expect(MIGRATION_LOCK_TIMEOUT_MS * 3).toBeLessThanOrEqual(Math.min(...timeouts));
  });

  it('still waits, without a time limit, for another migrate run holding the advisory lock', async () => {
    const { url, db, sql, dir } = await setup();
    // Another `npm run migrate`: the session-level lock node-pg-migrate takes, held by one connection.
    const other = postgres(url, { max: 1, onnotice: () => undefined });
    opened.push(other);
    await other`SELECT pg_advisory_lock(${String(PG_MIGRATE_LOCK_ID)}::bigint)`;

    let settled = false;
    // A lock timeout of 1 ms: had it applied to the advisory lock, this run would fail at once.
    const running = migrateUp(db, () => undefined, { dir, lockTimeoutMs: 1 });
    void running.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    // Seen queued behind the other run for 100 times its lock timeout: a lock_timeout applying
    // to the advisory lock would have ended the wait long before (polled, not slept on).
    const waitedLong = async () => {
      const [row] = await sql<{ waiting: number }[]>`
        SELECT count(*)::int AS waiting FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'
          AND clock_timestamp() - query_start > interval '100 milliseconds'`;
      return (row?.waiting ?? 0) > 0;
    };
    while (!settled && !(await waitedLong())) {
      // Polls until then, or until the run has ended (which fails below).
    }
    expect(settled).toBe(false);
    await other`SELECT pg_advisory_unlock(${String(PG_MIGRATE_LOCK_ID)}::bigint)`;
    await expect(running).resolves.toEqual([MIGRATION]);
  }, 30_000);
});
