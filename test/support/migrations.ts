import { randomBytes } from 'node:crypto';
import { runner } from 'node-pg-migrate';
import postgres from 'postgres';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Sql } from '../../lib/db/client.ts';
import { MIGRATIONS_DIR } from '../../lib/db/migrate.ts';
import { createTestEnv, type TestEnv } from './env.ts';

/**
 * Moves a test's own database across the project's migrations: `down` undoes the migration
 * stamped `timestamp` and every one after it, `up` applies everything pending. For tests of what
 * an upgrade does to rows written under the older schema.
 */
export function migrateAcross(databaseUrl: string, timestamp: number) {
  return (direction: 'up' | 'down') =>
    runner({
      databaseUrl,
      dir: MIGRATIONS_DIR,
      direction,
      migrationsTable: 'pgmigrations',
      ...(direction === 'down' ? { timestamp: true, count: timestamp } : { count: Number.POSITIVE_INFINITY }),
      checkOrder: true,
      log: () => undefined,
      verbose: false,
    });
}

/**
 * A database of the calling test scope's own, since it goes down and up again: created before
 * its tests and removed after them; `migrate` moves it across the migration stamped `timestamp`
 * (migrateAcross).
 */
export function ownDatabaseAcross(timestamp: number): {
  readonly sql: Sql;
  migrate: (direction: 'up' | 'down') => Promise<unknown>;
} {
  let own: TestEnv | undefined;
  beforeAll(async () => {
    own = await createTestEnv();
  });
  afterAll(async () => {
    await own?.cleanup();
  });
  const created = (): TestEnv => {
    if (!own) throw new Error('the database is created in beforeAll');
    return own;
  };
  return {
    get sql() {
      return created().sql;
    },
    migrate: (direction) => migrateAcross(created().env.DATABASE_URL ?? '', timestamp)(direction),
  };
}

/**
 * A new, empty database in the test cluster (no schema, no migrations applied), for a test of the
 * migration runner itself; its URL. Named with `prefix` and a random suffix; the cluster goes
 * with the test run.
 */
export async function emptyDatabase(prefix: string): Promise<string> {
  const stack = inject('stack');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(stack.adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return stack.env.DATABASE_URL?.replace(/\/[^/]+$/, `/${name}`) ?? '';
}
