import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
    // Server-side work that outlasts the connect timeout, as a long data migration would. The
    // timeout is 3 s, not 1: connecting itself (a backend forked, a login) must fit in it on a
    // machine whose cores are busy.
    await writeFile(join(dir, `${migration}.sql`), '-- Up Migration\nSELECT pg_sleep(3.5);\n');
    await expect(
      migrateUp({ DATABASE_URL: url, DB_CONNECT_TIMEOUT_SECONDS: 3 }, () => undefined, { dir }),
    ).resolves.toEqual([migration]);
  }, 60_000);
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
