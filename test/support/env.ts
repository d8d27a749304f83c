import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import postgres from 'postgres';
import { afterAll, beforeAll, inject } from 'vitest';
import { ensureLocalSigningKey } from '../../lib/credentials/key-source.ts';
import { CREDENTIAL_SIGNING_ALGORITHM } from '../../lib/credentials/keys.ts';
import { createSql, type Sql } from '../../lib/db/client.ts';
import { SHELL_CREDENTIAL_SHADOWS } from '../../localstack/embedded/stack.ts';

export interface TestEnv {
  /** Full function environment pointing at this file's own database and bucket. */
  env: Record<string, string>;
  sql: Sql;
  bucket: string;
  database: string;
  keycloakUrl: string;
  root: string;
  cleanup(): Promise<void>;
}

/**
 * A fresh, migrated database (cloned from the template) and an empty bucket for one test
 * file, so files can run in parallel without seeing each other's rows or objects.
 */
export async function createTestEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const stack = inject('stack');
  const suffix = randomBytes(6).toString('hex');
  const database = `t_${suffix}`;
  const bucket = `certs-${suffix}`;

  const admin = postgres(stack.adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`CREATE DATABASE "${database}" TEMPLATE "${stack.templateDatabase}"`);
  } finally {
    await admin.end();
  }
  const databaseUrl = stack.env.DATABASE_URL?.replace(/\/[^/]+$/, `/${database}`) ?? '';

  const s3 = new S3Client({
    endpoint: stack.env.S3_ENDPOINT_URL,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  s3.destroy();

  // The issuer's signing keys, as `npm start` keeps them: one file each per run.
  const signingKey = await readFile(
    await ensureLocalSigningKey(join(stack.root, 'issuer-signing-key.json')),
    'utf8',
  );
  const credentialKey = await readFile(
    await ensureLocalSigningKey(join(stack.root, 'issuer-credential-key.json'), CREDENTIAL_SIGNING_ALGORITHM),
    'utf8',
  );
  const env = {
    ...stack.env,
    DATABASE_URL: databaseUrl,
    S3_BUCKET: bucket,
    SIGNING_KEY: signingKey.trim(),
    CREDENTIAL_SIGNING_KEY: credentialKey.trim(),
    ...overrides,
  };
  const sql = createSql({ DATABASE_URL: databaseUrl, DB_POOL_MAX: 10, DB_CONNECT_TIMEOUT_SECONDS: 10 });
  return {
    env,
    sql,
    bucket,
    database,
    keycloakUrl: stack.keycloakUrl,
    root: stack.root,
    cleanup: async () => {
      await sql.end({ timeout: 5 });
    },
  };
}

/** Applies `env` to process.env for in-process handler tests; returns a restore function. */
export function applyEnv(env: Record<string, string>): () => void {
  const previous = { ...process.env };
  Object.assign(process.env, env);
  return () => {
    for (const key of Object.keys(process.env)) if (!(key in previous)) delete process.env[key];
    Object.assign(process.env, previous);
  };
}

/**
 * Puts the test environment's S3 credentials into process.env, as a function's environment
 * would: the AWS SDK signs even for s3rver, which takes its own key only (S3RVER). A profile or
 * session token of the developer's shell is taken out meanwhile: with AWS_PROFILE set the SDK
 * ignores the keys. Returns the restore function.
 */
export function applyS3Credentials(t: Pick<TestEnv, 'env'>): () => void {
  const restore = applyEnv({
    AWS_ACCESS_KEY_ID: t.env.AWS_ACCESS_KEY_ID ?? 'S3RVER',
    AWS_SECRET_ACCESS_KEY: t.env.AWS_SECRET_ACCESS_KEY ?? 'S3RVER',
  });
  for (const name of SHELL_CREDENTIAL_SHADOWS) delete process.env[name];
  return restore;
}

/**
 * The frame most pipeline test files share: their own database and bucket before the first test,
 * the S3 SDK's credentials in process.env while they run (the SDK signs even for the stand-in),
 * and after the last test what they opened closed (renderers hold a Chromium), the database and
 * bucket removed and the environment restored. The environment comes through `receive`, so a file
 * keeps its `let t: TestEnv`.
 */
export function testEnvPerFile(
  receive: (t: TestEnv) => void,
  closeFirst: ReadonlyArray<{ close(): Promise<void> }> = [],
): void {
  let t: TestEnv | undefined;
  let restoreEnv = (): void => {};
  beforeAll(async () => {
    t = await createTestEnv();
    restoreEnv = applyS3Credentials(t);
    receive(t);
  });
  afterAll(async () => {
    for (const resource of closeFirst) await resource.close();
    await t?.cleanup();
    restoreEnv();
  });
}
