import postgres from 'postgres';
import type { Config } from '../config.ts';

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;

/**
 * One postgres.js pool per container. Lambda runs one request at a time per container, so a
 * small pool suffices; idle connections are closed so a frozen container does not hold them.
 */
export function createSql(config: Config<'db'>['db'], options: { applicationName?: string } = {}): Sql {
  return postgres(config.DATABASE_URL, {
    max: config.DB_POOL_MAX,
    connect_timeout: config.DB_CONNECT_TIMEOUT_SECONDS,
    idle_timeout: 60,
    onnotice: () => undefined,
    connection: { application_name: options.applicationName ?? 'course-certificates' },
  });
}
