-- Up Migration

-- Erasure of a student's personal data (lib/certificates/erasure.ts, scripts/erase-student.ts).
-- A published certificate is never deleted: its row stays as a tombstone (verification code,
-- course, dates, status, revocation date and reason code, status-list entry), so its code keeps
-- answering "revoked" and its status-list index is never handed out again. erased_at says when
-- the holder's details were removed from it.
--
-- No column has to become nullable: student_name, score, max_score, percentage, s3_key,
-- pdf_sha256, credential_jws and revoked_reason are nullable already, and student_id (NOT NULL)
-- takes a random pseudonym rather than NULL. The issued-status CHECK needs no change either: it
-- applies to `issued` only, and a tombstone is revoked or superseded.
ALTER TABLE certificates ADD COLUMN erased_at timestamptz;

-- What an erased row may be: revoked or superseded, with nothing of the person left. A later
-- write that put a name or a file back, or made it issued again, is refused. NOT VALID: every
-- existing row has erased_at NULL (the column is new), so validating would only scan the table
-- under this migration's lock to prove it; new and updated rows are checked all the same.
ALTER TABLE certificates ADD CONSTRAINT certificates_erased_is_tombstone
  CHECK (erased_at IS NULL OR (
    status IN ('revoked', 'superseded')
    AND student_name IS NULL AND score IS NULL AND max_score IS NULL AND percentage IS NULL
    AND s3_key IS NULL AND pdf_sha256 IS NULL AND credential_jws IS NULL AND revoked_reason IS NULL
  )) NOT VALID;

-- The guide's view shows every column of the table (see the issuer-keys migration).
CREATE OR REPLACE VIEW certificate_b AS SELECT * FROM certificates;

-- Down Migration
-- A view cannot lose a column in place.
DROP VIEW IF EXISTS certificate_b;
ALTER TABLE certificates DROP CONSTRAINT IF EXISTS certificates_erased_is_tombstone;
ALTER TABLE certificates DROP COLUMN IF EXISTS erased_at;
CREATE VIEW certificate_b AS SELECT * FROM certificates;
