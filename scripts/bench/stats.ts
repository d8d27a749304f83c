/** Small measurement helpers for `npm run bench`: wall-clock is measured here, never asserted in tests. */

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export function summarize(samplesMs: readonly number[]): LatencySummary {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    mean: round(sorted.length ? sum / sorted.length : Number.NaN),
    max: round(sorted.at(-1) ?? Number.NaN),
  };
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Errors a measurement met, reported next to its figures: how many, and the first message. */
export interface ErrorTally {
  count: number;
  first?: string;
}

export function recordError(tally: ErrorTally, error: unknown): void {
  tally.count += 1;
  tally.first ??= error instanceof Error ? error.message : String(error);
}

/**
 * Runs `task(i)` for i in [0, total) with at most `concurrency` in flight; returns the ms of
 * each task that succeeded. Without `errors` the first failure rejects the run; with it, each
 * failure is counted there and the run goes on (a section reports what it measured).
 */
export async function runPool(
  total: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
  errors?: ErrorTally,
): Promise<number[]> {
  const durations: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const index = next;
      next += 1;
      const started = performance.now();
      try {
        await task(index);
        durations.push(performance.now() - started);
      } catch (error) {
        if (!errors) throw error;
        recordError(errors, error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return durations;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}
