import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * Applies every pending SQL migration (node-pg-migrate, advisory-locked so concurrent
 * callers wait rather than race). Returns the names of the migrations it ran.
 */
export async function migrateUp(
  databaseUrl: string,
  log: (message: string) => void = () => undefined,
): Promise<string[]> {
  const ran = await runner({
    databaseUrl,
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
