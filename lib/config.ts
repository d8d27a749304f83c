import { z } from 'zod';
import {
  normalizeDisplayText,
  printsSomething,
  TEXT_LIMITS,
  validateIssuerName,
} from './certificates/text.ts';
import { isoInstant } from './validation.ts';

/**
 * The one typed configuration. Each Lambda gets only the environment it needs
 * (serverless.yml sets variables per function), so the configuration is split into
 * sections and a handler parses, at cold start, exactly the sections it uses.
 * A missing or malformed variable throws a ConfigError naming the variable.
 */

/** A whole number, with messages a person setting the variable reads (not "received NaN"). */
export const wholeNumber = z.coerce
  // Only for what is not a number at all: the schema's bounds keep their own messages.
  .number({ error: (issue) => (issue.code === 'invalid_type' ? 'must be a number' : undefined) })
  .int('must be a whole number');
const positiveInt = wholeNumber.positive('must be at least 1');
// Retry delays: bounded so a mistyped delay is refused at cold start (see the pipeline section).
const upToAWeekSeconds = positiveInt.max(604800, 'must be at most 604800 (7 days)');
// Node's timers take at most 2^31-1 ms (~24.8 days): a longer delay fires at once, so a
// mistyped timeout would fail every call it guards. The functions' own bound is far lower:
// Lambda runs one for at most 15 minutes.
const timeoutMs = positiveInt.max(900000, "must be at most 900000 (15 minutes, Lambda's longest timeout)");
// PostgreSQL's timeouts are int milliseconds: a larger value fails every connection.
const postgresTimeoutMs = positiveInt.max(2147483647, "must be at most 2147483647 (PostgreSQL's limit)");
const nonNegativeInt = wholeNumber.nonnegative('must be 0 or more');
/** certificates.s3_key (varchar(500)) less the 115 characters of `/{course}/{student}/{id}.pdf`. */
const MAX_S3_KEY_PREFIX_LENGTH = 500 - 115;

/**
 * What in a DATABASE_URL would send the two PostgreSQL clients to different servers, or none:
 * the functions use postgres.js, `npm run migrate` (and seed, npm start) pg. Undefined when there
 * is nothing. Exported for lib/db/tls.ts, which checks it again for URLs not read through here.
 * - Several hosts (postgres://u@h1:5432,h2:5432/db): postgres.js tries each, pg cannot connect
 *   to any (ENOTFOUND "h1,h2"), so the schema could never be migrated where the functions run.
 * - `host`, `hostaddr` or `port` parameters: pg lets them replace the URL's own host and port,
 *   postgres.js sends them to the server as settings, which it refuses. seed's "this machine
 *   only" guard reads the URL's host, so `postgres://u@localhost/db?host=prod.example.org`
 *   would have migrated another server than the one it checked.
 */
export function databaseHostProblem(value: string): string | undefined {
  // By hand, as tls.ts does: WHATWG URL parsing refuses several hosts with a port each.
  const match = /^postgres(?:ql)?:\/\/(?:[^@/?#]*@)?([^/?#]*)[^?#]*(?:\?([^#]*))?/i.exec(value);
  if (!match) return undefined;
  const [, authority = '', query = ''] = match;
  if (authority.includes(',')) {
    return 'must name one host, not several: put the cluster endpoint or a proxy in front of them';
  }
  const params = new URLSearchParams(query);
  const overriding = ['host', 'hostaddr', 'port'].filter((name) => params.has(name));
  if (overriding.length > 0) {
    return (
      `must not carry ${overriding.map((name) => `a ${name}=`).join(' or ')} parameter: ` +
      'give the host and port in the URL itself (postgres://user:password@host:5432/database)'
    );
  }
  return undefined;
}

const POSTGRES_URL_SHAPE = 'must be a URL like postgres://user:password@host:5432/database';

function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}

const postgresUrl = z
  .string({ error: 'is required' })
  .min(1, 'is required')
  .superRefine((value, ctx) => {
    const problem = databaseHostProblem(value) ?? (isPostgresUrl(value) ? undefined : POSTGRES_URL_SHAPE);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

const httpUrl = z
  .string({ error: 'is required' })
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL')
  .transform((value) => value.replace(/\/+$/, ''));

const csv = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== ''),
);

const bool = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

/** An SSM parameter or Secrets Manager ARN (lib/secrets/secret-store.ts reads it with Powertools). */
export const SECRET_ARN = /^arn:aws[a-z-]*:(ssm|secretsmanager):[a-z0-9-]+:\d{12}:(parameter\/.+|secret:.+)$/;
const secretReference = z
  .string()
  .regex(SECRET_ARN, 'must be the ARN of an SSM parameter or a Secrets Manager secret');

/**
 * A secret setting NAME comes either as NAME (local runs) or as NAME_ARN (AWS: read from the
 * secret store at cold start, so the value is never in the packaged template). One of the two is
 * required: secrets have no default. Used for the Keycloak client secret and the issuer's two
 * signing keys (private JWKs as JSON: P-256 for the facts, RSA for the credentials).
 */
export function secretSetting<N extends string>(name: N) {
  return {
    shape: {
      [name]: z.string().min(1).optional(),
      [`${name}_ARN`]: secretReference.optional(),
    } as { [K in N | `${N}_ARN`]: z.ZodOptional<z.ZodString> },
    require(value: Record<string, unknown>, ctx: z.RefinementCtx): void {
      if (value[name] === undefined && value[`${name}_ARN`] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `is required (secret, no default): set ${name} locally or ${name}_ARN on AWS`,
        });
      }
    },
  };
}

// zod skips an object's refinements once a field of it failed: a missing secret would be named
// only after every other variable of its section had been fixed, one deploy later.
const EVEN_WITH_OTHER_PROBLEMS = { when: () => true };

const keycloakSecret = secretSetting('KEYCLOAK_CLIENT_SECRET');
const signingKey = secretSetting('SIGNING_KEY');
const credentialSigningKey = secretSetting('CREDENTIAL_SIGNING_KEY');

/**
 * The longest one round of deliverWebhooks can take: the batch sent `concurrency` at a time, each
 * request within the timeout, plus 10 s for the expiry sweep and the bookkeeping. The scheduled
 * run starts another round only with this much time left, and the function's timeout must hold one.
 */
export function webhookWorstRoundMs(options: {
  batchSize: number;
  concurrency: number;
  timeoutMs: number;
}): number {
  return Math.ceil(options.batchSize / options.concurrency) * options.timeoutMs + 10_000;
}

const sections = {
  db: z.object({
    DATABASE_URL: postgresUrl,
    // On AWS the URL carries no password: it comes from this secret (RDS's JSON or a plain string).
    DATABASE_SECRET_ARN: secretReference.optional(),
    DB_POOL_MAX: positiveInt.default(2),
    DB_CONNECT_TIMEOUT_SECONDS: positiveInt.default(10),
    // Connections are recycled so a rotated password and a failed-over endpoint are picked up.
    DB_MAX_LIFETIME_SECONDS: positiveInt.default(900),
    // A statement stuck behind a lock must not outlive the function that waits for it.
    DB_STATEMENT_TIMEOUT_MS: postgresTimeoutMs.default(15000),
    // A transaction left open by a function that died or lost its network mid-way (generate's
    // holds a certificate's row across the S3 upload) would keep its locks until TCP keepalive
    // noticed, hours on some servers. No transaction legitimately waits this long between two
    // statements: the longest wait, generate's upload, gives up within about 60 s (3 tries of at
    // most 5 s to connect and 15 s to the answer, lib/storage/s3.ts), and generate's Lambda
    // timeout is 120 s.
    DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: postgresTimeoutMs.default(120000),
  }),
  secrets: z.object({
    SECRETS_CACHE_SECONDS: nonNegativeInt.default(300),
    SSM_ENDPOINT_URL: httpUrl.optional(),
    SECRETS_MANAGER_ENDPOINT_URL: httpUrl.optional(),
    AWS_REGION: z.string().min(1).default('us-east-1'),
  }),
  s3: z.object({
    S3_BUCKET: z
      .string({ error: 'is required' })
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid bucket name'),
    S3_ENDPOINT_URL: httpUrl.optional(),
    S3_REGION: z.string().min(1).default('us-east-1'),
    S3_FORCE_PATH_STYLE: bool.optional(),
    S3_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'must be a single path segment')
      // certificates.s3_key is varchar(500), and the rest of a key, `/{course}/{student}/{id}.pdf`,
      // is 115 characters: a longer prefix would upload every PDF and then fail to record it.
      .max(MAX_S3_KEY_PREFIX_LENGTH, `must be at most ${MAX_S3_KEY_PREFIX_LENGTH} characters`)
      .default('certificates'),
  }),
  keycloak: z
    .object({
      KEYCLOAK_URL: httpUrl,
      KEYCLOAK_REALM: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a realm name'),
      KEYCLOAK_CLIENT_ID: z.string({ error: 'is required' }).min(1, 'is required'),
      ...keycloakSecret.shape,
      KEYCLOAK_TIMEOUT_MS: timeoutMs.default(5000),
      KEYCLOAK_PROFILE_CACHE_SECONDS: nonNegativeInt.default(300),
    })
    .superRefine(keycloakSecret.require, EVEN_WITH_OTHER_PROBLEMS),
  auth: z.object({
    AUTH_ISSUER: httpUrl,
    AUTH_JWKS_URL: httpUrl.optional(),
    AUTH_AUDIENCE: csv.pipe(z.array(z.string()).min(1, 'needs at least one audience or client id')),
    // `aud-or-azp`: Keycloak's default access tokens name the frontend client only in `azp` (their
    // `aud` is `account`), so either claim may carry an AUTH_AUDIENCE entry. `aud`: RFC 9068's rule
    // (section 4), the audience itself must be in `aud`: for realms whose clients have an Audience
    // mapper, so that a token another client of the realm obtained for itself is refused here.
    AUTH_AUDIENCE_CLAIMS: z
      .enum(['aud-or-azp', 'aud'], { error: 'must be aud-or-azp or aud' })
      .default('aud-or-azp'),
    AUTH_ALGORITHMS: csv
      .pipe(
        z.array(
          z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']),
        ),
      )
      .default(['RS256']),
    // Realm or client roles mapped to permissions in lib/auth/policies.ts (permissionsFor).
    AUTH_ADMIN_ROLES: csv.default(['certificate-admin']),
    AUTH_TEACHER_ROLES: csv.default(['teacher']),
    AUTH_INGESTION_ROLES: csv.default(['certificate-ingestion']),
    // `azp` of service accounts allowed to post attempts (the testing system's Keycloak client).
    AUTH_INGESTION_CLIENTS: csv.default([]),
    // How long past its expiry (and before its nbf) a token is still taken: for clock skew only.
    AUTH_CLOCK_TOLERANCE_SECONDS: nonNegativeInt
      .max(300, 'must be at most 300 (a token this long past its expiry is still accepted)')
      .default(5),
    // After a key rotation the first token with the new `kid` forces a JWKS refetch; the
    // cooldown only rate-limits refetches caused by unknown kids (jose's default is 30 s).
    // At least 1: with 0 anyone could make every request fetch the identity provider's key set
    // by sending a random `kid`.
    AUTH_JWKS_COOLDOWN_SECONDS: wholeNumber
      .min(1, 'must be at least 1 (0 would let every token with an unknown kid refetch the key set)')
      .default(5),
    AUTH_JWKS_CACHE_SECONDS: positiveInt.default(600),
  }),
  http: z.object({
    // Origins (scheme, host, port) or `*`: the functions compare the browser's Origin header with
    // each entry as written, so `https://learn.example.org/` would never match.
    CORS_ALLOWED_ORIGINS: csv
      .pipe(
        z.array(
          z.string().refine((entry) => {
            if (entry === '*') return true;
            // `new URL('https://*.example.org').origin` is the string itself, and the CORS
            // middleware would take the `*` in it as a pattern: only `*` alone means any origin.
            if (entry.includes('*')) return false;
            try {
              return new URL(entry).origin === entry;
            } catch {
              return false;
            }
          }, 'each entry must be an origin like https://learn.example.org (no path, no trailing slash, no wildcard) or *'),
        ),
      )
      .default([]),
    DOWNLOAD_URL_TTL_SECONDS: positiveInt.default(3600),
    DOWNLOAD_URL_MAX_TTL_SECONDS: positiveInt
      .max(604800, 'must be at most 604800 (7 days, the SigV4 limit)')
      .default(86400),
  }),
  pipeline: z
    .object({
      SCAN_BATCH_SIZE: positiveInt.max(10000).default(100),
      SCAN_ENQUEUE_LIMIT: positiveInt.max(100000).default(1000),
      // Passing attempts completed before this instant are history: the scan leaves them to
      // `npm run backfill` (paced, silent by default) instead of issuing them all at once.
      // Within years 0001-9999 UTC, as every date a request gives: past them every scan's query
      // would fail, after a start that called the configuration valid.
      SCAN_NOT_BEFORE: isoInstant('must be an ISO date-time, e.g. 2025-01-01T00:00:00Z')
        .transform((value) => new Date(value))
        .optional(),
      DISPATCH_CONCURRENCY: positiveInt.max(100).default(16),
      // Ten: with the retry defaults the tenth failure comes at least ~3 h after the first
      // (45 s, 90 s, ... doubling up to RETRY_MAX_SECONDS, each at least 0.75x), so a Keycloak or
      // S3 outage of a few hours leaves no certificate dead (test/unit/pipeline-retry.test.ts).
      // Every claim carries the delay of each attempt (generate.ts, claim): a list this long.
      MAX_GENERATION_ATTEMPTS: positiveInt
        .max(100, 'must be at most 100 (each claim carries the retry delay of every attempt)')
        .default(10),
      // Bounded so a mistyped delay is refused at cold start rather than found when a failure's
      // next attempt is written: now() plus ~10^13 s is past PostgreSQL's last timestamp, and the
      // write would fail on every attempt of every certificate that fails.
      RETRY_BASE_SECONDS: upToAWeekSeconds.default(60),
      RETRY_MAX_SECONDS: upToAWeekSeconds.default(3600),
      // After a configuration error (S3 403 / NoSuchBucket / NoSuchKey, Keycloak 401 / 403).
      CONFIGURATION_RETRY_SECONDS: upToAWeekSeconds.default(3600),
      // A worker that dies holds its certificate this long: Lambda's longest timeout is 900 s.
      LEASE_SECONDS: positiveInt
        .max(
          3600,
          "must be at most 3600 (a dead worker's certificate waits this long; Lambda's longest timeout is 900 s)",
        )
        .default(180),
      // Lambda keeps an asynchronous event at most 6 hours: after that it is gone, and a longer
      // lease would only keep its certificate from being dispatched again.
      DISPATCH_LEASE_SECONDS: positiveInt
        .max(21600, 'must be at most 21600 (6 hours, the longest Lambda keeps an asynchronous event)')
        .default(300),
      // The one concurrency budget: certificates dispatched or rendering at once. On AWS also the
      // reserved concurrency of generate; sized for the database (one connection each).
      GENERATE_MAX_CONCURRENCY: positiveInt.max(1000).default(50),
      // A scan keeps topping the budget up this long while certificates wait. Its timeout is 60 s
      // (serverless.yml) and it stops claiming CLAIM_STOP_MARGIN_MS (20 s, lib/certificates/scan.ts)
      // before it, so anything above 40 would act as 40. The constant is not imported: scan.ts
      // reaches this module through the database client's types, a cycle; test/unit/config.test.ts
      // ties the two instead.
      SCAN_FILL_SECONDS: nonNegativeInt
        .max(
          40,
          "must leave 20 s of the scan's 60 s timeout (serverless.yml) for its last invokes and summary: at most 40",
        )
        .default(40),
      // generate's Lambda timeout (serverless.yml sets it from the function's own `timeout`).
      GENERATE_TIMEOUT_SECONDS: positiveInt.optional(),
    })
    .superRefine((value, ctx) => {
      if (value.RETRY_BASE_SECONDS > value.RETRY_MAX_SECONDS) {
        ctx.addIssue({
          code: 'custom',
          path: ['RETRY_BASE_SECONDS'],
          message: `must not exceed RETRY_MAX_SECONDS=${value.RETRY_MAX_SECONDS} (the longest retry delay)`,
        });
      }
      // A lease shorter than the timeout would let a live, slow worker be taken over routinely.
      if (
        value.GENERATE_TIMEOUT_SECONDS !== undefined &&
        value.LEASE_SECONDS <= value.GENERATE_TIMEOUT_SECONDS
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['LEASE_SECONDS'],
          message: `must exceed generate's timeout GENERATE_TIMEOUT_SECONDS=${value.GENERATE_TIMEOUT_SECONDS}`,
        });
      }
    }),
  invoke: z.object({
    GENERATE_FUNCTION_NAME: z.string({ error: 'is required' }).min(1, 'is required'),
    LAMBDA_ENDPOINT_URL: httpUrl.optional(),
    AWS_REGION: z.string().min(1).default('us-east-1'),
  }),
  render: z.object({
    // The QR code is sized for a base of at most 64 characters (lib/credentials/credential.ts).
    VERIFY_BASE_URL: httpUrl.pipe(
      z.string().max(64, 'must be at most 64 characters (the QR code is sized for it)'),
    ),
    // As printed (lib/certificates/text.ts): the PDF, the signed facts, the Open Badges issuer and
    // the LinkedIn link all use this one value, so a stray space or a decomposed accent pasted
    // into the variable cannot make the credential's issuer differ from the printed one.
    ISSUER_NAME: z
      .string()
      .transform(normalizeDisplayText)
      .pipe(
        z
          .string()
          .refine(printsSomething, 'must print something (it is empty, or only spaces and controls)')
          .refine(
            (name) => [...name].length <= TEXT_LIMITS.issuerName,
            `must be at most ${TEXT_LIMITS.issuerName} characters`,
          )
          // Every rule the renderer holds it to (stacked marks...): refused here, not by every render.
          .superRefine((name, ctx) => {
            try {
              validateIssuerName(name, 'ISSUER_NAME');
            } catch (error) {
              if (error instanceof Error)
                ctx.addIssue({ code: 'custom', message: error.message.replace(/^ISSUER_NAME /, '') });
            }
          }),
      )
      .default('Course Certificates'),
    // LinkedIn's numeric id of the issuer's company page: "Add to LinkedIn" then links the
    // certification to that page instead of naming the organisation (ISSUER_NAME) in plain text.
    LINKEDIN_ORGANIZATION_ID: z
      .string()
      .regex(/^\d{1,20}$/, 'must be digits')
      .optional(),
    DEFAULT_LOCALE: z.string().min(2).default('en'),
    CHROMIUM_EXECUTABLE_PATH: z.string().min(1).optional(),
    CHROMIUM_PROFILE_ROOT: z.string().startsWith('/', 'must be an absolute path').optional(),
    RENDER_TIMEOUT_MS: timeoutMs.default(30000),
  }),
  // The issuer's private key for the facts in the QR code (ES256, a P-256 JWK): SIGNING_KEY
  // locally, SIGNING_KEY_ARN on AWS.
  signing: z.object({ ...signingKey.shape }).superRefine(signingKey.require, EVEN_WITH_OTHER_PROBLEMS),
  // The issuer's private key for the verifiable credentials (RS256, an RSA JWK of at least 2048
  // bits): the Open Badges VC-JWT and the status lists. CREDENTIAL_SIGNING_KEY locally,
  // CREDENTIAL_SIGNING_KEY_ARN on AWS.
  credentialSigning: z
    .object({ ...credentialSigningKey.shape })
    .superRefine(credentialSigningKey.require, EVEN_WITH_OTHER_PROBLEMS),
  // What the Open Badges credentials and the status lists say about where they live. Both
  // default from VERIFY_BASE_URL (render section): the API and the issuer on its origin.
  credentials: z.object({
    // Public base of this API as verifiers reach it (…/api/v1): status lists are published at
    // {PUBLIC_API_BASE_URL}/status/{listId}, so it must be the URL the status route answers on.
    PUBLIC_API_BASE_URL: httpUrl.optional(),
    // The issuer profile's id (and url) in every credential, and the JWT `iss`.
    ISSUER_URL: httpUrl.optional(),
    // How long a verifier may cache a status list (its `ttl`, and the route's Cache-Control):
    // the longest a revocation can stay unseen.
    STATUS_LIST_TTL_SECONDS: positiveInt.max(86400).default(300),
  }),
  webhooks: z
    .object({
      // Hosts (names or IP literals) that may resolve to private, loopback or link-local addresses
      // and may use plain http: local development and tests. Empty in production.
      WEBHOOK_ALLOWED_HOSTS: csv.transform((hosts) => hosts.map((host) => host.toLowerCase())).default([]),
      // Standard Webhooks recommends 15-30 s for the receiver to answer.
      WEBHOOK_TIMEOUT_MS: positiveInt.max(30000).default(15000),
      WEBHOOK_BATCH_SIZE: positiveInt.max(1000).default(50),
      WEBHOOK_CONCURRENCY: positiveInt.max(50).default(8),
      // How long the previous secret keeps signing after a rotation (both signatures are sent).
      WEBHOOK_ROTATION_WINDOW_SECONDS: nonNegativeInt.max(604800).default(86400),
      // deliverWebhooks' Lambda timeout (serverless.yml sets it from the function's own `timeout`).
      WEBHOOK_FUNCTION_TIMEOUT_SECONDS: positiveInt.optional(),
    })
    .superRefine((value, ctx) => {
      // A round that cannot finish is killed mid-batch every minute, its sends unrecorded.
      if (value.WEBHOOK_FUNCTION_TIMEOUT_SECONDS === undefined) return;
      const worstRoundMs = webhookWorstRoundMs({
        batchSize: value.WEBHOOK_BATCH_SIZE,
        concurrency: value.WEBHOOK_CONCURRENCY,
        timeoutMs: value.WEBHOOK_TIMEOUT_MS,
      });
      if (worstRoundMs > value.WEBHOOK_FUNCTION_TIMEOUT_SECONDS * 1000) {
        ctx.addIssue({
          code: 'custom',
          path: ['WEBHOOK_TIMEOUT_MS'],
          message:
            `with WEBHOOK_BATCH_SIZE=${value.WEBHOOK_BATCH_SIZE} and WEBHOOK_CONCURRENCY=${value.WEBHOOK_CONCURRENCY}, ` +
            `a round can take ${worstRoundMs / 1000} s, more than deliverWebhooks' timeout ` +
            `WEBHOOK_FUNCTION_TIMEOUT_SECONDS=${value.WEBHOOK_FUNCTION_TIMEOUT_SECONDS}: lower one of them`,
        });
      }
    }),
} as const;

export type Sections = typeof sections;
export type SectionName = keyof Sections;

/** Every section, for callers that validate the whole configuration (npm start, the README check). */
export const SECTION_NAMES = Object.keys(sections) as SectionName[];
export type Config<K extends SectionName = SectionName> = { [P in K]: z.output<Sections[P]> };

export class ConfigError extends Error {
  readonly variables: string[];
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(
      `Invalid configuration: ${problems.map((problem) => `${problem.variable} ${problem.message}`).join('; ')}`,
    );
    this.name = 'ConfigError';
    this.variables = problems.map((problem) => problem.variable);
  }
}

/** Parses the named sections from the environment; throws ConfigError naming every bad variable. */
export function loadConfig<K extends SectionName>(
  names: readonly K[],
  env: Record<string, string | undefined> = process.env,
): Config<K> {
  const problems: { variable: string; message: string }[] = [];
  const result: Partial<Record<SectionName, unknown>> = {};
  for (const name of names) {
    // Empty strings count as unset, so `FOO=` in a .env file does not defeat a default.
    const input = Object.fromEntries(
      Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
    );
    const parsed = sections[name].safeParse(input);
    if (parsed.success) {
      result[name] = parsed.data;
    } else {
      for (const issue of parsed.error.issues) {
        const variable = String(issue.path[0] ?? name);
        const message =
          issue.code === 'invalid_type' && input[variable] === undefined ? 'is required' : issue.message;
        problems.push({ variable, message });
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return result as Config<K>;
}

/** Variables a developer may set, for documentation and the README table test. */
export function documentedVariables(): string[] {
  return Object.values(sections).flatMap((schema) => Object.keys(schema.shape));
}
