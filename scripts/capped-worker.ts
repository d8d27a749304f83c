import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * `npm run verify` checks a stranger's PDF: pdf-lib parses it for its attachments, pdf.js decodes
 * whatever filters it names to read its page, and the page's text is searched. The decompression
 * bombs known are refused before anything is parsed (lib/credentials/pdf-attachments.ts), but a
 * pre-scan can only refuse what it foresees: every audit of it so far found another way to make
 * one of those steps cost gigabytes or minutes. So the whole check runs in a worker thread that is
 * stopped when the process grows by more than `memoryBytes` or the check takes longer than
 * `timeMs`: a file built to exhaust the checker then ends in "could not check", not in the
 * checker's machine swapping or the check never ending.
 *
 * The growth is the whole process's resident set, watched from this thread (which does nothing
 * else meanwhile): a decoded stream is an ArrayBuffer, outside the worker's V8 heap, so a heap
 * limit alone would not see it. The worker's heap is capped at the same size (so a larger limit
 * raises it too, past V8's default); one whose heap runs out is ended by Node itself
 * (ERR_WORKER_OUT_OF_MEMORY), not the process, and is reported as such.
 */
export interface WorkerLimits {
  /** The most the process may grow while the worker runs, in bytes. */
  memoryBytes: number;
  /** The longest the worker may run, in milliseconds. */
  timeMs: number;
}

/** Why a worker was stopped, or that it ended without an answer: the check could not be made. */
export class WorkerStopped extends Error {}

// How often the resident set is looked at: a bomb inflating at 1 GB/s grows 10 MB between looks.
const WATCH_INTERVAL_MS = 10;
const MIB = 1024 * 1024;
// A smaller heap cannot hold a worker's own start, and V8 aborts the whole process for it
// (measured: 1 and 2 MiB).
const HEAP_FLOOR_MB = 64;
const TSX = import.meta.resolve('tsx');

/** The worker's V8 heap ceiling for a memory limit: the same size, and not below HEAP_FLOOR_MB. */
export function heapLimitMb(memoryBytes: number): number {
  return Math.max(HEAP_FLOOR_MB, Math.ceil(memoryBytes / MIB));
}

/**
 * Runs the worker module `url` with `data` as its workerData, within `limits`: the first message
 * it posts is the answer. Rejects with WorkerStopped naming the limit when it is stopped for one,
 * or when it ends without an answer, and with what it threw when it fails. `options` (tests) adds
 * to the worker's options.
 */
export function runCapped<T>(
  url: URL,
  data: unknown,
  limits: WorkerLimits,
  options: Pick<WorkerOptions, 'resourceLimits'> = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const baseline = process.memoryUsage.rss();
    const heapMb = options.resourceLimits?.maxOldGenerationSizeMb ?? heapLimitMb(limits.memoryBytes);
    const worker = new Worker(url, {
      ...options,
      resourceLimits: { ...options.resourceLimits, maxOldGenerationSizeMb: heapMb },
      workerData: data,
      // The check is TypeScript: the worker loads it through tsx, however this process was
      // started (a worker inherits its parent's loader only when that came from the command line).
      execArgv: ['--import', TSX],
    });
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      clearTimeout(deadline);
      void worker.terminate();
      outcome();
    };
    const stop = (why: string) =>
      settle(() => reject(new WorkerStopped(`${why}; the file may be built to exhaust the checker`)));
    const tooBig = `the check needed more than ${Math.round(limits.memoryBytes / MIB)} MiB of memory`;
    const watch = setInterval(() => {
      if (process.memoryUsage.rss() - baseline > limits.memoryBytes) stop(tooBig);
    }, WATCH_INTERVAL_MS);
    const deadline = setTimeout(
      () => stop(`the check took longer than ${limits.timeMs / 1000} s`),
      limits.timeMs,
    );
    worker.once('message', (answer: T) => settle(() => resolve(answer)));
    worker.once('error', (error: unknown) => {
      // What a worker throws arrives as it was thrown, which need not be an Error (or an object).
      const code =
        typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
      if (code === 'ERR_WORKER_OUT_OF_MEMORY') stop(`the check's heap reached its limit of ${heapMb} MiB`);
      else
        settle(() =>
          reject(error instanceof Error ? error : new Error(`the check failed: ${String(error)}`)),
        );
    });
    worker.once('exit', (code) =>
      settle(() => reject(new WorkerStopped(`the check stopped (exit code ${code}) without an answer`))),
    );
  });
}
