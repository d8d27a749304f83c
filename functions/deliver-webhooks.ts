import type { Context } from 'aws-lambda';
import { loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { logger } from '../lib/observability/logger.ts';
import { createAddressGuard } from '../lib/webhooks/address-guard.ts';
import { createHttpSender } from '../lib/webhooks/http-sender.ts';
import { runScheduledWebhooks, type ScheduledRunResult } from '../lib/webhooks/scheduled-run.ts';

// Cold start: configuration and clients once per container.
const config = loadConfig(['db', 'webhooks']);
const sql = createSql(config.db, { applicationName: 'certificates-webhooks' });
const send = createHttpSender({
  guard: createAddressGuard(config.webhooks.WEBHOOK_ALLOWED_HOSTS),
  timeoutMs: config.webhooks.WEBHOOK_TIMEOUT_MS,
});
const options = {
  batchSize: config.webhooks.WEBHOOK_BATCH_SIZE,
  concurrency: config.webhooks.WEBHOOK_CONCURRENCY,
  timeoutMs: config.webhooks.WEBHOOK_TIMEOUT_MS,
};

export type DeliverWebhooksResponse = ScheduledRunResult;

/** EventBridge schedule (every minute): expiries, fan-out and deliveries (lib/webhooks/scheduled-run.ts). */
export const handler = async (_event: unknown, context?: Context): Promise<DeliverWebhooksResponse> => {
  if (context) logger.addContext(context);
  return await runScheduledWebhooks(
    { sql, send, log: logger, now: () => new Date() },
    options,
    context ? () => context.getRemainingTimeInMillis() : undefined,
  );
};
