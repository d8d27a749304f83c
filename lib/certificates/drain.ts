import type { Sql } from '../db/client.ts';
import type { GenerateOutcome } from './generate.ts';
import type { Log } from './ports.ts';
import { claimDueForDispatch, decideLaterPasses, enqueuePassingAttempts } from './scan.ts';

/**
 * In-process drain: enqueue, then claim due certificates batch by batch and generate them with
 * bounded concurrency in this process until nothing is due. The same claims and guards as the
 * scan + generate fan-out, without Lambda in between: for the benchmark, one-off backfills and
 * tests. Certificates that failed and wait for a later retry are not due, so it terminates.
 */

export interface DrainDeps {
  sql: Sql;
  generate: (certificateId: string) => Promise<GenerateOutcome>;
  log: Log;
}

export interface DrainOptions {
  batchSize: number;
  concurrency: number;
  dispatchLeaseSeconds: number;
  enqueueLimit?: number;
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
  const log = deps.log;
  const result: DrainResult = { generated: 0, failed: 0, dead: 0, skipped: 0, durationsMs: [] };
  if (options.enqueueLimit) {
    for (;;) {
      const enqueued = await enqueuePassingAttempts(deps.sql, options.enqueueLimit);
      const { decided } = await decideLaterPasses(deps, enqueued.laterPasses);
      // A full batch means there may be more, unless none of it could be settled (logged).
      if (enqueued.scanned < options.enqueueLimit || enqueued.created + decided === 0) break;
    }
  }
  // Workers pull from one queue; the next batch is claimed while the current one is still
  // rendering (as the next scan tick would), so no worker idles at a batch boundary.
  const queue: string[] = [];
  let exhausted = false;
  let refilling: Promise<void> | undefined;
  let failure: unknown;
  const refill = async (): Promise<void> => {
    const ids =
      options.batchSize > 0
        ? await claimDueForDispatch(deps.sql, options.batchSize, options.dispatchLeaseSeconds)
        : [];
    if (ids.length === 0) exhausted = true;
    queue.push(...ids);
  };
  const nextId = async (): Promise<string | undefined> => {
    for (;;) {
      if (!exhausted && queue.length <= options.concurrency) {
        refilling ??= refill()
          .catch((error: unknown) => {
            // Stop claiming; workers finish what they hold, then the drain reports the error.
            failure = error;
            exhausted = true;
          })
          .finally(() => {
            refilling = undefined;
          });
        if (queue.length === 0) await refilling;
      }
      const id = queue.shift();
      if (id !== undefined || (exhausted && queue.length === 0)) return id;
    }
  };
  const worker = async (): Promise<void> => {
    for (let id = await nextId(); id !== undefined; id = await nextId()) {
      const started = performance.now();
      const outcome = await deps.generate(id);
      result.durationsMs.push(performance.now() - started);
      if (outcome.status === 'issued') result.generated += 1;
      else if (outcome.status === 'failed') result.failed += 1;
      else if (outcome.status === 'dead') result.dead += 1;
      else result.skipped += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  if (failure !== undefined) throw failure;
  log.info(
    `Certificate generation completed: generated=${result.generated}, failed=${result.failed + result.dead}`,
    // The same fields as the scan's line: `failed` is the number in the message (retrying + dead).
    {
      generated: result.generated,
      failed: result.failed + result.dead,
      retrying: result.failed,
      dead: result.dead,
      skipped: result.skipped,
    },
  );
  return result;
}
