-- Up Migration

-- Deleting outbox events (retention, erasure) cascades to their deliveries by event_id, which
-- only led no index (it is second in UNIQUE (endpoint_id, event_id)). PostgreSQL 18 skip-scans
-- that index; 15 to 17 scan the whole deliveries table once per deleted event (measured: 2,000
-- events with 300,000 deliveries, 0.32 s on 18 and 38.2 s on 15).
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
-- A delivery that used up its retries asks whether its endpoint has succeeded since its first
-- attempt (lib/webhooks/delivery.ts, failingConsistently): the endpoint's deliveries attempted
-- since then, not its whole history, under the endpoint's row lock.
CREATE INDEX webhook_deliveries_endpoint_attempted_idx ON webhook_deliveries (endpoint_id, last_attempt_at);
-- Both are built in this transaction: writes to webhook_deliveries (fan-out, the delivery run)
-- wait for the build, reads do not, and nothing a user waits for writes there.

-- Down Migration

DROP INDEX IF EXISTS webhook_deliveries_endpoint_attempted_idx;
DROP INDEX IF EXISTS webhook_deliveries_event_idx;
