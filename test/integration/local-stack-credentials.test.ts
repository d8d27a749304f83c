import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { functionsEnvironment, type LocalStack, startLocalStack } from '../../localstack/embedded/stack.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';

// A developer's shell often exports AWS credentials (a key, a profile). npm start passed the key
// on to the functions, and s3rver takes its own only: every demo certificate failed its upload
// with a 403, and with a profile the SDK ignored the keys and the scan could not invoke generate.

let t: TestEnv;
let root: string;
let stack: LocalStack | undefined;

beforeAll(async () => {
  t = await createTestEnv();
  root = await mkdtemp(join(tmpdir(), 'local-stack-'));
  stack = await startLocalStack({
    root,
    persistent: false,
    bucket: 'certificates-local',
    env: {
      // Ours already: only the S3 stand-in is started.
      DATABASE_URL: t.env.DATABASE_URL,
      KEYCLOAK_URL: 'http://127.0.0.1:9',
      AWS_ACCESS_KEY_ID: 'AKIADEVELOPERKEY0001',
      AWS_SECRET_ACCESS_KEY: 'developer-secret',
      AWS_PROFILE: 'work',
      AWS_SESSION_TOKEN: 'developer-session',
    },
    log: () => undefined,
  });
});

afterAll(async () => {
  await stack?.stop();
  await rm(root, { recursive: true, force: true });
  await t?.cleanup();
});

const put = (env: Record<string, string>, accessKeyId: string, secretAccessKey: string) =>
  new S3Client({
    endpoint: env.S3_ENDPOINT_URL,
    region: env.S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  }).send(new PutObjectCommand({ Bucket: env.S3_BUCKET, Key: 'certificates/probe.pdf', Body: 'x' }));

it("gives the functions the S3 stand-in's own key, not the shell's, and unsets the shell's profile and session", async () => {
  const env = stack?.env ?? {};
  expect(stack?.s3).toBeDefined();
  expect(env.AWS_ACCESS_KEY_ID).toBe('S3RVER');
  expect(env.AWS_SECRET_ACCESS_KEY).toBe('S3RVER');
  expect(stack?.unset).toEqual(expect.arrayContaining(['AWS_PROFILE', 'AWS_SESSION_TOKEN']));
  // What the functions will sign with is what the stand-in takes; the shell's key is refused.
  await expect(put(env, env.AWS_ACCESS_KEY_ID ?? '', env.AWS_SECRET_ACCESS_KEY ?? '')).resolves.toBeDefined();
  const refused = await put(env, 'AKIADEVELOPERKEY0001', 'developer-secret').catch((error: unknown) => error);
  expect(refused).toBeInstanceOf(S3ServiceException);
  expect((refused as S3ServiceException).$metadata.httpStatusCode).toBe(403);

  // What npm start hands serverless offline (scripts/start.ts): the shell less those, then the stack's.
  const shell = {
    PATH: '/usr/bin',
    AWS_PROFILE: 'work',
    AWS_DEFAULT_PROFILE: 'work',
    AWS_SESSION_TOKEN: 'developer-session',
    AWS_ACCESS_KEY_ID: 'AKIADEVELOPERKEY0001',
  };
  const functions = functionsEnvironment(shell, stack?.unset ?? [], env);
  expect(functions).toMatchObject({ PATH: '/usr/bin', AWS_ACCESS_KEY_ID: 'S3RVER' });
  for (const name of ['AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SESSION_TOKEN'])
    expect(functions).not.toHaveProperty(name);
  // A developer's own S3 endpoint keeps their credentials, profile included.
  expect(functionsEnvironment(shell, [], { S3_ENDPOINT_URL: 'http://minio:9000' })).toMatchObject({
    AWS_PROFILE: 'work',
    AWS_ACCESS_KEY_ID: 'AKIADEVELOPERKEY0001',
  });
});
