import { runner } from 'node-pg-migrate';
import { MIGRATIONS_DIR } from '../../lib/db/migrate.ts';

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
