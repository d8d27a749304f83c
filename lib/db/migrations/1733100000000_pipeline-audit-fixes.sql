-- Up Migration

-- Pipeline audit fixes.

-- 1. An audit row is dated when it is written, not when its transaction began. generate's issue
-- transaction begins before the S3 upload and writes its `issued` row after it; with now() that
-- row was dated before a scan marker written during the upload, and the scan's summary
-- ("generated=N", counted from the previous marker on) never counted it. No insert into this
-- table sets created_at itself. Rows already written keep their dates.
ALTER TABLE certificate_generation_log ALTER COLUMN created_at SET DEFAULT clock_timestamp();

-- 2. Certificates not finished: pending, rendering or retrying. The backfill's pacing counts the
-- pending and rendering ones before every batch (lib/certificates/backfill.ts countWaiting) and
-- the guide's get_certificates_pending_generation() lists all three; both scanned the whole
-- table (issued certificates are nearly all of it) for what is a few thousand rows at most.
CREATE INDEX certificates_unfinished_idx ON certificates (status)
  WHERE status IN ('pending', 'rendering', 'failed');

-- 3. The guide's view shows every column of the table (see the issuer-keys migration): the
-- webhooks and backfill migrations added expiry_notified_at and notify without recreating it.
-- The table's new columns come after the view's, in order, so it can be replaced in place.
CREATE OR REPLACE VIEW certificate_b AS SELECT * FROM certificates;

-- Down Migration
-- A view cannot lose columns in place; the earlier migrations' downs drop notify and
-- expiry_notified_at, so the view must stop depending on them.
DROP VIEW IF EXISTS certificate_b;
CREATE VIEW certificate_b AS
  SELECT id, student_id, course_id, test_attempt_id, status, verification_code, student_name,
         course_name, score, max_score, percentage, issued_on, locale, template_id,
         template_version, s3_key, pdf_sha256, pdf_bytes, generated_at, last_error, attempt_count,
         next_attempt_at, dispatched_until, lease_owner, lease_expires_at, revoked_at,
         revoked_reason, expires_at, superseded_by, created_at, updated_at, revocation_reason,
         revoked_by, superseded_at, status_list_id, status_list_index, issuer_name,
         credential_jws, credential_kid
  FROM certificates;
DROP INDEX IF EXISTS certificates_unfinished_idx;
ALTER TABLE certificate_generation_log ALTER COLUMN created_at SET DEFAULT now();
