-- Up Migration

-- Until when a receiver asked not to be sent anything (Standard Webhooks, "Throttling": it
-- answered 429, 502, 503 or 504, or did not answer at all), kept across the worker's runs: a
-- Retry-After of an hour holds the endpoint's new events for that hour too, not only the ones
-- the run that heard it had claimed. Once it has passed, each run sends the endpoint a single
-- delivery (a probe) until one is answered without a throttle, which clears it. NULL: not
-- throttled. A nullable column without a default: no table rewrite.
ALTER TABLE webhook_endpoints ADD COLUMN throttled_until timestamptz;

-- Down Migration

ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS throttled_until;
