import { webhookWorstRoundMs } from '../config.ts';
import {
  CANCEL_BATCH,
  cancelDisabledBacklogs,
  type DeliveryDeps,
  type DeliveryOptions,
  type DeliveryRunResult,
  runDeliveries,
} from './delivery.ts';
import { sweepExpiredCertificates } from './expiry-sweep.ts';

export interface ScheduledRunResult extends DeliveryRunResult {
  expiriesAnnounced: number;
  rounds: number;
  /** Pending deliveries of disabled endpoints cancelled (the part disabling left, disableEndpoint). */
  backlogCancelled: number;
}

const COUNTS = [
  'fannedOut',
  'deliveriesCreated',
  'attempted',
  'succeeded',
  'failed',
  'abandoned',
  'endpointsDisabled',
  'unrecorded',
  'held',
] as const satisfies readonly (keyof DeliveryRunResult)[];
// Every count of a round is added up: one left out of COUNTS (as `unrecorded` could be) fails the
// type check.
const ALL_COUNTED: [Exclude<keyof DeliveryRunResult, (typeof COUNTS)[number]>] extends [never]
  ? true
  : never = true;
void ALL_COUNTED;

/**
 * One scheduled run (every minute): announce certificates that expired since the last run, then
 * fan out new outbox events and send what is due. Expiry lives here rather than in its own
 * function: it is one indexed query, and its events then go out in the same run. While rounds
 * come back full (a burst of issued certificates) and `remainingMs` leaves time for a worst-case
 * round (its batch sent `concurrency` at a time, each within the timeout, plus 10 s), it goes
 * on, so a backlog drains faster than one batch a minute. Without `remainingMs` it runs one round.
 */
export async function runScheduledWebhooks(
  deps: DeliveryDeps,
  options: DeliveryOptions,
  remainingMs?: () => number,
): Promise<ScheduledRunResult> {
  const { batchSize } = options;
  const worstRoundMs = webhookWorstRoundMs(options);
  const total: ScheduledRunResult = {
    expiriesAnnounced: 0,
    rounds: 0,
    backlogCancelled: await cancelDisabledBacklogs(deps.sql, CANCEL_BATCH),
    fannedOut: 0,
    deliveriesCreated: 0,
    attempted: 0,
    succeeded: 0,
    failed: 0,
    abandoned: 0,
    endpointsDisabled: 0,
    unrecorded: 0,
    held: 0,
  };
  // An endpoint throttled in one round gets nothing more in the later rounds of this run either.
  const throttled = new Map<string, Date>();
  for (;;) {
    const expiries = await sweepExpiredCertificates(deps, batchSize);
    const round = await runDeliveries(deps, options, throttled);
    total.rounds += 1;
    total.expiriesAnnounced += expiries.announced;
    for (const key of COUNTS) total[key] += round[key];
    // Full by what the sweep marked, not what it announced: silent expiries (a backfill's) are
    // marked without an event, and a batch of them must not end the run before the rest.
    const full =
      expiries.marked === batchSize ||
      round.fannedOut === batchSize ||
      round.attempted + round.held === batchSize;
    if (!full || remainingMs === undefined || remainingMs() < worstRoundMs) return total;
  }
}
