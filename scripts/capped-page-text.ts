import { Worker } from 'node:worker_threads';
import type { PageText, PageTextReader } from '../lib/credentials/page-text.ts';

/**
 * `npm run verify` reads a stranger's PDF with pdf.js, which decodes whatever filters the file
 * names. lib/credentials/pdf-attachments.ts refuses the decompression bombs it knows before
 * anything is parsed, but a pre-scan can only refuse what it foresees: every audit of it so far
 * found another way to hide a bomb from it. So the page is read in a worker thread that is stopped
 * when the process grows by more than `memoryBytes` or the read takes longer than `timeMs`: a file
 * built to exhaust the checker then ends in "could not check", not in the checker's machine
 * swapping or the check never ending.
 *
 * The growth is the whole process's resident set, watched from this thread: a decoded stream is an
 * ArrayBuffer, outside the worker's V8 heap, so a heap limit alone would not see it. The worker's
 * heap is capped at the same size too, so that V8 running out of it ends the worker, not the
 * process.
 */
export interface PageTextLimits {
  /** The most the process may grow while the page is read, in bytes. */
  memoryBytes: number;
  /** The longest the read may take, in milliseconds. */
  timeMs: number;
}

/**
 * Measured on a one-page certificate: the process grew by 367 MiB and the read took 1.6 s on an
 * idle machine, the worker's start (it loads pdf.js and pdf-lib itself) included; read in the same
 * thread, 156 MiB and 0.5 s. The limits leave a genuine page room on a busy machine, and stop a
 * file that drives pdf.js towards gigabytes (the bombs the audits built reached about 1 GB from a
 * few hundred KB) before it hurts.
 */
export const PAGE_TEXT_LIMITS: PageTextLimits = {
  memoryBytes: 1024 * 1024 * 1024,
  timeMs: 30_000,
};

// How often the resident set is looked at: a bomb inflating at 1 GB/s grows 10 MB between looks.
const WATCH_INTERVAL_MS = 10;

const PAGE_TEXT_WORKER = new URL('./page-text-worker.ts', import.meta.url);

const MIB = 1024 * 1024;
const HEAP_FLOOR_MB = 64;

const TSX = import.meta.resolve('tsx');

/**
 * A PageTextReader that reads in a worker (`workerUrl`: scripts/page-text-worker.ts, or a test's
 * stand-in) within `limits`. Rejects, naming the limit, when the worker is stopped for it, and with
 * the worker's own error when it fails.
 */
export function cappedPageText(limits = PAGE_TEXT_LIMITS, workerUrl = PAGE_TEXT_WORKER): PageTextReader {
  return (pdf) =>
    new Promise<PageText[]>((resolve, reject) => {
      const baseline = process.memoryUsage.rss();
      const worker = new Worker(workerUrl, {
        // A copy: the caller keeps its bytes (a transfer would detach them).
        workerData: new Uint8Array(pdf),
        // Not below HEAP_FLOOR_MB: a smaller heap cannot hold a worker's own start, and V8 aborts
        // the whole process for it (measured: 1 and 2 MiB).
        resourceLimits: {
          maxOldGenerationSizeMb: Math.max(HEAP_FLOOR_MB, Math.ceil(limits.memoryBytes / MIB)),
        },
        // The reader is TypeScript: the worker loads it through tsx, however this process was
        // started (a worker inherits its parent's loader only when that came from the command line).
        execArgv: ['--import', TSX],
      });
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearInterval(watch);
        clearTimeout(deadline);
        outcome();
      };
      const stop = (why: string) =>
        settle(() => {
          void worker.terminate();
          reject(new Error(`${why}; the file may be built to exhaust the checker`));
        });
      const tooBig = `reading the page needed more than ${Math.round(limits.memoryBytes / MIB)} MiB of memory`;
      const watch = setInterval(() => {
        if (process.memoryUsage.rss() - baseline > limits.memoryBytes) stop(tooBig);
      }, WATCH_INTERVAL_MS);
      const deadline = setTimeout(
        () => stop(`reading the page took longer than ${limits.timeMs / 1000} s`),
        limits.timeMs,
      );
      worker.once('message', (pages: PageText[]) =>
        settle(() => {
          void worker.terminate();
          resolve(pages);
        }),
      );
      worker.once('error', (error) => {
        if ((error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') stop(tooBig);
        else settle(() => reject(error));
      });
      worker.once('exit', (code) =>
        settle(() => reject(new Error(`the page reader stopped (exit code ${code}) without an answer`))),
      );
    });
}
