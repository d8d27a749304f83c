-- Up Migration

-- The scan's own record of each tick (what its summary counts since, and the counts it logged),
-- out of the audit log. In certificate_generation_log a quiet system's history was one
-- 'scan completed' row a minute: the guide's "View generation history" query (the newest 20
-- rows) showed nothing but those after 20 quiet minutes.
CREATE TABLE scan_runs (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The insert's own clock, not its transaction's start, as the audit log's (1733100000000).
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  details    jsonb NOT NULL DEFAULT '{}'::jsonb
);
-- The newest run is read every tick; runs older than a week are pruned a hundred a tick.
CREATE INDEX scan_runs_created_at_idx ON scan_runs (created_at);

-- The week of markers the scan keeps (older ones it would prune anyway), then out of the log.
-- The log's marker index stays: an older version still running during a deploy (or after a
-- rollback) writes its markers there, and the scan removes them through it.
INSERT INTO scan_runs (created_at, details)
SELECT created_at, details FROM certificate_generation_log
WHERE event = 'scan' AND certificate_id IS NULL AND created_at >= now() - interval '7 days'
ORDER BY created_at;
DELETE FROM certificate_generation_log WHERE event = 'scan' AND certificate_id IS NULL;

-- Down Migration

INSERT INTO certificate_generation_log (event, message, details, created_at)
SELECT 'scan', 'scan completed', details, created_at FROM scan_runs ORDER BY created_at;
DROP TABLE IF EXISTS scan_runs;
