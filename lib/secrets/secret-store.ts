import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { type Config, ConfigError, loadConfig, SECRET_ARN } from '../config.ts';
import { ConfigurationError, errorMessage, TransientError } from '../errors.ts';
import { requestTimeouts } from '../request-timeouts.ts';

/**
 * Secrets on AWS come from SSM Parameter Store (SecureString) or Secrets Manager, read with
 * Powertools Parameters and cached per container for SECRETS_CACHE_SECONDS, so a rotated value
 * is picked up without a redeploy and a warm container does not call the store per request.
 * A reference is the full ARN (the same string the function's IAM policy grants), which also
 * says which store to ask:
 *   arn:aws:ssm:<region>:<account>:parameter/<name>       -> GetParameter, decrypted
 *   arn:aws:secretsmanager:<region>:<account>:secret:<id> -> GetSecretValue
 * Locally the plain environment variable is used instead and no store is asked.
 */

export type SecretsConfig = Config<'secrets'>['secrets'];

/**
 * Reads one secret value; a rejected promise is a TransientError (store unreachable or refused).
 * `fresh`: ask the store even when the cached value is still young (a caller that keeps its own
 * copy for as long as the cache would, and must see a rotation when it reads again).
 */
export type SecretSource = (options?: { fresh?: boolean }) => Promise<string>;

export interface SecretStore {
  get(reference: string, options?: { fresh?: boolean }): Promise<string>;
}

/**
 * How long one read may wait on a silent store. The SDK's defaults for these two clients allow
 * 5 (Secrets Manager) and 15 minutes (SSM) of silence, past any function's timeout: generate
 * reading its signing key would hang until Lambda killed it. Three tries of these end within
 * about 25 s, and the failure is a TransientError that generate retries with its backoff.
 */
const STORE_TIMEOUTS = { socketMs: 5_000, connectMs: 3_000 };

export function createSecretStore(
  config: SecretsConfig,
  timeouts: { socketMs: number; connectMs: number } = STORE_TIMEOUTS,
): SecretStore {
  // Providers (and their SDK clients) only on first use: most containers read one secret.
  let ssm: SSMProvider | undefined;
  let secrets: SecretsProvider | undefined;
  const region = {
    region: config.AWS_REGION,
    maxAttempts: 3,
    requestHandler: requestTimeouts({ answerMs: timeouts.socketMs, connectMs: timeouts.connectMs }),
  };
  return {
    async get(reference, options) {
      const forceFetch = options?.fresh === true;
      const kind = SECRET_ARN.exec(reference)?.[1];
      if (!kind) {
        throw new ConfigError([
          { variable: 'secret reference', message: 'must be an SSM parameter or Secrets Manager ARN' },
        ]);
      }
      let value: unknown;
      try {
        if (kind === 'ssm') {
          ssm ??= new SSMProvider({
            clientConfig: {
              ...region,
              ...(config.SSM_ENDPOINT_URL ? { endpoint: config.SSM_ENDPOINT_URL } : {}),
            },
          });
          value = await ssm.get(reference, {
            decrypt: true,
            maxAge: config.SECRETS_CACHE_SECONDS,
            forceFetch,
          });
        } else {
          secrets ??= new SecretsProvider({
            clientConfig: {
              ...region,
              ...(config.SECRETS_MANAGER_ENDPOINT_URL
                ? { endpoint: config.SECRETS_MANAGER_ENDPOINT_URL }
                : {}),
            },
          });
          value = await secrets.get(reference, { maxAge: config.SECRETS_CACHE_SECONDS, forceFetch });
        }
      } catch (error) {
        // The message names the reference (an ARN, not a secret) and never the value. An answer
        // that says the deployment is wrong (no such secret, no permission, a key it cannot
        // decrypt with) is a configuration error: a certificate waiting for it keeps its
        // attempts, instead of dying of our own setup after a few retries.
        const Kind = isSetupProblem(error) ? ConfigurationError : TransientError;
        throw new Kind(`reading secret ${reference} failed: ${errorMessage(error)}`, kind);
      }
      if (typeof value !== 'string' || value === '') {
        throw new ConfigurationError(`secret ${reference} is empty or binary`, kind);
      }
      return value;
    },
  };
}

/** SSM and Secrets Manager errors that no retry can fix (Powertools keeps the SDK's as `cause`). */
const SETUP_PROBLEMS = new Set([
  'ParameterNotFound',
  'ParameterNotFoundError',
  'ParameterVersionNotFound',
  'ResourceNotFoundException',
  'AccessDeniedException',
  'AccessDenied',
  'DecryptionFailure',
  'InvalidKeyId',
  'ValidationException',
]);

function isSetupProblem(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; depth += 1) {
    if (SETUP_PROBLEMS.has(current.name)) return true;
    current = current.cause;
  }
  return false;
}

/**
 * The value of a secret-bearing setting: the ARN variable wins on AWS, the plain variable is for
 * local runs. Config validation guarantees one of the two is set.
 */
export function secretSource(
  store: () => SecretStore,
  plain: string | undefined,
  reference: string | undefined,
  select: (raw: string) => string = (raw) => raw,
): SecretSource {
  if (reference) return async (options) => select(await store().get(reference, options));
  if (plain !== undefined) return async () => plain;
  throw new ConfigError([{ variable: 'secret', message: 'has neither a value nor a reference' }]);
}

/**
 * Database secrets as RDS and Secrets Manager rotation write them are JSON
 * ({"username", "password", "host", ...}); a plain string is taken as the password itself.
 */
export function databasePassword(raw: string): string {
  if (!raw.trimStart().startsWith('{')) return raw;
  try {
    const parsed = JSON.parse(raw) as { password?: unknown };
    if (typeof parsed.password === 'string' && parsed.password !== '') return parsed.password;
  } catch {
    // fall through: a JSON-looking secret without a password is a configuration mistake
  }
  throw new ConfigError([{ variable: 'DATABASE_SECRET_ARN', message: 'secret has no "password" field' }]);
}

let shared: SecretStore | undefined;

/** The container's one store, configured from the environment on first use. */
export function defaultSecretStore(): SecretStore {
  shared ??= createSecretStore(loadConfig(['secrets']).secrets);
  return shared;
}

/**
 * Starts reading a secret at cold start (Lambda's init phase has the full CPU, and the value
 * lands in the Powertools cache). The first use awaits that read; if it failed, the use reads
 * again and reports its own failure, so an early hiccup costs nothing.
 */
export function prefetch(source: SecretSource): SecretSource {
  let early: Promise<string> | undefined = source();
  early.catch(() => undefined);
  return (options) => {
    const pending = early;
    early = undefined;
    return pending ? pending.catch(() => source(options)) : source(options);
  };
}
