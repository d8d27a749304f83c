import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createSql } from '../../lib/db/client.ts';
import { migrateUp } from '../../lib/db/migrate.ts';
import { TransientError } from '../../lib/errors.ts';
import { emptyDatabase } from '../support/migrations.ts';
import { runScript } from '../support/run-script.ts';
import { closingServer, stallingServer } from '../support/stalling-server.ts';

// `npm run migrate`, `npm run seed` and `npm start` migrate through pg (node-pg-migrate), not the
// functions' postgres.js. A database reached through a tunnel, proxy or load balancer whose far
// end never answers accepts the connection and then says nothing: the run must give up after
// DB_CONNECT_TIMEOUT_SECONDS and say so, not hang with no output. And a DATABASE_URL that pg would
// read as another server than the one seed's "this machine only" guard checked never gets that far.

const servers: Awaited<ReturnType<typeof stallingServer>>[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function silentDatabase() {
  const server = await stallingServer('');
  servers.push(server);
  return server;
}

describe('migrateUp connecting', () => {
  it('gives up on a server that accepts the connection and never answers, saying so', async () => {
    const silent = await silentDatabase();
    const failure = await migrateUp({
      DATABASE_URL: `postgres://certificates:secret@127.0.0.1:${silent.port}/certificates`,
      DB_CONNECT_TIMEOUT_SECONDS: 1,
    }).then(
      () => new Error('migrated'),
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(TransientError);
    expect(String(failure)).toContain(
      `Could not connect to PostgreSQL at 127.0.0.1:${silent.port} within 1 s (DB_CONNECT_TIMEOUT_SECONDS)`,
    );
    expect(silent.connections()).toBe(1);
    // Without a limit it never settles: the generous bound is the test's own, not a speed claim.
  }, 60_000);

  it('npm run migrate takes the limit from DB_CONNECT_TIMEOUT_SECONDS and fails with that message', async () => {
    const silent = await silentDatabase();
    const run = await runScript('migrate', [], {
      DATABASE_URL: `postgres://certificates:secret@127.0.0.1:${silent.port}/certificates`,
      DB_CONNECT_TIMEOUT_SECONDS: '1',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`127.0.0.1:${silent.port} within 1 s (DB_CONNECT_TIMEOUT_SECONDS)`);
  }, 90_000);

  it('does not limit a migration once connected: one longer than the connect timeout completes', async () => {
    const url = await emptyDatabase('mc');
    const dir = await mkdtemp(join(inject('stack').root, 'migrations-'));
    const migration = '1700000000000_slow';
    const connectSeconds = 5;
    // Server-side work that runs until the test lets it end, as a long data migration would. The
    // test lets it end only after the migration has run for longer than the connect timeout
    // since it was seen running, so no guess about how long connecting takes on a busy machine
    // enters the test (the timeout is generous for that reason: connecting must fit in it).
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      await sql`CREATE TABLE released (at timestamptz NOT NULL DEFAULT now())`;
      await writeFile(
        join(dir, `${migration}.sql`),
        '-- Up Migration\n' +
          'DO $$ BEGIN WHILE NOT EXISTS (SELECT FROM released) LOOP PERFORM pg_sleep(0.05); END LOOP; END $$;\n',
      );
      let ended = false;
      const migrating = migrateUp(
        { DATABASE_URL: url, DB_CONNECT_TIMEOUT_SECONDS: connectSeconds },
        () => undefined,
        {
          dir,
        },
      ).finally(() => {
        ended = true;
      });
      migrating.catch(() => undefined);
      // Polled, never guessed: until the migration's statement runs (or migrate has already ended,
      // which the assertion below then judges).
      while (!ended) {
        const [row] = await sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND query LIKE '%WHILE NOT EXISTS (SELECT FROM released)%'
            AND pid <> pg_backend_pid()`;
        if ((row?.n ?? 0) > 0) break;
        await sleep(20);
      }
      // At least the connect timeout and a half second more (a lower bound, not a deadline).
      if (!ended) await sleep(connectSeconds * 1000 + 500);
      await sql`INSERT INTO released DEFAULT VALUES`;
      await expect(migrating).resolves.toEqual([migration]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 90_000);
});

describe('a server that accepts the connection and closes it at once (a tunnel whose far end refuses)', () => {
  const closing: Awaited<ReturnType<typeof closingServer>>[] = [];
  afterEach(async () => {
    for (const server of closing.splice(0)) await server.close();
  });
  async function closingDatabase() {
    const server = await closingServer();
    closing.push(server);
    return `postgres://certificates:secret@127.0.0.1:${server.port}/certificates`;
  }

  it("the functions' client tries again with a backoff and fails the query once the connect timeout has passed", async () => {
    const server = await closingServer();
    closing.push(server);
    const sql = createSql({
      DATABASE_URL: `postgres://certificates:secret@127.0.0.1:${server.port}/certificates`,
      DB_POOL_MAX: 1,
      DB_CONNECT_TIMEOUT_SECONDS: 1,
    });
    try {
      // Unpatched, postgres.js reconnected at once, for ever (porsager/postgres#1193): thousands
      // of connections a second, and the query never settled.
      await expect(sql`SELECT 1`).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
      expect(server.connections()).toBeGreaterThan(1);
      expect(server.connections()).toBeLessThan(30);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 60_000);

  for (const [script, args] of [
    ['migrate', []],
    ['backfill', ['--from', '2020-01-01', '--dry-run']],
  ] as const) {
    it(`npm run ${script} fails in one line, without a stack trace`, async () => {
      const run = await runScript(script, [...args], {
        DATABASE_URL: await closingDatabase(),
        DB_CONNECT_TIMEOUT_SECONDS: '1',
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        new RegExp(`^npm run ${script}: .*(CONNECTION_CLOSED|closed the connection)`, 'm'),
      );
      expect(run.stderr).not.toMatch(/^\s+at /m);
    }, 90_000);
  }
});

describe('npm run seed with a DATABASE_URL whose ?host= names another server', () => {
  it('refuses it, naming DATABASE_URL, before connecting anywhere', async () => {
    // The URL's host is this machine, so seed's guard would let it through without --yes; pg
    // would connect to ?host= instead (here a listening server that counts connections).
    const other = await silentDatabase();
    const run = await runScript('seed', [], {
      DATABASE_URL: `postgres://certificates:secret@localhost:${other.port}/certificates?host=127.0.0.1`,
      DB_CONNECT_TIMEOUT_SECONDS: '1',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('DATABASE_URL must not carry a host= parameter');
    expect(other.connections()).toBe(0);
  }, 90_000);
});
