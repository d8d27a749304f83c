import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  type JWK,
  SignJWT,
} from 'jose';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { generateSigningJwk } from '../../lib/credentials/keys.ts';
import { DEMO_STUDENTS } from '../../localstack/embedded/demo-data.ts';
import { freePort, listenOnLoopback } from '../../localstack/embedded/free-port.ts';
import {
  commandLine,
  descendantsOf,
  isAlive,
  processesMentioning,
  signal,
  waitUntilGone,
} from '../../scripts/process-tree.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';

// `npm start` as a developer runs it: the real script as a child process, with its own data
// folder and free ports so it never collides with a developer's running instance.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const READY_MARK = 'Press Ctrl-C to stop everything.';

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/**
 * How npm runs it (`"start": "exec tsx scripts/start.ts"`): npm, then the tsx CLI, then the
 * script in a child of tsx. A small Node process stands in for npm (npm itself would add its own
 * signal handling around what is tested), with the variable npm sets.
 */
const AS_NPM = `
  const { spawn } = require('node:child_process');
  const tsx = spawn(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'scripts/start.ts'], { stdio: 'inherit' });
  tsx.on('exit', (code) => process.exit(code ?? 1));`;

function startScript(env: Record<string, string>, viaNpm = false): Started {
  const base = { ...process.env };
  // The test's own stand-ins only: never a developer's real services.
  for (const name of [
    'DATABASE_URL',
    'S3_ENDPOINT_URL',
    'S3_BUCKET',
    'KEYCLOAK_URL',
    'AUTH_ISSUER',
    'AUTH_AUDIENCE',
  ])
    delete base[name];
  const args = viaNpm ? ['-e', AS_NPM] : ['--import', 'tsx', 'scripts/start.ts'];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...base,
      LOG_LEVEL: 'ERROR',
      ...(viaNpm ? { npm_lifecycle_script: 'exec tsx scripts/start.ts' } : {}),
      ...env,
    },
    // Its own group, so the test can send SIGINT to the group like a terminal's Ctrl-C.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    });
  });
  return { child, output: () => text, exited };
}

async function waitForReady(started: Started, timeoutMs = 180_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (started.output().includes(READY_MARK)) return started.output();
    if (started.child.exitCode !== null) throw new Error(`npm start exited early:\n${started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`npm start was not ready:\n${started.output()}`);
}

/** The ports npm start hands to serverless offline, each probed free on loopback. */
async function probedPorts(): Promise<Record<string, string>> {
  return {
    OFFLINE_HTTP_PORT: String(await freePort()),
    OFFLINE_LAMBDA_PORT: String(await freePort()),
    OFFLINE_WEBSOCKET_PORT: String(await freePort()),
  };
}

// How npm start refuses a port before it starts anything (scripts/start.ts assertPortFree).
const PORT_TAKEN = /Port \d+ on 127\.0\.0\.1 is not available \((OFFLINE_\w+_PORT);/;

/**
 * Starts npm start on probed ports (those `env` does not set) and waits with `until`: until it
 * is ready, by default. A probed port is released before npm start checks it, and another process
 * may take it in between; npm start then stops at once, before it creates anything, naming the
 * port. That start is made again on new ports, as test/support/offline.ts does for its server. A
 * port `env` sets is not replaced: its refusal is the caller's to see. Returns the env it ran with.
 */
async function startOnProbedPorts(
  env: Record<string, string>,
  until: (started: Started) => Promise<string> = (started) => waitForReady(started),
  viaNpm = false,
): Promise<{ started: Started; output: string; env: Record<string, string> }> {
  for (let attempt = 1; ; attempt += 1) {
    const used = { ...(await probedPorts()), ...env };
    const started = startScript(used, viaNpm);
    const settled = await until(started).then(
      (output) => ({ output }),
      (error: unknown) => ({ error }),
    );
    const taken = started.child.exitCode === null ? undefined : PORT_TAKEN.exec(started.output())?.[1];
    if (taken !== undefined && env[taken] === undefined && attempt < 3) continue;
    if ('error' in settled) throw settled.error;
    return { started, output: settled.output, env: used };
  }
}

/** The serverless offline npm start (pid `parent`) runs now. */
function offlineOf(parent: number): number | undefined {
  return descendantsOf(parent).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('offline\0start');
    } catch {
      return false; // gone meanwhile
    }
  });
}

/**
 * Resolves once the guard of npm start (pid `parent`) has noted every process of `tree` that is
 * still alive: scripts/start-guard.ts looks every second and writes what it noted to
 * start-guard.json in the data folder. The deadline only keeps a guard that never notes them
 * from hanging the test.
 */
async function guardHasNoted(dataDir: string, parent: number, tree: readonly number[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  let written = '';
  while (Date.now() < deadline) {
    try {
      written = readFileSync(join(dataDir, 'start-guard.json'), 'utf8');
    } catch {
      written = ''; // not written yet
    }
    const list = (written ? JSON.parse(written) : {}) as {
      parent?: unknown;
      guard?: unknown;
      noted?: unknown;
    };
    const noted = Array.isArray(list.noted) ? list.noted : [];
    if (
      list.parent === parent &&
      tree.every((pid) => pid === list.guard || noted.includes(pid) || !isAlive(pid))
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `the guard did not note all of ${tree.join(', ')} (npm start ${parent}); it wrote: ${written}`,
  );
}

/** What `source <dataDir>/tokens.env` puts in a shell. */
function tokensEnvOf(dataDir: string): Record<string, string> {
  return Object.fromEntries(
    [...readFileSync(join(dataDir, 'tokens.env'), 'utf8').matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm)].map(
      (match) => [match[1] ?? '', match[2] ?? ''],
    ),
  );
}

function exported(output: string, name: string): string {
  const match = output.match(new RegExp(`^export ${name}=(\\S+)$`, 'm'));
  if (!match?.[1]) throw new Error(`no "export ${name}=" line in:\n${output}`);
  return match[1];
}

async function ctrlC(started: Started): Promise<{ code: number | null; tree: number[] }> {
  const pid = started.child.pid as number;
  const tree = [pid, ...descendantsOf(pid)];
  signal(-pid, 'SIGINT');
  const code = await started.exited;
  // Wait for the kernel to reap what was killed last (returns as soon as all are gone; the bound
  // only keeps a real leak from hanging the test on a busy machine).
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && tree.some(isAlive))
    await new Promise((resolve) => setTimeout(resolve, 100));
  return { code, tree };
}

async function forgedToken(genuine: string): Promise<string> {
  // Same claims and kid, signed by a key the issuer never published.
  const { privateKey } = await generateKeyPair('RS256');
  const header = decodeProtectedHeader(genuine);
  return await new SignJWT(decodeJwt(genuine))
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: header.kid ?? 'unknown' })
    .sign(privateKey);
}

/**
 * What a backfill of the history (passing attempts completed before `cutoff`) would change. The
 * scan may tick meanwhile and issue the recent passes; it never touches these rows.
 */
async function historyState(databaseUrl: string, cutoff: string): Promise<Record<string, string>> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
  try {
    const [row] = await sql<Record<string, string>[]>`
      WITH history AS (SELECT * FROM test_attempts WHERE passed AND completed_at < ${cutoff}::date)
      SELECT (SELECT count(*) FROM history)::text AS attempts,
             (SELECT count(*) FROM history WHERE certificate_enqueued_at IS NOT NULL)::text AS enqueued,
             (SELECT count(*) FROM certificates c JOIN history h
                ON h.student_id = c.student_id AND h.course_id = c.course_id)::text AS certificates,
             (SELECT count(*) FROM certificate_generation_log WHERE message ILIKE '%backfill%')::text AS audit_rows`;
    return row ?? {};
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const CLAIMED_COURSE_TITLE = 'Claimed when npm start stopped';

/**
 * Three certificates as a stopped serverless offline leaves them: two whose invokes it had
 * accepted (dispatched), one it was rendering (live lease, and the backoff its claim sets). Their
 * claims last an hour here instead of DISPATCH_LEASE_SECONDS / LEASE_SECONDS, so that only a
 * release can free them while the test waits. Inserted claimed, in one transaction, so that the
 * running scan never sees them unclaimed.
 */
async function insertClaimedCertificates(sql: postgres.Sql): Promise<string[]> {
  return await sql.begin(async (tx) => {
    const [course] = await tx<{ id: string }[]>`
      INSERT INTO courses (title, pass_percentage, locale)
      VALUES (${CLAIMED_COURSE_TITLE}, 70, 'en') RETURNING id`;
    const ids: string[] = [];
    for (const [index, student] of DEMO_STUDENTS.slice(0, 3).entries()) {
      const [attempt] = await tx<{ id: string }[]>`
        INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, certificate_enqueued_at)
        VALUES (${student.id}, ${course?.id ?? ''}, 90, 100, true, now()) RETURNING id`;
      const [row] =
        index < 2
          ? await tx<{ id: string }[]>`
              INSERT INTO certificates (student_id, course_id, test_attempt_id, dispatched_until)
              VALUES (${student.id}, ${course?.id ?? ''}, ${attempt?.id ?? ''}, now() + interval '1 hour')
              RETURNING id`
          : await tx<{ id: string }[]>`
              INSERT INTO certificates (student_id, course_id, test_attempt_id, status, attempt_count,
                                        lease_owner, lease_expires_at, next_attempt_at)
              VALUES (${student.id}, ${course?.id ?? ''}, ${attempt?.id ?? ''}, 'rendering', 1,
                      'stopped-worker', now() + interval '1 hour', now() + interval '1 minute')
              RETURNING id`;
      if (row) ids.push(row.id);
    }
    return ids;
  });
}

/** Those of `ids` still claimed for more than half an hour: by insertClaimedCertificates. */
async function heldAnHour(databaseUrl: string, ids: readonly string[]): Promise<string[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
  try {
    const rows = await sql<{ id: string }[]>`
      SELECT id FROM certificates WHERE id IN ${sql(ids)}
        AND greatest(dispatched_until, lease_expires_at) > now() + interval '30 minutes'`;
    return rows.map((row) => row.id);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The statuses of `ids` once all are issued, or as they were when `timeoutMs` ran out. */
async function issuedWithin(
  databaseUrl: string,
  ids: readonly string[],
  timeoutMs: number,
): Promise<string[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await sql<{ status: string }[]>`
        SELECT status::text FROM certificates WHERE id IN ${sql(ids)} ORDER BY id`;
      const statuses = rows.map((row) => row.status);
      if (statuses.every((status) => status === 'issued') || Date.now() >= deadline) return statuses;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

afterAll(async () => {
  // What a failed test left running: a Ctrl-C first, as a terminal sends it, so that npm start
  // stops its PostgreSQL cleanly (a killed one leaves its shared memory in /dev/shm for good);
  // whatever is still there after the grace, killed.
  const trees = [...running].flatMap((child) =>
    child.pid === undefined ? [] : [{ group: child.pid, tree: [child.pid, ...descendantsOf(child.pid)] }],
  );
  for (const { group } of trees) signal(-group, 'SIGINT');
  await waitUntilGone(
    trees.flatMap(({ tree }) => tree),
    30_000,
  );
  for (const { group, tree } of trees) {
    for (const pid of tree) signal(pid, 'SIGKILL');
    signal(-group, 'SIGKILL');
  }
});

/** npm start pointed at this test's PostgreSQL database, bucket and Keycloak stand-in. */
async function configuredEnv(testEnv: TestEnv): Promise<Record<string, string>> {
  const stack = inject('stack');
  const given = testEnv.env;
  return {
    LOCAL_DATA_DIR: await mkdtemp(join(stack.root, 'start-real-')),
    ESBUILD_WORK_DIR: await mkdtemp(join(stack.root, 'start-esbuild-')),
    CHROMIUM_EXECUTABLE_PATH: stack.env.CHROMIUM_EXECUTABLE_PATH ?? '',
    TMPDIR: stack.root,
    START_TIMEOUT_SECONDS: '170',
    DATABASE_URL: given.DATABASE_URL ?? '',
    S3_ENDPOINT_URL: given.S3_ENDPOINT_URL ?? '',
    S3_BUCKET: testEnv.bucket,
    AWS_ACCESS_KEY_ID: given.AWS_ACCESS_KEY_ID ?? '',
    AWS_SECRET_ACCESS_KEY: given.AWS_SECRET_ACCESS_KEY ?? '',
    KEYCLOAK_URL: testEnv.keycloakUrl,
    KEYCLOAK_CLIENT_SECRET: given.KEYCLOAK_CLIENT_SECRET ?? '',
  };
}

// Opt-in (expensive on 2 cores): BACKLOG_ATTEMPTS=300 npx vitest run test/e2e/start-script.test.ts -t backlog
const BACKLOG = Number(process.env.BACKLOG_ATTEMPTS ?? 0);
const BUDGET = 2;

describe('npm start', () => {
  it.runIf(BACKLOG > 0)(
    `drains a backlog of ${BACKLOG} passing attempts, at most ${BUDGET} rendering, staying up`,
    async () => {
      const testEnv = await createTestEnv();
      const sql = testEnv.sql;
      try {
        const { started } = await startOnProbedPorts({
          ...(await configuredEnv(testEnv)),
          GENERATE_MAX_CONCURRENCY: String(BUDGET),
        });
        const students = DEMO_STUDENTS.map((student) => student.id);
        const courses = await sql<{ id: string }[]>`
          INSERT INTO courses (title, pass_percentage, locale)
          SELECT 'Backlog course ' || g, 70, 'en' FROM generate_series(1, ${Math.ceil(BACKLOG / students.length)}) g
          RETURNING id`;
        const pairs = courses.flatMap((course) => students.map((student) => [student, course.id] as const));
        for (const [studentId, courseId] of pairs.slice(0, BACKLOG)) {
          await sql`INSERT INTO test_attempts (student_id, course_id, score, max_score, passed)
                    VALUES (${studentId}, ${courseId}, 90, 100, true)`;
        }
        const began = Date.now();
        let peak = 0;
        let issued = 0;
        while (issued < BACKLOG) {
          expect(started.child.exitCode, started.output().slice(-2000)).toBeNull();
          const [row] = await sql<{ rendering: number; issued: number }[]>`
            SELECT count(*) FILTER (WHERE status = 'rendering' AND lease_expires_at > now())::int AS rendering,
                   count(*) FILTER (WHERE status = 'issued')::int AS issued
            FROM certificates`;
          peak = Math.max(peak, row?.rendering ?? 0);
          issued = row?.issued ?? 0;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        const restarts = (started.output().match(/restarting it/g) ?? []).length;
        console.log(
          `backlog: ${BACKLOG} issued in ${((Date.now() - began) / 1000).toFixed(0)} s, ` +
            `at most ${peak} rendering, offline restarts ${restarts}`,
        );
        expect(peak).toBeLessThanOrEqual(BUDGET);
        const [dead] = await sql<{ count: number }[]>`
          SELECT count(*)::int AS count FROM certificates WHERE status <> 'issued'`;
        expect(dead?.count).toBe(0);
        const stopped = await ctrlC(started);
        expect(stopped.code).toBe(0);
        expect(stopped.tree.filter(isAlive)).toEqual([]);
      } finally {
        await testEnv.cleanup();
      }
    },
    3_600_000,
  );

  it('serves the API with working tokens, stops everything on Ctrl-C, and restarts with its data', async () => {
    const stack = inject('stack');
    const dataDir = await mkdtemp(join(stack.root, 'start-data-'));
    // The offline ports are probed at each start (startOnProbedPorts).
    const env = {
      LOCAL_DATA_DIR: dataDir,
      // Its own build folder: never clobbers the .esbuild of a developer's running offline.
      ESBUILD_WORK_DIR: await mkdtemp(join(stack.root, 'start-esbuild-')),
      CHROMIUM_EXECUTABLE_PATH: stack.env.CHROMIUM_EXECUTABLE_PATH ?? '',
      TMPDIR: stack.root,
      // A loaded CI machine may be slow; readiness is asserted, not its speed.
      START_TIMEOUT_SECONDS: '170',
    };

    const { started: first, output, env: firstEnv } = await startOnProbedPorts(env);
    // Whatever its name, the data folder (the issuer's private key, tokens) is ignored by git.
    expect(readFileSync(join(dataDir, '.gitignore'), 'utf8')).toBe('*\n');
    const api = exported(output, 'API');
    const studentToken = exported(output, 'STUDENT_TOKEN');
    const staffToken = exported(output, 'STAFF_TOKEN');
    expect(api).toBe(`http://127.0.0.1:${firstEnv.OFFLINE_HTTP_PORT}/api/v1`);
    expect(output).toMatch(
      /Demo data +6 courses, 5 students, 16 attempts \(12 passing, 4 failing\); 22 rows new/,
    );
    expect(readFileSync(join(dataDir, 'tokens.env'), 'utf8')).toContain(
      `export STUDENT_TOKEN=${studentToken}`,
    );

    const health = await fetch(`${api}/health`);
    expect(health.status).toBe(200);

    const mine = await fetch(`${api}/me/certificates`, {
      headers: { authorization: `Bearer ${studentToken}` },
    });
    expect(mine.status).toBe(200);
    const staffList = await fetch(`${api}/courses/c0ffee00-0000-4000-8000-000000000001/certificates`, {
      headers: { authorization: `Bearer ${staffToken}` },
    });
    expect(staffList.status).toBe(200);

    const forged = await fetch(`${api}/me/certificates`, {
      headers: { authorization: `Bearer ${await forgedToken(studentToken)}` },
    });
    expect(forged.status).toBe(401);

    // The demo's history waits for the backfill; its dry run counts it per course, changing nothing.
    const cutoff = output.match(/^History +5 passes before (\d{4}-\d{2}-\d{2}) \(SCAN_NOT_BEFORE\)/m)?.[1];
    expect(cutoff).toBeDefined();
    const databaseUrl = exported(output, 'DATABASE_URL');
    const snapshot = () => historyState(databaseUrl, cutoff ?? '');
    const before = await snapshot();
    // The README's line, in a shell that sourced the exports: the selection ends at the exported
    // SCAN_NOT_BEFORE, so the recent passes are left to the scan.
    const scanNotBefore = exported(output, 'SCAN_NOT_BEFORE');
    expect(scanNotBefore.slice(0, 10)).toBe(cutoff);
    const dryRun = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'scripts/backfill.ts', '--from', '2020-01-01', '--dry-run'],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          DATABASE_URL: databaseUrl,
          SCAN_NOT_BEFORE: scanNotBefore,
          LOG_LEVEL: 'ERROR',
        },
      },
    );
    expect(dryRun.stdout).toContain(`before ${scanNotBefore}`);
    expect(dryRun.stdout).toContain('Dry run: nothing was changed.');
    expect(dryRun.stdout).toMatch(/Introduction to TypeScript +2 certificate\(s\)/);
    expect(dryRun.stdout).toMatch(/Álgebra lineal para ingeniería +2 certificate\(s\)/);
    expect(dryRun.stdout).toMatch(/Основы квантовой физики +1 certificate\(s\)/);
    expect(dryRun.stdout).toContain('Total: 5 certificate(s) from 5 passing attempt(s).');
    expect(before).toEqual({ attempts: '5', enqueued: '0', certificates: '0', audit_rows: '0' });
    expect(await snapshot()).toEqual(before);
    // The README's erasure, in such a shell: the exported S3 stand-in is reached with no AWS key
    // of the developer's (the script takes the stand-in's for a loopback endpoint).
    const shell = tokensEnvOf(dataDir);
    expect(Object.keys(shell)).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'S3_BUCKET', 'S3_ENDPOINT_URL', 'S3_FORCE_PATH_STYLE']),
    );
    const {
      AWS_ACCESS_KEY_ID: _key,
      AWS_SECRET_ACCESS_KEY: _secret,
      AWS_PROFILE: _profile,
      ...noAws
    } = process.env;
    const erasure = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'scripts/erase-student.ts',
        '--student',
        '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01',
        '--actor',
        'erasure-e2e',
        '--dry-run',
      ],
      { cwd: ROOT, env: { ...noAws, ...shell, LOG_LEVEL: 'ERROR' } },
    );
    expect(erasure.stdout).toMatch(
      /^S3: \d+ object version\(s\) and \d+ delete marker\(s\) would be deleted/m,
    );
    // Once the history is handled (as a real backfill marks it, without waiting for its
    // certificates here), the next start no longer says it waits.
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
    let claimed: string[];
    try {
      await sql`UPDATE test_attempts SET certificate_enqueued_at = now() WHERE passed AND completed_at < ${cutoff ?? ''}::date`;
      claimed = await insertClaimedCertificates(sql);
    } finally {
      await sql.end();
    }

    const stopped = await ctrlC(first);
    expect(stopped.code).toBe(0);
    expect(stopped.tree.length).toBeGreaterThan(2); // postgres and serverless offline at least
    expect(stopped.tree.filter(isAlive)).toEqual([]);
    expect(processesMentioning(dataDir)).toEqual([]);

    // A second start on the same folder works and keeps the data: nothing is seeded twice. It
    // runs in a shell that sourced the first run's tokens.env: the stopped stand-ins' addresses
    // it still holds are not taken for the developer's own services.
    const stale = tokensEnvOf(dataDir);
    // And with a profile root of the developer's (not there yet): the run makes its own folder in
    // it, and sweeps and removes only that one.
    const devProfiles = join(stack.root, `dev-profiles-${randomUUID()}`);
    const { started: second, output: again } = await startOnProbedPorts({
      ...stale,
      ...env,
      CHROMIUM_PROFILE_ROOT: devProfiles,
    });
    expect(again).toMatch(
      /^Ignoring DATABASE_URL, S3_BUCKET, S3_ENDPOINT_URL, S3_FORCE_PATH_STYLE, SCAN_NOT_BEFORE: exported by the tokens\.env of an earlier run/m,
    );
    expect(exported(again, 'DATABASE_URL')).not.toBe(stale.DATABASE_URL);
    expect(again).toMatch(
      /Demo data +6 courses, 5 students, 16 attempts \(12 passing, 4 failing\); 0 rows new/,
    );
    expect(again).toMatch(
      /^History +0 passes before \d{4}-\d{2}-\d{2} \(SCAN_NOT_BEFORE\) left: npm run backfill has taken them/m,
    );
    expect(again).not.toContain('Applied migrations');
    const healthAgain = await fetch(`${exported(again, 'API')}/health`);
    expect(healthAgain.status).toBe(200);

    // What the stopped offline had claimed was released before the new one started: the next
    // scan tick hands it out and it is issued, long before the claims would have run out.
    expect(await issuedWithin(exported(again, 'DATABASE_URL'), claimed, 170_000)).toEqual(
      claimed.map(() => 'issued'),
    );
    // Signed with the issuer's two keys, each from its file in the data folder (kept across the
    // restart): generate published both as it signed, the RS256 one for the PDF's Open Badges
    // credential, which the credential route also serves signed with it.
    const keyFile = (name: string) => JSON.parse(readFileSync(join(dataDir, name), 'utf8')) as JWK;
    const factsKid = await calculateJwkThumbprint(keyFile('issuer-signing-key.json'));
    const credentialKid = await calculateJwkThumbprint(keyFile('issuer-credential-key.json'));
    const keysSql = postgres(exported(again, 'DATABASE_URL'), { max: 1, onnotice: () => undefined });
    try {
      expect(await keysSql`SELECT kid, public_jwk->>'alg' AS alg, state FROM issuer_keys ORDER BY 2`).toEqual(
        [
          { kid: factsKid, alg: 'ES256', state: 'current' },
          { kid: credentialKid, alg: 'RS256', state: 'current' },
        ],
      );
    } finally {
      await keysSql.end();
    }
    const badge = await fetch(`${exported(again, 'API')}/certificates/${claimed[0]}/credential`, {
      headers: { authorization: `Bearer ${exported(again, 'STAFF_TOKEN')}` },
    });
    expect(badge.status).toBe(200);
    expect(decodeProtectedHeader(await badge.text())).toMatchObject({
      alg: 'RS256',
      kid: `${exported(again, 'API')}/keys/${credentialKid}`,
    });
    // The Chromium that printed them keeps its profile under npm start's own folder, which goes
    // with the stack: stopped by signal, Chromium never removes a profile itself.
    const profiles = descendantsOf(second.child.pid as number)
      .map((member) => /--user-data-dir=(\S+)/.exec(commandLine(member))?.[1])
      .filter((dir): dir is string => dir !== undefined);
    expect(profiles).not.toEqual([]);
    for (const dir of profiles)
      expect(dir.startsWith(join(devProfiles, 'certificates-start-chromium-'))).toBe(true);
    // The three planted here, and any the stopped offline's own scan had dispatched to generate
    // and not yet seen claimed (a minute tick just before Ctrl-C hands out the demo's passes).
    const released = again.match(
      /^Released (\d+) certificate claim\(s\) a stopped serverless offline held \((\d+) dispatched, (\d+) rendering\)/m,
    );
    expect(released).not.toBeNull();
    const [total, dispatched, rendering] = (released ?? []).slice(1).map(Number);
    expect(dispatched).toBeGreaterThanOrEqual(2);
    expect(rendering).toBeGreaterThanOrEqual(1);
    expect(total).toBe((dispatched ?? 0) + (rendering ?? 0));

    // serverless offline dies (as it does on an uncaught Lambda timeout): npm start restarts it
    // and the stand-ins stay up. What the dead offline had claimed is released before the restart.
    const againUrl = exported(again, 'DATABASE_URL');
    const claimedSql = postgres(againUrl, { max: 1, onnotice: () => undefined });
    let claimedAgain: string[];
    try {
      claimedAgain = await insertClaimedCertificates(claimedSql);
    } finally {
      await claimedSql.end();
    }
    const offlinePid = offlineOf(second.child.pid as number);
    expect(offlinePid).toBeDefined();
    // The Chromium it launched (it printed the certificates above), in process groups of their own.
    const itsChromium = descendantsOf(offlinePid as number).filter((member) =>
      commandLine(member).includes('--user-data-dir='),
    );
    expect(itsChromium).not.toEqual([]);
    signal(offlinePid as number, 'SIGKILL');
    const restartedDeadline = Date.now() + 170_000;
    let restarted = false;
    while (!restarted && Date.now() < restartedDeadline) {
      const answered = second.output().includes('restarting it')
        ? await fetch(`${exported(again, 'API')}/me/certificates`, {
            headers: { authorization: `Bearer ${exported(again, 'STUDENT_TOKEN')}` },
            signal: AbortSignal.timeout(5000),
          }).catch(() => undefined)
        : undefined;
      // 200 needs the database and the token check against the Keycloak stand-in: both survived.
      restarted = answered?.status === 200;
      if (!restarted) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(second.output()).toContain('PostgreSQL, S3 and the Keycloak stand-in stay up');
    expect(restarted).toBe(true);
    // Not left running beside the new offline's (they were, ~0.5 GB each, until after Ctrl-C).
    expect(await waitUntilGone(itsChromium, 60_000)).toBe(true);
    expect(second.child.exitCode).toBeNull();
    // None is held by its hour-long claim any more (the restarted offline may have claimed them
    // afresh, for minutes); waiting for their tick again would only repeat the check above.
    expect(await heldAnHour(againUrl, claimedAgain)).toEqual([]);
    expect(second.output().match(/^Released \d+ certificate claim\(s\)/gm)).toHaveLength(2);

    // Killed outright (SIGKILL, the OOM killer: no handler runs), its guard stops what it started:
    // once the guard has noted the tree, the restarted offline among it.
    const pid = second.child.pid as number;
    const tree = descendantsOf(pid);
    expect(tree.length).toBeGreaterThan(3); // postgres, serverless offline, the guard at least
    const restartedOffline = offlineOf(pid);
    expect(restartedOffline).toBeDefined();
    expect(restartedOffline).not.toBe(offlinePid);
    expect(tree).toContain(restartedOffline);
    await guardHasNoted(dataDir, pid, tree);
    signal(pid, 'SIGKILL');
    await second.exited;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && tree.some(isAlive))
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(tree.filter(isAlive)).toEqual([]);
    expect(processesMentioning(dataDir)).toEqual([]);
    // PostgreSQL was shut down, not killed: a postmaster that exits cleanly removes its pid file
    // (and its shared memory in /dev/shm, which a killed one leaves there for good).
    expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    // Neither start left a Chromium profile behind: the first's went with its Ctrl-C, the
    // second's with its guard.
    await expect.poll(() => profiles.filter((dir) => existsSync(dir)), { timeout: 30_000 }).toEqual([]);
    expect(readdirSync(stack.root).filter((name) => name.startsWith('certificates-start-chromium-'))).toEqual(
      [],
    );
    // The developer's root stays, emptied of this run's folder.
    expect(readdirSync(devProfiles)).toEqual([]);
  }, 600_000);

  it('uses the configured PostgreSQL, S3 and Keycloak instead of starting stand-ins, and leaves them running', async () => {
    const testEnv = await createTestEnv();
    try {
      // Claims in a database that is yours may be live ones of other workers: npm start keeps them.
      const claimed = await insertClaimedCertificates(testEnv.sql);
      const env = await configuredEnv(testEnv);
      // A data folder that has an ignore file of its own keeps it.
      const ownIgnore = join(env.LOCAL_DATA_DIR ?? '', '.gitignore');
      await writeFile(ownIgnore, 'tokens.env\n');
      const { started, output } = await startOnProbedPorts(env);
      expect(readFileSync(ownIgnore, 'utf8')).toBe('tokens.env\n');
      expect(output).not.toMatch(/^Started /m);
      expect(output).toContain('not seeded (DATABASE_URL is yours');
      expect(output).toContain(`${testEnv.keycloakUrl}/realms/student/protocol/openid-connect/token`);
      expect(output).not.toContain('export STUDENT_TOKEN=ey');
      const [seeded] = await testEnv.sql<{ count: number }[]>`
        SELECT count(*)::int AS count FROM courses WHERE title <> ${CLAIMED_COURSE_TITLE}`;
      expect(seeded?.count).toBe(0);
      expect((await heldAnHour(testEnv.env.DATABASE_URL ?? '', claimed)).sort()).toEqual(claimed.sort());
      expect(output).not.toContain('Released');

      // A token from "your" Keycloak is accepted by the functions started against it.
      const token = await keycloakControl(testEnv.keycloakUrl).token('5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01');
      const mine = await fetch(`${exported(output, 'API')}/me/certificates`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(mine.status).toBe(200);

      const stopped = await ctrlC(started);
      expect(stopped.code).toBe(0);
      expect(stopped.tree.filter(isAlive)).toEqual([]);
      // What it did not start, it did not stop.
      const [alive] = await testEnv.sql<{ one: number }[]>`SELECT 1 AS one`;
      expect(alive?.one).toBe(1);
      expect(
        (await fetch(`${testEnv.keycloakUrl}/realms/student/.well-known/openid-configuration`)).status,
      ).toBe(200);
    } finally {
      await testEnv.cleanup();
    }
  }, 420_000);

  it('stops everything when npm above it is killed outright, which leaves tsx running', async () => {
    const testEnv = await createTestEnv();
    let tree: number[] = [];
    try {
      const { started } = await startOnProbedPorts(
        await configuredEnv(testEnv),
        (running) => waitForReady(running),
        true,
      );
      const npm = started.child.pid as number;
      tree = descendantsOf(npm);
      expect(tree.length).toBeGreaterThan(3); // tsx, the script, serverless offline, the guard
      signal(npm, 'SIGKILL');
      await started.exited;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && tree.some(isAlive))
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(tree.filter(isAlive)).toEqual([]);
    } finally {
      for (const pid of tree) signal(pid, 'SIGKILL');
      await testEnv.cleanup();
    }
  }, 420_000);

  it('stops the PostgreSQL it is still starting when a signal reaches it alone (kill, a supervisor)', async () => {
    const stack = inject('stack');
    let tree: number[] = [];
    try {
      const { started } = await startOnProbedPorts(
        {
          LOCAL_DATA_DIR: await mkdtemp(join(stack.root, 'start-early-')),
          ESBUILD_WORK_DIR: await mkdtemp(join(stack.root, 'start-esbuild-')),
          CHROMIUM_EXECUTABLE_PATH: stack.env.CHROMIUM_EXECUTABLE_PATH ?? '',
          TMPDIR: stack.root,
        },
        // Until its PostgreSQL server runs: the stand-ins are starting, nothing else is up.
        async (running) => {
          for (;;) {
            if (running.child.exitCode !== null)
              throw new Error(`npm start exited early:\n${running.output()}`);
            tree = descendantsOf(running.child.pid as number);
            if (tree.some((pid) => /postgres\b.*-D /.test(commandLine(pid)))) return running.output();
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        },
      );
      // To the script alone, not its group: PostgreSQL does not get it too, as from a terminal.
      signal(started.child.pid as number, 'SIGTERM');
      await started.exited;
      await waitUntilGone(tree, 60_000);
      expect(tree.filter(isAlive).map(commandLine)).toEqual([]);
    } finally {
      for (const pid of tree) signal(pid, 'SIGKILL');
    }
  }, 420_000);

  it('fails at once, naming DATABASE_URL, when it is malformed, and starts nothing', async () => {
    const stack = inject('stack');
    const dataDir = join(stack.root, 'start-never-created');
    const started = startScript({
      LOCAL_DATA_DIR: dataDir,
      DATABASE_URL: 'postgres//user@localhost/db',
      OFFLINE_HTTP_PORT: String(await freePort()),
      OFFLINE_LAMBDA_PORT: String(await freePort()),
    });
    const code = await started.exited;
    expect(code).toBe(1);
    expect(started.output()).toMatch(/Cannot start: Invalid configuration: DATABASE_URL must be a URL/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('fails at once, naming SCAN_SCHEDULE, when it is not a schedule expression, and starts nothing', async () => {
    const dataDir = join(inject('stack').root, 'start-never-created-schedule');
    const started = startScript({
      LOCAL_DATA_DIR: dataDir,
      SCAN_SCHEDULE: 'whenever',
      OFFLINE_HTTP_PORT: String(await freePort()),
      OFFLINE_LAMBDA_PORT: String(await freePort()),
    });
    expect(await started.exited).toBe(1);
    expect(started.output()).toMatch(/SCAN_SCHEDULE must be an EventBridge schedule/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('fails at once, naming SIGNING_KEY or CREDENTIAL_SIGNING_KEY, when the key given is not a private key of its kind, and starts nothing', async () => {
    const stack = inject('stack');
    const ecKey = JSON.stringify(await generateSigningJwk());
    for (const [variable, key, reason] of [
      ['SIGNING_KEY', 'not-json', /SIGNING_KEY the ES256 signing key is not JSON/],
      ['SIGNING_KEY', '{"kty":"EC","crv":"P-256"}', /SIGNING_KEY /],
      // A P-256 key where the RSA credentials key belongs.
      ['CREDENTIAL_SIGNING_KEY', ecKey, /CREDENTIAL_SIGNING_KEY signing key must be a private RSA JWK/],
    ] as const) {
      const dataDir = join(stack.root, `start-bad-key-${randomUUID()}`);
      const started = startScript({
        LOCAL_DATA_DIR: dataDir,
        [variable]: key,
        OFFLINE_HTTP_PORT: String(await freePort()),
        OFFLINE_LAMBDA_PORT: String(await freePort()),
      });
      expect(await started.exited).toBe(1);
      expect(started.output()).toMatch(/Cannot start: Invalid configuration: /);
      expect(started.output()).toMatch(reason);
      // The value itself is never printed.
      if (key !== 'not-json') expect(started.output()).not.toContain(key);
      expect(existsSync(dataDir)).toBe(false);
    }
  });

  it('refuses an OFFLINE_HOST that is not an address of this machine, naming it, in one line', async () => {
    const stack = inject('stack');
    const dataDir = join(stack.root, 'start-foreign-host');
    // 192.0.2.1: TEST-NET-1 (RFC 5737), never an address of this machine.
    const { started } = await startOnProbedPorts(
      { LOCAL_DATA_DIR: dataDir, OFFLINE_HOST: '192.0.2.1' },
      async (run) => {
        await run.exited;
        return run.output();
      },
    );
    expect(await started.exited).toBe(1);
    expect(started.output()).toContain(
      'Cannot start: OFFLINE_HOST 192.0.2.1 is not an address of this machine',
    );
    expect(started.output()).not.toMatch(/\n\s+at /);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('refuses a port that is taken, naming its variable', async () => {
    const stack = inject('stack');
    const blocker: Server = createServer();
    // Bound on a port the kernel picks: no window in which another process could take it first.
    const taken = await listenOnLoopback(blocker);
    try {
      const dataDir = join(stack.root, 'start-port-taken');
      // Probed: OFFLINE_HTTP_PORT, checked first (taken meanwhile, it is started again).
      const { started } = await startOnProbedPorts(
        { LOCAL_DATA_DIR: dataDir, OFFLINE_LAMBDA_PORT: String(taken) },
        async (run) => {
          await run.exited;
          return run.output();
        },
      );
      expect(await started.exited).toBe(1);
      expect(started.output()).toContain(`Port ${taken} on 127.0.0.1 is not available (OFFLINE_LAMBDA_PORT`);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('names a port taken after its check, before serverless offline binds it, as a taken port (which the other tests retry)', async () => {
    const stack = inject('stack');
    const dataDir = join(stack.root, 'start-port-raced');
    const ports = await probedPorts();
    const started = startScript({
      LOCAL_DATA_DIR: dataDir,
      ESBUILD_WORK_DIR: await mkdtemp(join(stack.root, 'start-esbuild-')),
      CHROMIUM_EXECUTABLE_PATH: stack.env.CHROMIUM_EXECUTABLE_PATH ?? '',
      TMPDIR: stack.root,
      START_TIMEOUT_SECONDS: '170',
      ...ports,
    });
    // Its port checks are done once it writes the data folder's ignore file: another program
    // takes the HTTP port then, while the stand-ins start.
    while (!existsSync(join(dataDir, '.gitignore'))) {
      if (started.child.exitCode !== null) throw new Error(`npm start exited early:\n${started.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // It only holds the port: a connection (npm start's health check reaches it) is closed at once,
    // so that closing it is not held up by one.
    const blocker: Server = createServer((socket) => socket.destroy());
    await listenOnLoopback(blocker, Number(ports.OFFLINE_HTTP_PORT));
    try {
      expect(await started.exited).toBe(1);
      expect(started.output()).toContain(
        `Cannot start: Port ${ports.OFFLINE_HTTP_PORT} on 127.0.0.1 is not available (OFFLINE_HTTP_PORT; EADDRINUSE)`,
      );
      expect(PORT_TAKEN.test(started.output())).toBe(true);
      expect(processesMentioning(dataDir)).toEqual([]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
