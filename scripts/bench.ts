import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import chromium from '@sparticuz/chromium';
import postgres from 'postgres';
import { createSql } from '../lib/db/client.ts';
import { migrateUp } from '../lib/db/migrate.ts';
import { logger } from '../lib/observability/logger.ts';
import { benchHttp } from './bench/http.ts';
import { benchPipeline } from './bench/pipeline.ts';
import { benchNaive, benchRender } from './bench/render.ts';
import { benchScanQuery } from './bench/scan-query.ts';
import { round } from './bench/stats.ts';

/**
 * `npm run bench`: measures, in ONE run on the local stack, (a) render-only throughput with a
 * warm browser, (b) the pipeline draining 1,000 certificates, (c) the naive one-Chromium-per-PDF
 * renderer, (d) the scan's statements on 1M attempts + 1M certificates, (e) HTTP latency.
 * Prints a table and writes bench-results/<timestamp>.json. Sizes are flags so a quick run is
 * possible: --pipeline 1000 --scan-rows 1000000 --workers 4 --naive 10 --http 2000.
 */

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

const sizes = {
  pipeline: flag('pipeline', 1000),
  scanRows: flag('scan-rows', 1_000_000),
  workers: flag('workers', 4),
  inFlight: flag('in-flight', 8),
  naive: flag('naive', 10),
  renderSequential: flag('render', 200),
  http: flag('http', 2000),
};

interface StackInfo {
  env: Record<string, string>;
  root: string;
  adminUrl: string;
  keycloakUrl: string;
}

/** Starts the stand-ins in a child process (see scripts/bench/stack-process.ts) and waits for their description. */
async function startStackProcess(): Promise<{ info: StackInfo; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench/stack-process.ts'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const info = await new Promise<StackInfo>((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n')[0];
      if (buffer.includes('\n') && line) resolve(JSON.parse(line) as StackInfo);
    });
    child.once('exit', (code) => reject(new Error(`stack process exited with ${code}`)));
  });
  return {
    info,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      await exited;
    },
  };
}

const { info: stack, stop: stopStack } = await startStackProcess();
// The in-process clients read credentials the way a function does: from the environment.
process.env.AWS_ACCESS_KEY_ID = stack.env.AWS_ACCESS_KEY_ID;
process.env.AWS_SECRET_ACCESS_KEY = stack.env.AWS_SECRET_ACCESS_KEY;
const executablePath = process.env.CHROMIUM_EXECUTABLE_PATH ?? (await chromium.executablePath());
const results: Record<string, unknown> = {
  startedAt: new Date().toISOString(),
  machine: { cpus: availableParallelism(), model: cpus()[0]?.model, node: process.version },
  sizes,
};
const log = (message: string) => console.error(`[bench] ${message}`);
// Handlers invoked in-process log each request at INFO; the benchmark prints its own table.
logger.setLogLevel('WARN');

try {
  log(
    `(a) render-only: ${sizes.renderSequential} sequential, ${sizes.renderSequential} with ${sizes.workers} pages`,
  );
  const render = await benchRender({
    executablePath,
    sequential: sizes.renderSequential,
    parallel: sizes.renderSequential,
    pages: sizes.workers,
  });
  results.render = render;

  log(
    `(b) pipeline drain of ${sizes.pipeline} certificates: ${sizes.workers} pages, ${sizes.inFlight} in flight`,
  );
  const sql = createSql({
    DATABASE_URL: stack.env.DATABASE_URL ?? '',
    DB_POOL_MAX: sizes.workers + 4,
    DB_CONNECT_TIMEOUT_SECONDS: 10,
  });
  const pipeline = await benchPipeline({
    sql,
    env: stack.env,
    keycloakUrl: stack.keycloakUrl,
    executablePath,
    count: sizes.pipeline,
    pages: sizes.workers,
    inFlight: sizes.inFlight,
  });
  results.pipeline = pipeline;
  await sql.end();

  log(`(c) naive renderer: ${sizes.naive} PDFs, one Chromium process each`);
  const naive = await benchNaive({ executablePath, pdfs: sizes.naive });
  results.naive = naive;

  log(`(d) scan statements on ${sizes.scanRows} attempts + certificates (generating data in PostgreSQL)`);
  const admin = postgres(stack.adminUrl, { max: 1, onnotice: () => undefined });
  await admin.unsafe('DROP DATABASE IF EXISTS bench_scan');
  await admin.unsafe('CREATE DATABASE bench_scan');
  await admin.end();
  const scanUrl = stack.adminUrl.replace(/\/[^/]+$/, '/bench_scan');
  await migrateUp(scanUrl);
  const scanSql = postgres(scanUrl, { max: 2, onnotice: () => undefined });
  const scan = await benchScanQuery(scanSql, { rows: sizes.scanRows, ticks: 20, newPerTick: 50 });
  results.scan = scan;
  await scanSql.end();

  log(
    `(e) HTTP: ${sizes.http} list + ${sizes.http} download requests, 50 at once via serverless offline, then in-process`,
  );
  const http = await benchHttp({
    env: stack.env,
    keycloakUrl: stack.keycloakUrl,
    requests: sizes.http,
    concurrency: 50,
  });
  results.http = http;

  const ratios = {
    pipelineVsRender: round(pipeline.perSecond / render.parallel.perSecond, 3),
    pipelineVsNaive: round(pipeline.perSecond / naive.perSecond, 3),
    scanP95Ms: scan.total.p95,
  };
  const targets = {
    // Judged on the unrounded ratios: 0.796 must not pass as 0.80.
    pipelineVsRender: { target: '>= 0.8', met: pipeline.perSecond / render.parallel.perSecond >= 0.8 },
    pipelineVsNaive: { target: '>= 20', met: pipeline.perSecond / naive.perSecond >= 20 },
    scanP95Ms: { target: '<= 100 ms', met: ratios.scanP95Ms <= 100 },
    inProcessP99Ms: {
      target: '<= 25 ms',
      met: http.inProcess.list.p99 <= 25 && http.inProcess.download.p99 <= 25,
    },
  };
  results.ratios = ratios;
  results.targets = targets;

  const rows: [string, string][] = [
    [
      '(a) render-only, sequential',
      `${render.sequential.perSecond} PDF/s  p50 ${render.sequential.latency.p50} ms  p95 ${render.sequential.latency.p95} ms  (${render.meanPdfBytes} B/PDF)`,
    ],
    [
      `(a) render-only, ${sizes.workers} pages`,
      `${render.parallel.perSecond} PDF/s  p50 ${render.parallel.latency.p50} ms  p95 ${render.parallel.latency.p95} ms`,
    ],
    [
      `(b) pipeline, ${pipeline.certificates} certs, ${pipeline.pages} pages, ${pipeline.inFlight} in flight`,
      `${pipeline.perSecond} cert/s  p50 ${pipeline.latency.p50} ms  p95 ${pipeline.latency.p95} ms  issued ${pipeline.issued}`,
    ],
    [
      '(b) mean ms per certificate in',
      Object.entries(pipeline.meanPhaseMs)
        .map(([name, ms]) => `${name} ${ms}`)
        .join(', '),
    ],
    ['(c) naive: launch + print + close per PDF', `${naive.perSecond} PDF/s  p50 ${naive.latency.p50} ms`],
    [
      `(d) scan on ${scan.attempts} attempts / ${scan.certificates} certs`,
      `enqueue p50 ${scan.enqueue.p50} ms, claim p50 ${scan.claim.p50} ms, total p50 ${scan.total.p50} / p95 ${scan.total.p95} ms (data ${scan.generateSeconds} s)`,
    ],
    [
      '(e) list via offline, 50 concurrent',
      `p50 ${http.offline.list.p50} / p95 ${http.offline.list.p95} / p99 ${http.offline.list.p99} ms  (${http.offline.list.perSecond} req/s)`,
    ],
    [
      '(e) download via offline, 50 concurrent',
      `p50 ${http.offline.download.p50} / p95 ${http.offline.download.p95} / p99 ${http.offline.download.p99} ms  (${http.offline.download.perSecond} req/s)`,
    ],
    [
      '(e) list in-process (one warm container)',
      `p50 ${http.inProcess.list.p50} / p95 ${http.inProcess.list.p95} / p99 ${http.inProcess.list.p99} ms`,
    ],
    [
      '(e) download in-process (one warm container)',
      `p50 ${http.inProcess.download.p50} / p95 ${http.inProcess.download.p95} / p99 ${http.inProcess.download.p99} ms`,
    ],
    [
      'ratio pipeline / render (same parallelism)',
      `${ratios.pipelineVsRender}x  target >= 0.8  ${targets.pipelineVsRender.met ? 'MET' : 'NOT MET'}`,
    ],
    [
      'ratio pipeline / naive',
      `${ratios.pipelineVsNaive}x  target >= 20  ${targets.pipelineVsNaive.met ? 'MET' : 'NOT MET'}`,
    ],
    [
      'scan total p95',
      `${ratios.scanP95Ms} ms  target <= 100 ms  ${targets.scanP95Ms.met ? 'MET' : 'NOT MET'}`,
    ],
    [
      'in-process p99 (list, download)',
      `${http.inProcess.list.p99}, ${http.inProcess.download.p99} ms  target <= 25 ms  ${targets.inProcessP99Ms.met ? 'MET' : 'NOT MET'}`,
    ],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log('\nBenchmark results');
  for (const [name, value] of rows) console.log(`${name.padEnd(width)}  ${value}`);

  await mkdir('bench-results', { recursive: true });
  const file = join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nJSON written to ${file}`);
} finally {
  await stopStack();
}
