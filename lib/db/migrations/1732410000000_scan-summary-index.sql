-- Up Migration

-- Each scan writes a 'scan' row to the audit log and reports the generations since the
-- previous one; this keeps finding that previous row O(1) however long the log grows.
CREATE INDEX certificate_generation_log_scan_idx
  ON certificate_generation_log (created_at DESC)
  WHERE event = 'scan' AND certificate_id IS NULL;

-- Down Migration
DROP INDEX IF EXISTS certificate_generation_log_scan_idx;
