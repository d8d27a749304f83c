import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { chromiumExecutable } from '../../lib/render/chromium-binary.ts';
import { type LocalStack, startLocalStack } from '../../localstack/embedded/stack.ts';
import { killProcessesMentioning, startGuard } from '../../scripts/process-tree.ts';

export interface ProvidedStack {
  env: Record<string, string>;
  /** Maintenance URL of the test cluster, for creating one database per test file. */
  adminUrl: string;
  templateDatabase: string;
  keycloakUrl: string;
  root: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: ProvidedStack;
  }
}

const TEMPLATE_DB = 'certificates_template';
let stack: LocalStack | undefined;
let root: string | undefined;
let guard: ChildProcess | undefined;

/** Kills any process (Chromium, serverless offline) whose command line mentions the run's folder. */
function killStragglers(folder: string): void {
  // Not the guard: its command line names the folder too, and it is told "done" after this.
  killProcessesMentioning(folder, [guard?.pid]);
}

export async function setup(project: TestProject): Promise<void> {
  root = await mkdtemp(join(tmpdir(), 'certs-test-'));
  // Cleans up after a run stopped by a signal, which runs no teardown (test/support/run-guard.ts).
  guard = startGuard(fileURLToPath(new URL('./run-guard.ts', import.meta.url)), [root]);
  // Tests never talk to a developer's real services: the stand-ins are always started here.
  try {
    stack = await startLocalStack({
      root,
      persistent: false,
      database: TEMPLATE_DB,
      bucket: 'certificates-test',
      env: {},
    });
  } catch (error) {
    // Vitest skips teardown when setup throws: leave nothing behind ourselves.
    killStragglers(root);
    await rm(root, { recursive: true, force: true });
    guard?.stdin?.end('done');
    throw error;
  }
  // The binary npm install unpacked (or, without it, extracted once here before workers race for it).
  const chromiumPath = process.env.CHROMIUM_EXECUTABLE_PATH ?? (await chromiumExecutable());
  // Test workers are forked after this and inherit it: every temporary folder they make (and
  // every Chromium profile puppeteer creates) lands in the run folder that teardown removes.
  process.env.TMPDIR = root;
  if (!stack.postgres || !stack.keycloak)
    throw new Error('test stack must start its own PostgreSQL and Keycloak stand-in');
  // Every file clones its database from the template, which PostgreSQL refuses while any session
  // is connected to it: so none may connect. A file that did made other files' setup fail at
  // random ("is being accessed by other users"), only when the two overlapped; now it fails itself.
  const admin = postgres(stack.postgres.adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`ALTER DATABASE "${TEMPLATE_DB}" ALLOW_CONNECTIONS false`);
  } finally {
    await admin.end();
  }
  project.provide('stack', {
    env: {
      ...stack.env,
      CHROMIUM_EXECUTABLE_PATH: chromiumPath,
      VERIFY_BASE_URL: 'https://certificates.example.org/verify',
      GENERATE_FUNCTION_NAME: 'course-certificates-test-generate',
      LOG_LEVEL: 'ERROR',
      // Everything a test creates in tmpdir (browser profiles, offline build dirs) lands in the run folder.
      TMPDIR: root,
      CHROMIUM_PROFILE_ROOT: root,
    },
    adminUrl: stack.postgres.adminUrl,
    templateDatabase: TEMPLATE_DB,
    keycloakUrl: stack.keycloak.url,
    root,
  });
}

export async function teardown(): Promise<void> {
  // The stand-ins first: PostgreSQL's data folder is in the run folder, so killing stragglers
  // first killed it too (SIGKILL), and each run left its shared-memory segments in /dev/shm and
  // its socket file in /tmp. Then whatever else still mentions the folder (Chromium, offline).
  await stack?.stop();
  if (root) killStragglers(root);
  if (root) await rm(root, { recursive: true, force: true });
  // Stopped by us: the guard has nothing to do.
  guard?.stdin?.end('done');
}
