import { join } from 'node:path';
import { loadConfig } from '../../lib/config.ts';
import { migrateUp } from '../../lib/db/migrate.ts';
import { DEMO_REALM, DEMO_STAFF, DEMO_STUDENTS, FRONTEND_CLIENT_ID, SERVICE_CLIENT } from './demo-data.ts';
import { type KeycloakStandIn, startKeycloakStandIn } from './keycloak.ts';
import { type EmbeddedPostgresHandle, startPostgres } from './postgres.ts';
import { type EmbeddedS3, startS3 } from './s3.ts';

export interface LocalStack {
  /** Environment for the functions (the same variables a deployment sets). */
  env: Record<string, string>;
  /**
   * Variables of the developer's shell the functions must not see: with the S3 stand-in, a
   * profile (the SDK then ignores the keys above and looks for the profile's) or a session token
   * (which belongs to another key).
   */
  unset: string[];
  postgres?: EmbeddedPostgresHandle;
  s3?: EmbeddedS3;
  keycloak?: KeycloakStandIn;
  /** What was started here vs. taken from the environment, for the banner. */
  started: string[];
  stop(): Promise<void>;
}

/** What the S3 stand-in's key would be shadowed by, from a developer's shell (LocalStack.unset). */
export const SHELL_CREDENTIAL_SHADOWS = ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SESSION_TOKEN'] as const;

/**
 * The environment the functions run with locally: the shell's, less what `unset` names (a
 * profile or session token of the developer's, which would make the AWS SDK ignore the stand-in's
 * key), then `env`.
 */
export function functionsEnvironment(
  shell: Record<string, string | undefined>,
  unset: readonly string[],
  env: Record<string, string>,
): Record<string, string> {
  const kept = Object.entries(shell).filter(
    (entry): entry is [string, string] => entry[1] !== undefined && !unset.includes(entry[0]),
  );
  return { ...Object.fromEntries(kept), ...env };
}

export interface LocalStackOptions {
  /** Folder for data of the embedded servers. */
  root: string;
  /** Keep PostgreSQL data between runs (npm start) or not (tests). */
  persistent: boolean;
  database?: string;
  bucket?: string;
  /** Variables already set by the developer: a set DATABASE_URL, S3_ENDPOINT_URL or KEYCLOAK_URL replaces its stand-in. */
  env?: Record<string, string | undefined>;
  withDemoUsers?: boolean;
  log?: (message: string) => void;
}

/**
 * Starts the local stand-ins (PostgreSQL, S3, Keycloak), each only when its real counterpart
 * is not configured, applies migrations, and returns the environment for the functions.
 */
/**
 * S3_FORCE_PATH_STYLE for the stack: on for its own s3rver (reached by IP); for an endpoint the
 * developer gave, what they set, else unset, which the client reads as on for an endpoint
 * (lib/storage/s3.ts): an S3-compatible server that wants virtual-host URLs stays usable.
 */
export function pathStyleFor(given: Record<string, string | undefined>): { S3_FORCE_PATH_STYLE?: string } {
  if (!given.S3_ENDPOINT_URL) return { S3_FORCE_PATH_STYLE: 'true' };
  return given.S3_FORCE_PATH_STYLE === undefined ? {} : { S3_FORCE_PATH_STYLE: given.S3_FORCE_PATH_STYLE };
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => undefined);
  const given = options.env ?? {};
  const stoppers: (() => Promise<void>)[] = [];
  const started: string[] = [];
  const stack: Partial<LocalStack> = {};
  const bucket = given.S3_BUCKET ?? options.bucket ?? 'certificates-local';
  const database = options.database ?? 'certificates';

  try {
    let databaseUrl = given.DATABASE_URL;
    if (!databaseUrl) {
      const pg = await startPostgres({
        dataDir: join(options.root, 'postgres'),
        persistent: options.persistent,
      });
      stoppers.push(() => pg.stop());
      await pg.createDatabase(database);
      databaseUrl = pg.urlFor(database);
      stack.postgres = pg;
      started.push(`PostgreSQL (embedded) ${pg.urlFor(database).replace(/:[^:@/]+@/, ':***@')}`);
    }
    // The db section as the functions will read it: the developer's DB_CONNECT_TIMEOUT_SECONDS
    // bounds the connection, and the embedded server's own URL meets the same rules as theirs.
    const ran = await migrateUp(loadConfig(['db'], { ...given, DATABASE_URL: databaseUrl }).db, undefined, {
      onRetry: log,
    });
    if (ran.length > 0) log(`Applied migrations: ${ran.join(', ')}`);

    let s3Endpoint = given.S3_ENDPOINT_URL;
    if (!s3Endpoint) {
      const s3 = await startS3({ directory: join(options.root, 's3'), buckets: [bucket] });
      stoppers.push(() => s3.stop());
      s3Endpoint = s3.endpoint;
      stack.s3 = s3;
      started.push(`S3 stand-in (s3rver) ${s3.endpoint}, bucket ${bucket}`);
    }

    let keycloakUrl = given.KEYCLOAK_URL;
    const realm = given.KEYCLOAK_REALM ?? DEMO_REALM;
    if (!keycloakUrl) {
      const keycloak = await startKeycloakStandIn({
        realm,
        clients: [SERVICE_CLIENT],
        users: options.withDemoUsers === false ? [] : [...DEMO_STUDENTS, DEMO_STAFF],
        publicClientId: FRONTEND_CLIENT_ID,
      });
      stoppers.push(() => keycloak.stop());
      keycloakUrl = keycloak.url;
      stack.keycloak = keycloak;
      started.push(`Keycloak stand-in ${keycloak.url}/realms/${realm}`);
    }

    const env: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      S3_BUCKET: bucket,
      S3_ENDPOINT_URL: s3Endpoint,
      S3_REGION: given.S3_REGION ?? 'us-east-1',
      ...pathStyleFor(given),
      // s3rver takes its own key only (S3RVER: any other is a 403 InvalidAccessKeyId), so a key
      // exported in the developer's shell is replaced for the stand-in; a real endpoint takes
      // the developer's own.
      AWS_ACCESS_KEY_ID: stack.s3 ? 'S3RVER' : (given.AWS_ACCESS_KEY_ID ?? 'S3RVER'),
      AWS_SECRET_ACCESS_KEY: stack.s3 ? 'S3RVER' : (given.AWS_SECRET_ACCESS_KEY ?? 'S3RVER'),
      KEYCLOAK_URL: keycloakUrl,
      KEYCLOAK_REALM: realm,
      KEYCLOAK_CLIENT_ID: given.KEYCLOAK_CLIENT_ID ?? SERVICE_CLIENT.clientId,
      KEYCLOAK_CLIENT_SECRET: given.KEYCLOAK_CLIENT_SECRET ?? SERVICE_CLIENT.secret,
      AUTH_ISSUER: given.AUTH_ISSUER ?? `${keycloakUrl}/realms/${realm}`,
      AUTH_AUDIENCE: given.AUTH_AUDIENCE ?? FRONTEND_CLIENT_ID,
    };
    stack.env = env;
    stack.unset = stack.s3 ? [...SHELL_CREDENTIAL_SHADOWS] : [];
    stack.started = started;
    stack.stop = async () => {
      for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    };
    return stack as LocalStack;
  } catch (error) {
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    throw error;
  }
}
