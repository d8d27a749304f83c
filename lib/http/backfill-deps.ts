import { loadConfig } from '../config.ts';
import { once, type ReadDeps, readDeps } from './deps.ts';

/**
 * Dependencies of the backfill route: the database and the concurrency budget it paces itself
 * by. It never invokes generate (the scan does), so it loads no Lambda client.
 */
export interface BackfillDeps extends ReadDeps {
  /** GENERATE_MAX_CONCURRENCY, the budget shared with the scan. */
  maxInFlight: number;
}

const budget = once(() => loadConfig(['pipeline']).pipeline.GENERATE_MAX_CONCURRENCY);

export const backfillDeps = (): BackfillDeps => ({ ...readDeps(), maxInFlight: budget() });
