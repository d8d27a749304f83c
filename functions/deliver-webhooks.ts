import type { Context } from 'aws-lambda';
import { loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { logger } from '../lib/observability/logger.ts';
import { createAddressGuard } from '../lib/webhooks/address-guard.ts';
import { type DeliveryRunResult, runDeliveries } from '../lib/webhooks/delivery.ts';
import { sweepExpiredCertificates } from '../lib/webhooks/expiry-sweep.ts';
import { createHttpSender } from '../lib/webhooks/http-sender.ts';

// Cold start: configuration and clients once per container.
const config = loadConfig(['db', 'webhooks']);
const sql = createSql(config.db, { applicationName: 'certificates-webhooks' });
const send = createHttpSender({
  guard: createAddressGuard(config.webhooks.WEBHOOK_ALLOWED_HOSTS),
  timeoutMs: config.webhooks.WEBHOOK_TIMEOUT_MS,
});

export interface DeliverWebhooksResponse extends DeliveryRunResult {
  expiriesAnnounced: number;
  rounds: number;
}

const {
  WEBHOOK_BATCH_SIZE: batchSize,
  WEBHOOK_CONCURRENCY: concurrency,
  WEBHOOK_TIMEOUT_MS: timeoutMs,
} = config.webhooks;
// The longest one round can take: its batch sent `concurrency` at a time, each within the timeout.
const WORST_ROUND_MS = Math.ceil(batchSize / concurrency) * timeoutMs + 10_000;

/**
 * EventBridge schedule (every minute): announce certificates that expired since the last run,
 * then fan out new outbox events and send what is due. Expiry lives here rather than in its own
 * function: it is one indexed query, and its events then go out in the same run. While rounds
 * come back full (a burst of issued certificates) and the invocation has time for a worst-case
 * round, it goes on, so a backlog drains faster than one batch a minute.
 */
export const handler = async (_event: unknown, context?: Context): Promise<DeliverWebhooksResponse> => {
  if (context) logger.addContext(context);
  const now = () => new Date();
  const total: DeliverWebhooksResponse = {
    expiriesAnnounced: 0,
    rounds: 0,
    fannedOut: 0,
    deliveriesCreated: 0,
    attempted: 0,
    succeeded: 0,
    failed: 0,
    endpointsDisabled: 0,
  };
  for (;;) {
    const expiries = await sweepExpiredCertificates({ sql, log: logger, now }, batchSize);
    const round = await runDeliveries({ sql, send, log: logger, now }, { batchSize, concurrency, timeoutMs });
    total.rounds += 1;
    total.expiriesAnnounced += expiries;
    for (const key of [
      'fannedOut',
      'deliveriesCreated',
      'attempted',
      'succeeded',
      'failed',
      'endpointsDisabled',
    ] as const) {
      total[key] += round[key];
    }
    const full = expiries === batchSize || round.fannedOut === batchSize || round.attempted === batchSize;
    if (!full || !context || context.getRemainingTimeInMillis() < WORST_ROUND_MS) return total;
  }
};
