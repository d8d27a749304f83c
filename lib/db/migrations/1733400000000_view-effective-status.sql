-- Up Migration

-- The guide's status overview (`SELECT status, COUNT(*) FROM v_certificates_with_metadata GROUP
-- BY status`) counts an issued certificate past its expiry date as `issued`, while the API, the
-- verification page and the credentials call it `expired` (lib/certificates/lifecycle.ts
-- effectiveStatus). `effective_status` is that state; `status` stays the stored one. A view can
-- gain columns at its end in place.
CREATE OR REPLACE VIEW v_certificates_with_metadata AS
SELECT
  c.id AS certificate_id,
  c.student_id,
  c.course_id,
  co.code AS course_code,
  co.title AS course_title,
  c.test_attempt_id,
  a.score AS attempt_score,
  a.max_score AS attempt_max_score,
  a.completed_at AS attempt_completed_at,
  c.status,
  c.student_name,
  c.course_name,
  c.percentage,
  c.issued_on,
  c.locale,
  c.template_version,
  c.s3_key,
  c.pdf_bytes,
  c.generated_at,
  c.attempt_count,
  c.last_error,
  c.next_attempt_at,
  c.verification_code,
  c.revoked_at,
  c.expires_at,
  c.created_at,
  (c.status = 'issued' AND (c.expires_at IS NULL OR c.expires_at > now())) AS downloadable,
  (SELECT count(*) FROM certificate_generation_log l WHERE l.certificate_id = c.id) AS log_entries,
  CASE WHEN c.status = 'issued' AND c.expires_at <= now() THEN 'expired' ELSE c.status::text END
    AS effective_status
FROM certificates c
JOIN courses co ON co.id = c.course_id
JOIN test_attempts a ON a.id = c.test_attempt_id;

-- Down Migration
-- A view cannot lose a column in place.
DROP VIEW IF EXISTS v_certificates_with_metadata;
CREATE VIEW v_certificates_with_metadata AS
SELECT
  c.id AS certificate_id,
  c.student_id,
  c.course_id,
  co.code AS course_code,
  co.title AS course_title,
  c.test_attempt_id,
  a.score AS attempt_score,
  a.max_score AS attempt_max_score,
  a.completed_at AS attempt_completed_at,
  c.status,
  c.student_name,
  c.course_name,
  c.percentage,
  c.issued_on,
  c.locale,
  c.template_version,
  c.s3_key,
  c.pdf_bytes,
  c.generated_at,
  c.attempt_count,
  c.last_error,
  c.next_attempt_at,
  c.verification_code,
  c.revoked_at,
  c.expires_at,
  c.created_at,
  (c.status = 'issued' AND (c.expires_at IS NULL OR c.expires_at > now())) AS downloadable,
  (SELECT count(*) FROM certificate_generation_log l WHERE l.certificate_id = c.id) AS log_entries
FROM certificates c
JOIN courses co ON co.id = c.course_id
JOIN test_attempts a ON a.id = c.test_attempt_id;
