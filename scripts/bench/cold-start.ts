import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { enqueuePassingAttempts } from '../../lib/certificates/scan.ts';
import { generateSigningJwk } from '../../lib/credentials/keys.ts';
import type { Sql } from '../../lib/db/client.ts';
import { ensureUnpackedChromium } from '../chromium-unpack.ts';
import { type LatencySummary, round, summarize } from './stats.ts';

export interface ColdRun {
  /** Process start to the end of module init (the bundle required: config, clients, warm-up begun). */
  initMs: number;
  /** The first invocation: claim, Keycloak, Chromium (extracted and launched), render, S3, record. */
  handlerMs: number;
  /** Process start to the certificate issued. */
  totalMs: number;
  status: string;
  /** Peak resident memory (VmHWM) of the Node process and of Chromium, MB. */
  peakNodeMb: number;
  peakChromiumMb: number;
}

export interface ColdStartBench {
  runs: ColdRun[];
  total: LatencySummary;
  /** The same, with the process pinned to one core (taskset): about what 1,769 MB buys on Lambda. */
  oneCore?: { runs: ColdRun[]; total: LatencySummary };
  /** Time to make Chromium's unpacked folder first, if it was missing (not part of any start). */
  unpackSeconds: number;
  /**
   * Whether each start read Chromium and the bundle from disk: their pages were dropped from the
   * page cache before it (GNU dd's `iflag=nocache`), as a new container's layer is not in memory.
   * False where that could not be done: the files were then cached, and the starts lean fast.
   */
  fromDisk: boolean;
}

// Runs in the fresh process: times are from its own start (performance.now() counts from it).
const CHILD = `
const { readFileSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const peak = (pid) => { try { return Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/' + pid + '/status', 'utf8'))?.[1] ?? 0) / 1024; } catch { return 0; } };
(async () => {
  const generate = require(process.env.BENCH_BUNDLE);
  const initMs = performance.now();
  const outcome = await generate.handler({ certificateId: process.env.BENCH_CERTIFICATE_ID });
  const totalMs = performance.now();
  let children = [];
  try { children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(process.pid)], { encoding: 'utf8' }).trim().split(/\\s+/).filter(Boolean); } catch {}
  const peakChromiumMb = children.reduce((sum, pid) => sum + peak(pid), 0);
  process.stdout.write(JSON.stringify({ initMs, handlerMs: totalMs - initMs, totalMs, status: outcome.status, peakNodeMb: peak(process.pid), peakChromiumMb }) + '\\n');
  await generate.printer.close();
  process.exit(0);
})().catch((error) => { console.error(error); process.exit(1); });
`;

/**
 * (f) Cold start: the first certificate of a fresh `generate` container, as a fresh process
 * running the bundle the way Lambda does (esbuild, CommonJS, everything bundled, init on
 * require, then one event), with an empty temp folder (TMPDIR of its own, so nothing of an
 * earlier start is reused; the machine's /tmp is left alone) and
 * AWS_LAMBDA_FUNCTION_NAME set, so the browser starts at init and runs --single-process as on
 * Lambda. Chromium runs from the unpacked folder the render layer ships (made first if missing,
 * not timed), read from disk: its pages and the bundle's are dropped from the page cache before
 * each start where GNU dd can (`fromDisk`).
 */
export async function benchColdStart(options: {
  sql: Sql;
  env: Record<string, string>;
  keycloakUrl: string;
  runs: number;
  /** Changes to the function's environment (undefined removes a variable): to compare variants. */
  extraEnv?: Record<string, string | undefined>;
  /** Skip the runs pinned to one core. */
  skipOneCore?: boolean;
}): Promise<ColdStartBench> {
  const unpackStarted = performance.now();
  const unpacked = await ensureUnpackedChromium();
  const unpackSeconds = round((performance.now() - unpackStarted) / 1000, 1);

  const work = await mkdtemp(join(tmpdir(), 'bench-cold-'));
  try {
    const bundle = join(work, 'generate.cjs');
    await build({
      entryPoints: ['functions/generate.ts'],
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      outfile: bundle,
      logLevel: 'error',
    });
    const signingKey = JSON.stringify(await generateSigningJwk());
    const credentialKey = JSON.stringify(await generateSigningJwk('RS256'));
    const [course] = await options.sql<{ id: string }[]>`
      INSERT INTO courses (title, locale) VALUES ('Cold Start Benchmark', 'en') RETURNING id`;
    if (!course) throw new Error('no course');

    const oneCore = !options.skipOneCore && (await hasTaskset());
    const coldFiles = [bundle, ...(await readdir(unpacked)).map((file) => join(unpacked, file))];
    const fromDisk = await dropFromPageCache(coldFiles).then(
      () => true,
      () => false,
    );
    const childEnv = (temp: string, certificateId: string): NodeJS.ProcessEnv => {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...options.env,
        SIGNING_KEY: signingKey,
        CREDENTIAL_SIGNING_KEY: credentialKey,
        AWS_LAMBDA_FUNCTION_NAME: 'course-certificates-bench-generate',
        TMPDIR: temp,
        POWERTOOLS_METRICS_DISABLED: 'true',
        // BENCH_VERBOSE=1 keeps the function's INFO logs (with timestamps) and prints them.
        POWERTOOLS_LOG_LEVEL: process.env.BENCH_VERBOSE ? 'INFO' : 'WARN',
        LOG_LEVEL: process.env.BENCH_VERBOSE ? 'INFO' : 'WARN',
        BENCH_BUNDLE: bundle,
        BENCH_CERTIFICATE_ID: certificateId,
      };
      // As on Lambda: not offline, and Chromium found the way the function finds it in the layer
      // (the unpacked folder beside the archives), not handed a path.
      delete env.IS_OFFLINE;
      delete env.CHROMIUM_EXECUTABLE_PATH;
      for (const [name, value] of Object.entries(options.extraEnv ?? {})) {
        if (value === undefined) delete env[name];
        else env[name] = value;
      }
      return env;
    };
    const coldRun = async (pinned: boolean): Promise<ColdRun> => {
      const studentId = randomUUID();
      const response = await fetch(`${options.keycloakUrl}/__stand-in/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id: studentId,
          username: `cold-${studentId}`,
          firstName: 'Cold',
          lastName: 'Start',
        }),
      });
      if (!response.ok) throw new Error(`could not add a student: ${response.status}`);
      await options.sql`
        INSERT INTO test_attempts (student_id, course_id, score, max_score, passed)
        VALUES (${studentId}, ${course.id}, 91, 100, true)`;
      await enqueuePassingAttempts(options.sql, 10, { filter: { courseId: course.id } });
      const [certificate] = await options.sql<{ id: string }[]>`
        SELECT id FROM certificates WHERE student_id = ${studentId} AND course_id = ${course.id}`;
      if (!certificate) throw new Error('the scan created no certificate');
      const temp = await mkdtemp(join(work, 'tmp-'));
      if (fromDisk) await dropFromPageCache(coldFiles);
      try {
        const command = pinned ? 'taskset' : process.execPath;
        const args = pinned ? ['-c', '0', process.execPath, '-e', CHILD] : ['-e', CHILD];
        const { stdout } = await promisify(execFile)(command, args, {
          env: childEnv(temp, certificate.id),
          cwd: process.cwd(),
          maxBuffer: 16 * 1024 * 1024,
        });
        if (process.env.BENCH_VERBOSE) console.error(stdout);
        const line = stdout.trim().split('\n').at(-1) ?? '{}';
        const run = JSON.parse(line) as ColdRun;
        return {
          ...run,
          initMs: round(run.initMs, 0),
          handlerMs: round(run.handlerMs, 0),
          totalMs: round(run.totalMs, 0),
          peakNodeMb: round(run.peakNodeMb, 0),
          peakChromiumMb: round(run.peakChromiumMb, 0),
        };
      } finally {
        await rm(temp, { recursive: true, force: true });
      }
    };

    const runs: ColdRun[] = [];
    for (let i = 0; i < options.runs; i += 1) runs.push(await coldRun(false));
    const pinnedRuns: ColdRun[] = [];
    if (oneCore) for (let i = 0; i < options.runs; i += 1) pinnedRuns.push(await coldRun(true));
    return {
      runs,
      total: summarize(runs.map((run) => run.totalMs)),
      ...(oneCore
        ? { oneCore: { runs: pinnedRuns, total: summarize(pinnedRuns.map((run) => run.totalMs)) } }
        : {}),
      unpackSeconds,
      fromDisk,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Drops the files' pages from the page cache (posix_fadvise DONTNEED, through GNU dd). */
async function dropFromPageCache(files: string[]): Promise<void> {
  for (const file of files)
    await promisify(execFile)('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
}

async function hasTaskset(): Promise<boolean> {
  try {
    await promisify(execFile)('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
}
