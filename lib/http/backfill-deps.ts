import { loadConfig } from '../config.ts';
import { once, type ReadDeps, readDeps } from './deps.ts';

/**
 * Dependencies of the backfill route: the database, the concurrency budget it paces itself by,
 * and the scan's history boundary it stops at. It never invokes generate (the scan does), so it
 * loads no Lambda client.
 */
export interface BackfillDeps extends ReadDeps {
  /** GENERATE_MAX_CONCURRENCY, the budget shared with the scan. */
  maxInFlight: number;
  /**
   * SCAN_NOT_BEFORE, as the scan reads it: passes completed at or after it are the scan's, so a
   * backfill's selection ends there. Unset: it ends at the call's start.
   */
  scanNotBefore?: Date | undefined;
  /** The clock that marks a call's start. */
  now: () => Date;
}

const pipeline = once(() => {
  const config = loadConfig(['pipeline']);
  return {
    maxInFlight: config.pipeline.GENERATE_MAX_CONCURRENCY,
    scanNotBefore: config.pipeline.SCAN_NOT_BEFORE,
  };
});

export const backfillDeps = (): BackfillDeps => ({ ...readDeps(), ...pipeline(), now: () => new Date() });
