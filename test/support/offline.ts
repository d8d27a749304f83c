import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../localstack/embedded/free-port.ts';
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

async function waitForPort(
  url: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`serverless offline exited (${child.exitCode}):\n${output()}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`serverless offline did not start within ${timeoutMs} ms:\n${output()}`);
}

/**
 * Starts `serverless offline` (stage `test`) on free ports with the given function
 * environment. Each instance builds into its own esbuild folder and runs with its own TMPDIR,
 * so instances never clobber each other and stop() can kill the Chromium it spawned.
 */
export async function startOffline(
  env: Record<string, string>,
  options: { scheduleEnabled?: boolean; stage?: string } = {},
): Promise<Offline> {
  const id = randomBytes(4).toString('hex');
  const [httpPort, lambdaPort, websocketPort] = [await freePort(), await freePort(), await freePort()];
  const stage = options.stage ?? 'test';
  const workDir = `.esbuild-${id}`;
  const tmp = join(env.TMPDIR ?? '/tmp', `offline-${id}`);
  await mkdir(tmp, { recursive: true });
  const lambdaEndpoint = `http://127.0.0.1:${lambdaPort}`;
  const childEnv: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...env,
    TMPDIR: tmp,
    // Offline does not pass TMPDIR to functions; this puts their Chromium profiles under `tmp`.
    CHROMIUM_PROFILE_ROOT: tmp,
    OFFLINE_HTTP_PORT: String(httpPort),
    OFFLINE_LAMBDA_PORT: String(lambdaPort),
    OFFLINE_WEBSOCKET_PORT: String(websocketPort),
    ESBUILD_WORK_DIR: workDir,
    LAMBDA_ENDPOINT_URL: lambdaEndpoint,
    SCAN_SCHEDULE_ENABLED: options.scheduleEnabled ? 'true' : 'false',
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
    await waitForPort(`http://127.0.0.1:${httpPort}/`, child, () => log, 60_000);
    await waitForPort(`${lambdaEndpoint}/`, child, () => log, 10_000);
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
