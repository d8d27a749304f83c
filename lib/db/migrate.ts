import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import { databaseTls } from './tls.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Applies every pending SQL migration (node-pg-migrate, advisory-locked so concurrent
 * callers wait rather than race). Returns the names of the migrations it ran.
 */
export async function migrateUp(
  databaseUrl: string,
  log: (message: string) => void = () => undefined,
): Promise<string[]> {
  // pg would read `sslmode=require` as verify-full; the functions' postgres.js would not
  // verify at all. Both get the same explicit options from lib/db/tls.ts instead.
  const tls = databaseTls(databaseUrl);
  const ran = await runner({
    databaseUrl: { connectionString: tls.url, ssl: tls.ssl },
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Number.POSITIVE_INFINITY,
    checkOrder: true,
    advisoryLockMode: 'wait',
    log,
    verbose: false,
  });
  return ran.map((migration) => migration.name);
}
