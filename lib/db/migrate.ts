import { createRequire } from 'node:module';
import type { ConnectionOptions } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { PG_MIGRATE_LOCK_ID, runner } from 'node-pg-migrate';
import type { Config } from '../config.ts';
import { TransientError } from '../errors.ts';
import { databaseTls } from './tls.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * How long a migration's statement may wait for a lock another session holds. An upgrade runs
 * while the functions serve: an `ALTER TABLE` queued behind a busy row (generate holds one
 * across its upload) makes every later query of that table queue behind the ALTER until it gets
 * the lock or gives up. So the wait is kept well under the routes' statement timeout (6 s,
 * serverless.yml): a request queued behind it is slowed, never failed. The migration is then
 * rolled back and tried again (MIGRATION_LOCK_TRIES), the queue let go in between, so a busy row
 * is waited out without an outage.
 */
export const MIGRATION_LOCK_TIMEOUT_MS = 2_000;
/** Tries of a migration that gave up waiting for a lock, 1-2 s apart, before the run fails. */
export const MIGRATION_LOCK_TRIES = 10;

/** The part of pg's Client used here: pg ships no type declarations, node-pg-migrate runs on it. */
interface PgClient {
  /** Where it connects, as pg read it from the URL. */
  readonly host: string;
  readonly port: number;
  connect(): Promise<void>;
  query(text: string): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
}
const { Client } = createRequire(import.meta.url)('pg') as {
  Client: new (config: {
    connectionString: string;
    ssl: false | ConnectionOptions;
    application_name: string;
    connectionTimeoutMillis: number;
  }) => PgClient;
};

/**
 * The message pg 8 destroys the socket with when connectionTimeoutMillis runs out (lib/client.js);
 * test/integration/migrate-connect.test.ts notices if an upgrade changes it.
 */
const PG_CONNECT_TIMEOUT_MESSAGE = 'timeout expired';

/** The db section's part migrateUp reads: scripts pass config.db, others build it by hand. */
export type MigrateConfig = Pick<Config<'db'>['db'], 'DATABASE_URL' | 'DB_CONNECT_TIMEOUT_SECONDS'>;

/** PostgreSQL's lock_not_available: what a statement fails with when lock_timeout runs out. */
function isLockTimeout(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === '55P03';
}

/**
 * Applies every pending SQL migration (node-pg-migrate) to `db.DATABASE_URL`. Connecting (TCP,
 * TLS and login) takes at most DB_CONNECT_TIMEOUT_SECONDS, as for the functions: a tunnel, proxy
 * or load balancer that accepts the connection and never answers would otherwise hold
 * `npm run migrate`, seed and `npm start` for ever, silently. Once connected nothing else is
 * timed but the lock waits: concurrent callers wait for each other (the advisory lock
 * node-pg-migrate uses, without a time limit), each migration's statements wait at most
 * `lockTimeoutMs` for a table or row lock, after which the migration is rolled back and tried
 * again, `lockTries` times in all before the run fails; a long migration runs as long as it needs. Returns the names of the migrations it ran.
 * `dir`: tests run their own.
 */
export async function migrateUp(
  db: MigrateConfig,
  log: (message: string) => void = () => undefined,
  options: {
    lockTimeoutMs?: number;
    lockTries?: number;
    retryDelayMs?: () => number;
    /** Told when a migration gave up waiting for a lock and is tried again (the CLIs print it). */
    onRetry?: (message: string) => void;
    dir?: string;
  } = {},
): Promise<string[]> {
  const lockTimeoutMs = options.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS;
  const lockTries = options.lockTries ?? MIGRATION_LOCK_TRIES;
  // Jittered, so two upgrades, or an upgrade and a periodic job, do not meet again in step.
  const retryDelayMs = options.retryDelayMs ?? (() => 1_000 + Math.floor(Math.random() * 1_000));
  // 0 would be PostgreSQL's "wait for ever", the very thing this bounds.
  if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 1)
    throw new RangeError(`lockTimeoutMs must be a positive integer, got ${lockTimeoutMs}`);
  // 0 would be pg's "no limit", the hang this bounds.
  if (!(db.DB_CONNECT_TIMEOUT_SECONDS > 0))
    throw new RangeError(`DB_CONNECT_TIMEOUT_SECONDS must be positive, got ${db.DB_CONNECT_TIMEOUT_SECONDS}`);
  // pg would read `sslmode=require` as verify-full; the functions' postgres.js would not
  // verify at all. Both get the same explicit options from lib/db/tls.ts instead.
  const tls = databaseTls(db.DATABASE_URL);
  const client = new Client({
    connectionString: tls.url,
    ssl: tls.ssl,
    // Named in pg_stat_activity, for whoever looks for what blocks or waits.
    application_name: 'certificates-migrate',
    // pg's timer runs from the start of connect() until the server is ready for queries, and
    // stops there: it never limits a migration's statements (pg's query_timeout is left unset).
    connectionTimeoutMillis: db.DB_CONNECT_TIMEOUT_SECONDS * 1000,
  });
  try {
    await client.connect();
  } catch (error) {
    if (!(error instanceof Error && error.message === PG_CONNECT_TIMEOUT_MESSAGE)) throw error;
    const failure = new TransientError(
      `Could not connect to PostgreSQL at ${client.host}:${client.port} within ` +
        `${db.DB_CONNECT_TIMEOUT_SECONDS} s (DB_CONNECT_TIMEOUT_SECONDS): nothing answered in time. ` +
        'Check DATABASE_URL, and any tunnel or proxy on the way.',
      'PostgreSQL',
    );
    failure.cause = error;
    throw failure;
  }
  try {
    // The lock node-pg-migrate would take itself, taken here first so that the lock_timeout set
    // next does not apply to it: a second `npm run migrate` waits for the first to finish.
    await client.query(`SELECT pg_advisory_lock(${PG_MIGRATE_LOCK_ID})`);
    await client.query(`SET lock_timeout = ${lockTimeoutMs}`);
    // Each try applies what is still pending, and each migration commits on its own: those a try
    // applied before a lock timeout stay applied. So what this run applied is read from the
    // table node-pg-migrate records them in, before and after, not from the last try.
    const before = new Set(await appliedMigrations(client));
    for (let attempt = 1; ; attempt += 1) {
      try {
        await runner({
          dbClient: client,
          noLock: true,
          dir: options.dir ?? MIGRATIONS_DIR,
          direction: 'up',
          migrationsTable: 'pgmigrations',
          count: Number.POSITIVE_INFINITY,
          checkOrder: true,
          log,
          verbose: false,
        });
        return (await appliedMigrations(client)).filter((name) => !before.has(name));
      } catch (error) {
        if (!isLockTimeout(error)) throw error;
        // The failed migration's transaction is open and aborted: end it, then wait, holding no lock.
        await client.query('ROLLBACK');
        if (attempt >= lockTries) {
          throw new Error(
            `Migration stopped: ${lockTries === 1 ? 'a statement' : `${lockTries} times a statement`} waited more than ` +
              `${lockTimeoutMs} ms (lock_timeout) for a lock another session holds, and its migration was ` +
              'rolled back. Run `npm run migrate` again when the database is quieter; pg_stat_activity and ' +
              `pg_blocking_pids() show who holds it. (${error instanceof Error ? error.message : String(error)})`,
            { cause: error },
          );
        }
        const delay = retryDelayMs();
        options.onRetry?.(
          `A migration waited more than ${lockTimeoutMs} ms for a lock and was rolled back; trying again in ` +
            `${delay} ms (try ${attempt + 1} of ${lockTries})`,
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  } finally {
    // A failed statement leaves node-pg-migrate's transaction open and aborted: ending the
    // session rolls it back and releases the advisory lock, whatever state it is in.
    await client.end();
  }
}

/** The migrations recorded as applied, in the order they ran (none before the table exists). */
async function appliedMigrations(client: PgClient): Promise<string[]> {
  const [table] = (await client.query("SELECT to_regclass('pgmigrations') IS NOT NULL AS exists")).rows;
  if (!table?.exists) return [];
  const { rows } = await client.query('SELECT name FROM pgmigrations ORDER BY run_on, id');
  return rows.map((row) => String(row.name));
}
