-- Up Migration

-- The concurrency budget counts certificates in flight (dispatched to a worker, or rendering
-- under a live lease) before every dispatch: both sets are small, and these keep counting them
-- independent of the table's size.
CREATE INDEX certificates_dispatched_idx ON certificates (dispatched_until)
  WHERE dispatched_until IS NOT NULL;

-- Down Migration
DROP INDEX IF EXISTS certificates_dispatched_idx;
