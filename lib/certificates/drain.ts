import type { Sql } from '../db/client.ts';
import { logger } from '../observability/logger.ts';
import type { GenerateOutcome } from './generate.ts';
import type { Log } from './ports.ts';
import { claimDueForDispatch, enqueuePassingAttempts } from './scan.ts';

/**
 * In-process drain: enqueue, then claim due certificates batch by batch and generate them with
 * bounded concurrency in this process until nothing is due. The same claims and guards as the
 * scan + generate fan-out, without Lambda in between: for the benchmark, one-off backfills and
 * tests. Certificates that failed and wait for a later retry are not due, so it terminates.
 */

export interface DrainDeps {
  sql: Sql;
  generate: (certificateId: string) => Promise<GenerateOutcome>;
  log?: Log;
}

export interface DrainOptions {
  batchSize: number;
  concurrency: number;
  dispatchLeaseSeconds: number;
  enqueueLimit?: number;
  /** Stop after this many certificates (safety bound for huge backlogs). */
  maxCertificates?: number;
}

export interface DrainResult {
  generated: number;
  failed: number;
  dead: number;
  skipped: number;
  /** Wall time per certificate in milliseconds, in completion order. */
  durationsMs: number[];
}

export async function drainDue(deps: DrainDeps, options: DrainOptions): Promise<DrainResult> {
  const log = deps.log ?? logger;
  const result: DrainResult = { generated: 0, failed: 0, dead: 0, skipped: 0, durationsMs: [] };
  const limit = options.maxCertificates ?? Number.POSITIVE_INFINITY;
  if (options.enqueueLimit) {
    while ((await enqueuePassingAttempts(deps.sql, options.enqueueLimit)).scanned === options.enqueueLimit) {
      // a full batch means there may be more
    }
  }
  let handled = 0;
  while (handled < limit) {
    const ids = await claimDueForDispatch(
      deps.sql,
      Math.min(options.batchSize, limit - handled),
      options.dispatchLeaseSeconds,
    );
    if (ids.length === 0) break;
    handled += ids.length;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        const started = performance.now();
        const outcome = await deps.generate(id);
        result.durationsMs.push(performance.now() - started);
        if (outcome.status === 'issued') result.generated += 1;
        else if (outcome.status === 'failed') result.failed += 1;
        else if (outcome.status === 'dead') result.dead += 1;
        else result.skipped += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, ids.length)) }, worker));
  }
  log.info(
    `Certificate generation completed: generated=${result.generated}, failed=${result.failed + result.dead}`,
    { generated: result.generated, failed: result.failed, dead: result.dead, skipped: result.skipped },
  );
  return result;
}
