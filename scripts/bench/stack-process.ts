import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalStack, startLocalStack } from '../../localstack/embedded/stack.ts';
import { descendantsOf, terminateAll } from '../process-tree.ts';

/**
 * The benchmark's stand-ins (PostgreSQL, S3, Keycloak) in a process of their own: in a
 * deployment they are remote services, so their CPU work must not run on the event loop of
 * the worker being measured. Prints the stack description as one JSON line on stdout and
 * stops everything when stdin closes (i.e. when the benchmark exits, however it exits).
 */
// In memory where the machine has a tmpfs: the stand-ins' data is thrown away after the run, and
// their file-system work (s3rver writes each object and its metadata in new folders) is CPU the
// measured pipeline would otherwise share with a disk journal that remote services do not put on it.
const root = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'certs-bench-'));
const starting = startLocalStack({
  root,
  persistent: false,
  database: 'bench_pipeline',
  bucket: 'certificates-bench',
  env: {},
});
// Listening before the stand-ins are up: a signal while they start (tens of seconds on a loaded
// machine) would otherwise kill this process with their data folder left in /dev/shm, in RAM.
// A stop before the start has ended stops what it has started so far (PostgreSQL, initdb: this
// process's children) rather than wait for it, which the benchmark would cut short with SIGKILL.
let started: LocalStack | undefined;
let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  if (started) await started.stop().catch(() => undefined);
  else await terminateAll(descendantsOf(process.pid), 5_000);
  await rm(root, { recursive: true, force: true });
  process.exit(0);
};
process.stdin.on('end', () => void shutdown());
process.stdin.on('close', () => void shutdown());
process.stdin.resume();
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
const stack = await starting.catch(async (error: unknown) => {
  if (stopping) return await new Promise<never>(() => {});
  await rm(root, { recursive: true, force: true });
  throw error;
});
// A stop that came during the start is under way, and ends this process.
if (stopping) await new Promise<never>(() => {});
started = stack;
if (!stack.postgres || !stack.keycloak)
  throw new Error('bench needs the embedded PostgreSQL and Keycloak stand-in');
process.stdout.write(
  `${JSON.stringify({
    // What the read functions need beside the stand-ins (the certificate views link to the
    // verification page), as npm start and the test setup give them.
    env: {
      ...stack.env,
      VERIFY_BASE_URL: 'https://certificates.example.org/verify',
      ISSUER_NAME: 'Example Academy',
    },
    root,
    adminUrl: stack.postgres.adminUrl,
    keycloakUrl: stack.keycloak.url,
  })}\n`,
);
