import { randomInt } from 'node:crypto';
import { connect as connectTcp, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { createSql, type Sql } from '../../lib/db/client.ts';
import { gate } from '../support/gate.ts';
import { emptyDatabase } from '../support/migrations.ts';

// A transaction whose connection goes away while the code holding it waits for something else
// (generate holds a certificate's row across its S3 upload): the server ends a session idle in a
// transaction after DB_IDLE_IN_TRANSACTION_TIMEOUT_MS, so its locks do not outlive a dead or cut
// off function; and when the worker wakes, its transaction's next queries fail. Without
// patches/postgres+3.4.10.patch they threw from a timer, uncaught, and crashed the process
// (porsager/postgres#1208), or ran outside any transaction on the reconnected socket (#1216).

const opened: Sql[] = [];
// A database of this file's own: not the template the other files clone theirs from, which
// PostgreSQL refuses to copy while a session (one of these) is connected to it.
let databaseUrl = '';

beforeAll(async () => {
  databaseUrl = await emptyDatabase('connloss');
});
let uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);

beforeEach(() => {
  uncaught = [];
  process.on('uncaughtException', onUncaught);
});

afterEach(async () => {
  process.off('uncaughtException', onUncaught);
  for (const sql of opened.splice(0)) await sql.end({ timeout: 5 });
});

function connect(env: Record<string, string>, applicationName?: string): Sql {
  const config = { ...loadConfig(['db'], { DATABASE_URL: databaseUrl, ...env }).db, DB_POOL_MAX: 1 };
  const sql = createSql(config, applicationName ? { applicationName } : {});
  opened.push(sql);
  return sql;
}

/** A worker's transaction: takes the advisory lock `key`, waits at `hung`, then runs `after`. */
function holdLock(
  sql: Sql,
  key: number,
  hung: ReturnType<typeof gate>,
  after: (tx: Sql) => Promise<unknown>,
) {
  let settle!: (outcome: unknown) => void;
  // What `after` came to: 'ran', or the error its query was refused with.
  const resumed = new Promise<unknown>((resolve) => {
    settle = resolve;
  });
  const transaction = sql
    .begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${key})`;
      await hung.wait();
      const outcome = await after(tx as unknown as Sql).then(
        () => 'ran',
        (error: unknown) => error,
      );
      settle(outcome);
      if (outcome !== 'ran') throw outcome;
    })
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  return { transaction, resumed };
}

/** Settles after any write a closed connection left scheduled would have run (and thrown). */
async function timersRun(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

function closedCode(error: unknown): string {
  return String((error as { code?: string } | undefined)?.code);
}

describe('a transaction left idle', () => {
  it('is ended by the server after DB_IDLE_IN_TRANSACTION_TIMEOUT_MS, its locks let go, and the worker cannot go on with it', async () => {
    // Long enough for the lock to be seen from another session while the machine is busy (the
    // server's clock starts when the lock is taken); the rest is polled, so only the wait grows.
    const worker = connect({ DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '3000' });
    const other = connect({});
    // Connected before the lock is taken: opening it would otherwise count against those 3 s.
    await other`SELECT 1`;
    const key = randomInt(1, 2 ** 31);
    // The worker takes a lock and then waits for something that does not answer (a hung upload).
    const hung = gate();
    const held = holdLock(worker, key, hung, (tx) => tx`SELECT 1`);
    await hung.reached;
    const [locked] = await other<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = ${key}`;
    expect(locked?.n).toBe(1);

    // Another session gets the lock once the server has ended the idle one: polled, not timed.
    for (;;) {
      const [row] = await other<{ got: boolean }[]>`SELECT pg_try_advisory_lock(${key}) AS got`;
      if (row?.got) break;
      await sleep(50);
    }
    await other`SELECT pg_advisory_unlock(${key})`;
    expect(closedCode(await held.transaction)).toMatch(/^(25P03|CONNECTION_CLOSED)$/);

    // The worker wakes (the upload returns) and goes on: its query is refused, nothing thrown elsewhere.
    hung.open();
    expect(closedCode(await held.resumed)).toBe('CONNECTION_CLOSED');
    await timersRun();
    expect(uncaught).toEqual([]);
  }, 60_000);

  it('by default after 120 s, on every connection', async () => {
    const sql = connect({});
    const [row] = await sql<{ idle_in_transaction_session_timeout: string }[]>`
      SHOW idle_in_transaction_session_timeout`;
    expect(row?.idle_in_transaction_session_timeout).toBe('2min');
  });
});

describe('a transaction whose connection closed', () => {
  it('runs nothing more, even once the pool has opened a new connection meanwhile', async () => {
    const name = `conn-loss-${randomInt(1, 2 ** 31)}`;
    const worker = connect({}, name);
    const admin = connect({});
    const table = `conn_loss_${randomInt(1, 2 ** 31)}`;
    await admin.unsafe(`CREATE TABLE ${table} (note text)`);
    try {
      const hung = gate();
      const held = holdLock(worker, randomInt(1, 2 ** 31), hung, (tx) =>
        tx.unsafe(`INSERT INTO ${table} (note) VALUES ('written by a transaction that had ended')`),
      );
      await hung.reached;
      // A failover, or an operator ending the session.
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${name}`;
      expect(closedCode(await held.transaction)).toMatch(/^(57P01|CONNECTION_CLOSED)$/);
      // The pool (one connection) connects again for the next query, as generate's failure record does.
      const [again] = await worker<{ one: number }[]>`SELECT 1 AS one`;
      expect(again?.one).toBe(1);

      hung.open();
      expect(closedCode(await held.resumed)).toBe('CONNECTION_CLOSED');
      await timersRun();
      expect(uncaught).toEqual([]);
      expect(await admin.unsafe(`SELECT note FROM ${table}`)).toEqual([]);
    } finally {
      await admin.unsafe(`DROP TABLE ${table}`);
    }
  });

  it('with nothing else on the pool: its next query is refused, not written to the closed socket', async () => {
    const name = `conn-loss-${randomInt(1, 2 ** 31)}`;
    const worker = connect({}, name);
    const admin = connect({});
    const hung = gate();
    const held = holdLock(worker, randomInt(1, 2 ** 31), hung, (tx) => tx`SELECT 1`);
    await hung.reached;
    await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${name}`;
    expect(closedCode(await held.transaction)).toMatch(/^(57P01|CONNECTION_CLOSED)$/);
    hung.open();
    expect(closedCode(await held.resumed)).toBe('CONNECTION_CLOSED');
    await timersRun();
    expect(uncaught).toEqual([]);
  });

  it('closed while connecting (a fatal error during its type lookup): the waiting query runs on the next connection', async () => {
    // Between the client and PostgreSQL, a proxy that answers the client's type lookup with the
    // fatal error a terminated session gets, and closes: a failover while a connection opens.
    const target = new URL(databaseUrl);
    let injected = false;
    const sockets: Socket[] = [];
    const proxy = createServer((client) => {
      const server = connectTcp(Number(target.port), target.hostname);
      sockets.push(client, server);
      server.on('data', (chunk) => client.write(chunk));
      client.on('data', (chunk) => {
        if (!injected && chunk.toString('latin1').includes('typarray')) {
          injected = true;
          const fields = Buffer.from(
            'SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0',
            'latin1',
          );
          const message = Buffer.alloc(5 + fields.length);
          message[0] = 0x45; // ErrorResponse
          message.writeInt32BE(4 + fields.length, 1);
          fields.copy(message, 5);
          client.write(message, () => {
            client.end();
            server.destroy();
          });
          return;
        }
        server.write(chunk);
      });
      client.on('close', () => server.destroy());
      server.on('close', () => client.destroy());
      client.on('error', () => undefined);
      server.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const address = proxy.address();
    const proxied = new URL(target);
    proxied.host = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const sql = connect({ DATABASE_URL: proxied.toString() });
      const [row] = await sql<{ one: number }[]>`SELECT 1 AS one`;
      expect(injected).toBe(true);
      expect(row?.one).toBe(1);
      await timersRun();
      expect(rejections).toEqual([]);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});
