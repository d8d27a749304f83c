import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config.ts';
import { signingKeyFromSecret } from '../../lib/credentials/key-source.ts';
import { generateSigningJwk, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import { createIssuerKey } from '../../lib/credentials/signer.ts';
import { createSql } from '../../lib/db/client.ts';
import { ConfigurationError, TransientError } from '../../lib/errors.ts';
import { createKeycloakDirectory, keycloakOptionsFromConfig } from '../../lib/identity/keycloak-directory.ts';
import {
  createSecretStore,
  databasePassword,
  prefetch,
  type SecretStore,
  secretSource,
} from '../../lib/secrets/secret-store.ts';
import { type SecretsStandIn, startSecretsStandIn } from '../support/aws-secrets.ts';
import { applyEnv, createTestEnv, type TestEnv } from '../support/env.ts';
import { stallingServer } from '../support/stalling-server.ts';

// Secrets on AWS: Powertools Parameters against a stand-in speaking the SSM and Secrets Manager
// protocol, the real PostgreSQL and the Keycloak stand-in.

const ACCOUNT = '123456789012';
const DB_SECRET = `arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:certificates/db-AbCdEf`;
const KEYCLOAK_PARAMETER = `arn:aws:ssm:eu-central-1:${ACCOUNT}:parameter/certificates/keycloak-client-secret`;

let t: TestEnv;
let standIn: SecretsStandIn;
let restoreEnv: () => void;
let store: SecretStore;

beforeAll(async () => {
  t = await createTestEnv();
  standIn = await startSecretsStandIn();
  // The SDK signs requests with whatever credentials it finds; the stand-in ignores them.
  restoreEnv = applyEnv({ AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  store = createSecretStore(
    loadConfig(['secrets'], {
      SSM_ENDPOINT_URL: standIn.url,
      SECRETS_MANAGER_ENDPOINT_URL: standIn.url,
      SECRETS_CACHE_SECONDS: '300',
      AWS_REGION: 'eu-central-1',
    }).secrets,
  );
});

afterAll(async () => {
  restoreEnv?.();
  await standIn?.close();
  await t?.cleanup();
});

describe('secrets from SSM and Secrets Manager', () => {
  it('connects to PostgreSQL with the password from an RDS-style secret, not from the URL', async () => {
    const url = new URL(t.env.DATABASE_URL as string);
    const password = decodeURIComponent(url.password);
    expect(password).not.toBe('');
    standIn.values.set(DB_SECRET, JSON.stringify({ username: url.username, password, engine: 'postgres' }));
    url.password = '';
    const config = loadConfig(['db'], { DATABASE_URL: url.toString(), DATABASE_SECRET_ARN: DB_SECRET }).db;
    const sql = createSql({ ...config, DB_POOL_MAX: 1 }, { secretStore: () => store });
    try {
      const [row] = await sql<{ one: number }[]>`SELECT 1 AS one`;
      expect(row?.one).toBe(1);
      const [timeout] = await sql<{ statement_timeout: string }[]>`SHOW statement_timeout`;
      expect(timeout?.statement_timeout).toBe('15s');
    } finally {
      await sql.end({ timeout: 5 });
    }
    expect(standIn.calls.filter((call) => call.id === DB_SECRET).length).toBeGreaterThanOrEqual(1);
  });

  it("a database secret that cannot be used fails the query with the store's reason, not an unhandled rejection that ends the process", async () => {
    const url = new URL(t.env.DATABASE_URL as string);
    url.password = '';
    const noPassword = `arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:certificates/db-nopass-QwErTy`;
    standIn.values.set(noPassword, JSON.stringify({ username: url.username, engine: 'postgres' }));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const config = loadConfig(['db'], { DATABASE_URL: url.toString(), DATABASE_SECRET_ARN: noPassword }).db;
    const sql = createSql({ ...config, DB_POOL_MAX: 1 }, { secretStore: () => store });
    try {
      // Asked for the password at login (SCRAM), the secret has none: that is the query's error,
      // each time, rather than a connect timeout after the rejection went nowhere.
      for (let i = 0; i < 2; i += 1)
        await expect(sql`SELECT 1`).rejects.toThrow('DATABASE_SECRET_ARN secret has no "password" field');
      const missing = `arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:certificates/db-gone-AsDfGh`;
      const gone = createSql(
        {
          ...loadConfig(['db'], { DATABASE_URL: url.toString(), DATABASE_SECRET_ARN: missing }).db,
          DB_POOL_MAX: 1,
        },
        { secretStore: () => store },
      );
      try {
        await expect(gone`SELECT 1`).rejects.toBeInstanceOf(ConfigurationError);
      } finally {
        await gone.end({ timeout: 5 });
      }
    } finally {
      await sql.end({ timeout: 5 });
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });

  it('reads the Keycloak client secret from SSM once and caches it', async () => {
    const stackEnv = t.env;
    standIn.values.set(KEYCLOAK_PARAMETER, stackEnv.KEYCLOAK_CLIENT_SECRET as string);
    const config = loadConfig(['keycloak'], {
      KEYCLOAK_URL: stackEnv.KEYCLOAK_URL,
      KEYCLOAK_REALM: stackEnv.KEYCLOAK_REALM,
      KEYCLOAK_CLIENT_ID: stackEnv.KEYCLOAK_CLIENT_ID,
      KEYCLOAK_CLIENT_SECRET_ARN: KEYCLOAK_PARAMETER,
    }).keycloak;
    expect(config.KEYCLOAK_CLIENT_SECRET).toBeUndefined();
    const directory = createKeycloakDirectory({
      ...keycloakOptionsFromConfig(config, () => store),
      profileCacheSeconds: 0,
    });
    const students = ['5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01'];
    const profile = await directory.getStudent(students[0] as string);
    expect(profile.id).toBe(students[0]);
    directory.clearCache();
    await directory.getStudent(students[0] as string);
    // Prefetched at creation, then served from the Powertools cache.
    expect(standIn.calls.filter((call) => call.id === KEYCLOAK_PARAMETER)).toHaveLength(1);
  });

  it('a store that stops answering half way is a transient error after three tries, not a hang', async () => {
    // Headers, then part of the JSON, then silence: the SDK's defaults for these clients would
    // wait 5 (Secrets Manager) or 15 minutes (SSM), past every function's timeout.
    const stalled = await stallingServer(
      'HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 200\r\n\r\n{"Parameter":',
    );
    const url = stalled.url;
    try {
      const slow = createSecretStore(
        loadConfig(['secrets'], {
          SSM_ENDPOINT_URL: url,
          SECRETS_MANAGER_ENDPOINT_URL: url,
          AWS_REGION: 'eu-central-1',
        }).secrets,
        { socketMs: 200, connectMs: 200 },
      );
      await expect(slow.get(KEYCLOAK_PARAMETER)).rejects.toBeInstanceOf(TransientError);
      expect(stalled.requests()).toBe(3);
      await expect(slow.get(DB_SECRET)).rejects.toBeInstanceOf(TransientError);
      expect(stalled.requests()).toBe(6);
    } finally {
      await stalled.close();
    }
  });

  it('turns a client secret Keycloak refuses into a configuration error', async () => {
    standIn.values.set(KEYCLOAK_PARAMETER, 'wrong-secret');
    const fresh = createSecretStore(
      loadConfig(['secrets'], { SSM_ENDPOINT_URL: standIn.url, AWS_REGION: 'eu-central-1' }).secrets,
    );
    const config = loadConfig(['keycloak'], {
      KEYCLOAK_URL: t.env.KEYCLOAK_URL,
      KEYCLOAK_REALM: t.env.KEYCLOAK_REALM,
      KEYCLOAK_CLIENT_ID: t.env.KEYCLOAK_CLIENT_ID,
      KEYCLOAK_CLIENT_SECRET_ARN: KEYCLOAK_PARAMETER,
    }).keycloak;
    const directory = createKeycloakDirectory(keycloakOptionsFromConfig(config, () => fresh));
    await expect(directory.getStudent('5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01')).rejects.toBeInstanceOf(
      ConfigurationError,
    );
  });

  it("a rotated signing key reaches a warm signer at its next reload, though the store's cache of the secret is still young", async () => {
    const parameter = `arn:aws:ssm:eu-central-1:${ACCOUNT}:parameter/certificates/signing-key`;
    const first = await generateSigningJwk();
    const second = await generateSigningJwk();
    standIn.values.set(parameter, JSON.stringify(first));
    const source = prefetch(secretSource(() => store, undefined, parameter));
    let clock = 0;
    // As functions/generate.ts wires it: each reload asks the store itself.
    const issuerKey = createIssuerKey(t.sql, () => signingKeyFromSecret(() => source({ fresh: true })), {
      reloadAfterMs: 300_000,
      now: () => clock,
    });
    const before = await issuerKey.current();
    expect(before.kid).toBe((await signingKeyFromJwk(first)).kid);
    standIn.values.set(parameter, JSON.stringify(second));
    // Within the period the loaded key signs; the store is not asked.
    clock = 299_000;
    expect((await issuerKey.current()).kid).toBe(before.kid);
    const calls = standIn.calls.filter((call) => call.id === parameter).length;
    // At the signer's reload, the Powertools cache (300 s of real time) still holds the old value:
    // read through it, the old key would sign for up to a second period.
    clock = 300_000;
    expect((await issuerKey.current()).kid).toBe((await signingKeyFromJwk(second)).kid);
    expect(standIn.calls.filter((call) => call.id === parameter).length).toBe(calls + 1);
  });

  it('a read that failed at cold start is made again by the first use, which gets the value: an early hiccup costs nothing', async () => {
    const parameter = `arn:aws:ssm:eu-central-1:${ACCOUNT}:parameter/certificates/late`;
    const reads = () => standIn.calls.filter((call) => call.id === parameter).length;
    // Not readable yet when the container starts: the cold-start read fails.
    const source = prefetch(secretSource(() => store, undefined, parameter));
    await vi.waitFor(() => expect(reads()).toBe(1), { timeout: 30_000, interval: 10 });
    standIn.values.set(parameter, 'now-readable');
    await expect(source()).resolves.toBe('now-readable');
    expect(reads()).toBe(2);
  });

  it('reports a missing parameter by its ARN, never a value', async () => {
    const missing = `arn:aws:ssm:eu-central-1:${ACCOUNT}:parameter/certificates/nothing-here`;
    await expect(store.get(missing)).rejects.toThrow(/reading secret arn:aws:ssm:.*nothing-here failed/);
  });

  it('a secret that does not exist is a configuration error (the attempt is given back), in either store', async () => {
    // A wrong ARN or a missing permission after a deploy must not use up certificates' attempts.
    const parameter = `arn:aws:ssm:eu-central-1:${ACCOUNT}:parameter/certificates/not-created`;
    const secret = `arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:certificates/not-created-AbCdEf`;
    await expect(store.get(parameter)).rejects.toBeInstanceOf(ConfigurationError);
    await expect(store.get(secret)).rejects.toBeInstanceOf(ConfigurationError);
  });
});

describe('secret settings in the configuration', () => {
  const keycloak = { KEYCLOAK_URL: 'http://kc', KEYCLOAK_REALM: 'r', KEYCLOAK_CLIENT_ID: 'c' };

  it('needs the secret or its ARN, and names both when neither is set', () => {
    expect(() => loadConfig(['keycloak'], keycloak)).toThrowError(
      /KEYCLOAK_CLIENT_SECRET is required .*KEYCLOAK_CLIENT_SECRET_ARN on AWS/,
    );
    expect(
      loadConfig(['keycloak'], { ...keycloak, KEYCLOAK_CLIENT_SECRET_ARN: KEYCLOAK_PARAMETER }).keycloak,
    ).toMatchObject({
      KEYCLOAK_CLIENT_SECRET_ARN: KEYCLOAK_PARAMETER,
    });
  });

  it('refuses a reference that is not an SSM or Secrets Manager ARN', () => {
    try {
      loadConfig(['db'], { DATABASE_URL: 'postgres://u@h/db', DATABASE_SECRET_ARN: '/certificates/db' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variables).toEqual(['DATABASE_SECRET_ARN']);
    }
  });

  it('takes the password field of an RDS secret, or a plain string as the password', () => {
    expect(databasePassword('{"username":"app","password":"p@ss"}')).toBe('p@ss');
    expect(databasePassword('plain-password')).toBe('plain-password');
    expect(() => databasePassword('{"username":"app"}')).toThrowError(/DATABASE_SECRET_ARN/);
  });

  it('refuses an RDS secret whose password is empty, naming DATABASE_SECRET_ARN (not a failed login later)', () => {
    expect(() => databasePassword('{"username":"app","password":""}')).toThrowError(/DATABASE_SECRET_ARN/);
  });
});
