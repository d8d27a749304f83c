import postgres from 'postgres';
import type { Config } from '../config.ts';
import {
  databasePassword,
  defaultSecretStore,
  prefetch,
  type SecretStore,
  secretSource,
} from '../secrets/secret-store.ts';
import { databaseTls } from './tls.ts';

export type Sql = postgres.Sql;
export type TransactionSql = postgres.TransactionSql;

/**
 * One postgres.js pool per container. Lambda runs one request at a time per container, so a
 * small pool suffices (generate: 1). A connection idle for 60 s is closed. That frees no server
 * slot while a container is frozen (its timers do not run: the connection stays open on the
 * server), but when the container thaws the overdue timer drops it before the next query is
 * sent, so a connection a NAT, a proxy or the server may have cut meanwhile costs a reconnect
 * (TCP, TLS, login) rather than a failed request (docs/scaling.md counts the server's
 * connections). Every connection is recycled after DB_MAX_LIFETIME_SECONDS so a rotated
 * password or a failed-over endpoint is picked up. With DATABASE_SECRET_ARN the password is
 * read from the secret store when a connection opens (cached by Powertools), never from the
 * environment.
 */
type DbConfig = Config<'db'>['db'];
/** The db section; scripts and tests that build it by hand may leave out the tuning fields. */
export type SqlConfig = Pick<DbConfig, 'DATABASE_URL' | 'DB_POOL_MAX' | 'DB_CONNECT_TIMEOUT_SECONDS'> &
  Partial<
    Pick<
      DbConfig,
      | 'DATABASE_SECRET_ARN'
      | 'DB_MAX_LIFETIME_SECONDS'
      | 'DB_STATEMENT_TIMEOUT_MS'
      | 'DB_IDLE_IN_TRANSACTION_TIMEOUT_MS'
    >
  >;

export function createSql(
  config: SqlConfig,
  options: { applicationName?: string; secretStore?: () => SecretStore } = {},
): Sql {
  const password = config.DATABASE_SECRET_ARN
    ? prefetch(
        secretSource(
          options.secretStore ?? defaultSecretStore,
          undefined,
          config.DATABASE_SECRET_ARN,
          databasePassword,
        ),
      )
    : undefined;
  // TLS as lib/db/tls.ts derives it from sslmode, identical to `npm run migrate`'s.
  const tls = databaseTls(config.DATABASE_URL);
  return postgres(tls.url, {
    ssl: tls.ssl,
    types: { date: DATE_TYPE },
    max: config.DB_POOL_MAX,
    connect_timeout: config.DB_CONNECT_TIMEOUT_SECONDS,
    idle_timeout: 60,
    max_lifetime: config.DB_MAX_LIFETIME_SECONDS ?? 900,
    ...(password ? { password } : {}),
    onnotice: () => undefined,
    connection: {
      application_name: options.applicationName ?? 'course-certificates',
      statement_timeout: config.DB_STATEMENT_TIMEOUT_MS ?? 15000,
      // The server ends a session idle inside a transaction this long, and so lets go of its locks.
      idle_in_transaction_session_timeout: config.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS ?? 120000,
      // Every instant leaves the database in UTC, whatever zone the server was initialised with
      // (initdb takes the machine's; npm start's embedded server too). In another zone, jsonb
      // built from a timestamptz (webhook payloads) carried its offset, and instants before the
      // zone's standard time (local mean time, a seconds offset) came back unreadable to Date.
      TimeZone: 'UTC',
      // The text form postgres.js and `::text` casts of dates are read in.
      DateStyle: 'ISO, MDY',
    },
  });
}

/**
 * PostgreSQL's text form of a timestamp ("0050-03-01 10:00:00.123456+00", DateStyle ISO) as an
 * instant. postgres.js hands it to `new Date(text)`, whose non-ISO parser reads years 0001-0099
 * as 1901-1999 or worse ("0001-06-15 ..." as 2015-01-06), while the service accepts and stores
 * instants of years 0001-9999: an attempt posted for year 50 was answered as 1950, and the same
 * request sent again refused as different. Rewritten as ISO 8601, which Date reads exactly.
 * Anything else (a bare date, which is ISO already; infinity) goes to Date as before.
 */
export function parseTimestamp(text: string): Date {
  const match = PG_TIMESTAMP.exec(text);
  if (!match) return new Date(text);
  const [, day, time, fraction = '', sign, hours, minutes = '00'] = match;
  const zone = sign === undefined ? '' : `${sign}${hours}:${minutes}`;
  return new Date(`${day}T${time}${fraction.slice(0, 4)}${zone}`);
}

// A four-digit year, time, fraction, and an offset in hours (and minutes; not seconds, which ISO
// cannot write: the session's TimeZone is UTC, so only "+00" comes). No zone: timestamp without
// time zone, read in local time as before.
const PG_TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)?(?:([+-])(\d{2})(?::(\d{2}))?)?$/;

/** postgres.js's own `date` type (dates and timestamps in, Dates out), with parseTimestamp. */
const DATE_TYPE = {
  to: 1184,
  from: [1082, 1114, 1184],
  serialize: (value: Date | string) => (value instanceof Date ? value : new Date(value)).toISOString(),
  parse: parseTimestamp,
};
