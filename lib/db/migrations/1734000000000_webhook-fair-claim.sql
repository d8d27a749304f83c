-- Up Migration

-- The delivery worker claims due deliveries endpoint by endpoint, in turns (lib/webhooks/delivery.ts,
-- claimDue), so one receiver's backlog or a stalled receiver's retries cannot fill every batch.
-- Each endpoint's oldest due deliveries are read from this index, not from its whole delivery log.
CREATE INDEX webhook_deliveries_endpoint_due_idx
  ON webhook_deliveries (endpoint_id, next_attempt_at, id) WHERE status = 'pending';

-- Down Migration

DROP INDEX IF EXISTS webhook_deliveries_endpoint_due_idx;
