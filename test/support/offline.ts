import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../localstack/embedded/free-port.ts';
import { functionsEnvironment, SHELL_CREDENTIAL_SHADOWS } from '../../localstack/embedded/stack.ts';
import { killProcessesMentioning } from '../../scripts/process-tree.ts';

export interface Offline {
  /** e.g. http://127.0.0.1:41234 (routes are /api/v1/...). */
  baseUrl: string;
  /** serverless-offline's Lambda Invoke API endpoint, for @aws-sdk/client-lambda. */
  lambdaEndpoint: string;
  /** Function name prefix: `${service}-${stage}-` */
  functionPrefix: string;
  output(): string;
  stop(): Promise<void>;
}

const SERVICE_DIR = new URL('../../', import.meta.url).pathname;

/** Lines serverless offline prints once each server listens (its HTTP API and its Lambda API). */
const READY_LINES = ['Server ready:', 'Offline [http for lambda] listening on'];

/**
 * How long offline may take to build and start. It follows what the child says (its ready lines,
 * its exit) and this is only the outer bound, sized for a 2-core machine with both cores busy
 * (serverless' start-up; the handlers run from source, see serverless/esbuild-unless-offline.cjs):
 * about 6 s quiet, up to 60+ s loaded.
 */
const START_LIMIT_MS = Number(process.env.OFFLINE_START_LIMIT_MS ?? 300_000);

class PortTaken extends Error {}

/** Resolves when every ready line is in the output; rejects when the child exits first. */
async function waitForReady(child: ChildProcess, output: () => string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (READY_LINES.every((line) => output().includes(line))) finish(resolve);
    };
    const onExit = (code: number | null, signal: string | null) => {
      const log = output();
      // Ports are probed before offline binds them (it cannot bind port 0 and report it).
      if (/EADDRINUSE|address already in use/i.test(log)) finish(() => reject(new PortTaken(log)));
      else
        finish(() =>
          reject(new Error(`serverless offline exited (${code ?? signal}) before it was ready:\n${log}`)),
        );
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(new Error(`serverless offline was not ready within ${START_LIMIT_MS} ms:\n${output()}`)),
        ),
      START_LIMIT_MS,
    );
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', onExit);
      settle();
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

/**
 * Starts `serverless offline` (stage `test`) on free ports with the given function
 * environment. Each instance runs with its own TMPDIR (and its own esbuild folder, should it be
 * started with OFFLINE_BUNDLE=true), so instances never clobber each other and stop() can kill the Chromium it spawned.
 */
export async function startOffline(
  env: Record<string, string>,
  options: { scheduleEnabled?: boolean; stage?: string } = {},
): Promise<Offline> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(env, options);
    } catch (error) {
      // Another process took a probed port before offline bound it: new ports, same start.
      if (!(error instanceof PortTaken) || attempt >= 3) throw error;
    }
  }
}

async function launch(
  env: Record<string, string>,
  options: { scheduleEnabled?: boolean; stage?: string },
): Promise<Offline> {
  const id = randomBytes(4).toString('hex');
  const [httpPort, lambdaPort, websocketPort] = [await freePort(), await freePort(), await freePort()];
  const stage = options.stage ?? 'test';
  const workDir = `.esbuild-${id}`;
  const tmp = join(env.TMPDIR ?? '/tmp', `offline-${id}`);
  await mkdir(tmp, { recursive: true });
  const lambdaEndpoint = `http://127.0.0.1:${lambdaPort}`;
  const childEnv: Record<string, string> = {
    // As npm start runs them: the shell's profile or session token would shadow the stand-in's key.
    ...functionsEnvironment(process.env, SHELL_CREDENTIAL_SHADOWS, env),
    TMPDIR: tmp,
    // Offline does not pass TMPDIR to functions; this puts their Chromium profiles under `tmp`.
    CHROMIUM_PROFILE_ROOT: tmp,
    OFFLINE_HTTP_PORT: String(httpPort),
    OFFLINE_LAMBDA_PORT: String(lambdaPort),
    OFFLINE_WEBSOCKET_PORT: String(websocketPort),
    ESBUILD_WORK_DIR: workDir,
    LAMBDA_ENDPOINT_URL: lambdaEndpoint,
    SCAN_SCHEDULE_ENABLED: options.scheduleEnabled ? 'true' : 'false',
    WEBHOOK_SCHEDULE_ENABLED: options.scheduleEnabled ? 'true' : 'false',
    // AWS SDK clients inside the functions talk to offline, never to AWS.
    AWS_REGION: 'us-east-1',
  };
  let log = '';
  const child = spawn(
    join(SERVICE_DIR, 'node_modules/.bin/serverless'),
    ['offline', 'start', '--stage', stage, '--host', '127.0.0.1'],
    {
      cwd: SERVICE_DIR,
      env: childEnv,
      detached: true, // own process group, so stop() takes every descendant with it
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const append = (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);

  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, 5000));
      await Promise.race([exited, timeout]);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // Puppeteer starts Chromium in a process group of its own; its profile lives under `tmp`.
    killProcessesMentioning(tmp);
    await rm(join(SERVICE_DIR, workDir), { recursive: true, force: true });
    await rm(tmp, { recursive: true, force: true });
  };

  try {
    await waitForReady(child, () => log);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    baseUrl: `http://127.0.0.1:${httpPort}`,
    lambdaEndpoint,
    functionPrefix: `course-certificates-${stage}-`,
    output: () => log,
    stop,
  };
}
