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
}

/**
 * EventBridge schedule (every minute): announce certificates that expired since the last run,
 * then fan out new outbox events and send what is due. Expiry lives here rather than in its own
 * function: it is one indexed query, and its events then go out in the same run.
 */
export const handler = async (_event: unknown, context?: Context): Promise<DeliverWebhooksResponse> => {
  if (context) logger.addContext(context);
  const now = () => new Date();
  const expiriesAnnounced = await sweepExpiredCertificates(
    { sql, log: logger, now },
    config.webhooks.WEBHOOK_BATCH_SIZE,
  );
  const result = await runDeliveries(
    { sql, send, log: logger, now },
    {
      batchSize: config.webhooks.WEBHOOK_BATCH_SIZE,
      concurrency: config.webhooks.WEBHOOK_CONCURRENCY,
      timeoutMs: config.webhooks.WEBHOOK_TIMEOUT_MS,
    },
  );
  return { expiriesAnnounced, ...result };
};
