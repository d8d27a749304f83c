-- Up Migration

-- Certificate lifecycle (issue 11): revocation with a reason, reissue (superseded_by), expiry
-- per course, W3C Bitstring Status Lists, and the rule for passing attempts that arrive while
-- the student already has (or had) a certificate. Columns that already existed are reused:
-- revoked_at, revoked_reason (now the free text), expires_at, superseded_by.

-- Per-course validity period (NULL: never expires) and the retake option (off by default).
ALTER TABLE courses
  ADD COLUMN validity_months integer CHECK (validity_months BETWEEN 1 AND 1200),
  ADD COLUMN reissue_on_better_score boolean NOT NULL DEFAULT false;

-- W3C Bitstring Status Lists. `bits` holds the list itself (index 0 = most significant bit of
-- the first byte, as the spec orders it); revoking sets a bit in the same statement that moves
-- the certificate to `revoked`, so the list never disagrees with the certificates.
CREATE TABLE status_lists (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  purpose     text NOT NULL DEFAULT 'revocation' CHECK (purpose IN ('revocation', 'suspension')),
  size        integer NOT NULL DEFAULT 131072 CHECK (size >= 131072 AND size % 8 = 0),
  bits        bytea NOT NULL,
  -- Entries handed out. Indexes are random, so a list is closed at half its size: a random
  -- draw then hits a free index at least every other try.
  allocated   integer NOT NULL DEFAULT 0 CHECK (allocated >= 0 AND allocated <= size),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (octet_length(bits) * 8 = size)
);
CREATE INDEX status_lists_open_idx ON status_lists (purpose, created_at) WHERE allocated * 2 < size;

ALTER TABLE certificates
  -- Why it was revoked: a code from the documented list (lib/certificates/lifecycle.ts) plus
  -- free text in the existing revoked_reason column; who did it.
  ADD COLUMN revocation_reason text CHECK (revocation_reason IN (
    'issued-in-error', 'academic-misconduct', 'attempt-invalidated', 'identity-fraud',
    'requested-by-holder', 'other')),
  ADD COLUMN revoked_by text,
  ADD COLUMN superseded_at timestamptz,
  -- Its entry in a status list, drawn at random when it is issued.
  ADD COLUMN status_list_id uuid REFERENCES status_lists (id),
  ADD COLUMN status_list_index integer CHECK (status_list_index >= 0),
  ADD CONSTRAINT certificates_status_entry_complete
    CHECK ((status_list_id IS NULL) = (status_list_index IS NULL)),
  -- (No such check for superseded -> superseded_by: rows written before this migration, and
  -- test fixtures, may be superseded without a recorded successor.)
  ADD CONSTRAINT certificates_revoked_has_date CHECK (status <> 'revoked' OR revoked_at IS NOT NULL);
CREATE UNIQUE INDEX certificates_status_entry_idx ON certificates (status_list_id, status_list_index)
  WHERE status_list_id IS NOT NULL;
-- A certificate has at most one successor and one predecessor.
CREATE UNIQUE INDEX certificates_superseded_by_idx ON certificates (superseded_by) WHERE superseded_by IS NOT NULL;
-- Issued certificates still waiting for their status entry / expiry (see backfillIssueLifecycle).
CREATE INDEX certificates_issue_lifecycle_todo_idx ON certificates (generated_at)
  WHERE status = 'issued' AND status_list_id IS NULL;

-- A reissue is a new certificate of the same attempt, so an attempt may have several
-- certificates over time; what stays unique is the live one (like one live per student and
-- course, which already ignores revoked and superseded rows and is kept as it is).
ALTER TABLE certificates DROP CONSTRAINT certificates_test_attempt_id_key;
CREATE UNIQUE INDEX certificates_one_live_per_attempt ON certificates (test_attempt_id)
  WHERE status NOT IN ('revoked', 'superseded');
CREATE INDEX certificates_attempt_idx ON certificates (test_attempt_id);

-- What the later-pass rule decided for an attempt, written once (the guard that makes
-- concurrent scans decide an attempt exactly once).
ALTER TABLE test_attempts
  ADD COLUMN later_pass_outcome text CHECK (later_pass_outcome IN (
    'created', 'issued-after-revocation', 'renewed-after-expiry', 'reissued-better-score',
    'already-certified', 'in-progress', 'staff-review')),
  ADD COLUMN later_pass_at timestamptz;
-- Staff work list: passing attempts blocked by a dead certificate.
CREATE INDEX test_attempts_staff_review_idx ON test_attempts (later_pass_at)
  WHERE later_pass_outcome = 'staff-review';

-- Who made a change (staff subject, 'scan', 'system'); the reason goes in message/details.
ALTER TABLE certificate_generation_log ADD COLUMN actor text;

-- Down Migration
ALTER TABLE certificate_generation_log DROP COLUMN IF EXISTS actor;
DROP INDEX IF EXISTS test_attempts_staff_review_idx;
ALTER TABLE test_attempts DROP COLUMN IF EXISTS later_pass_at, DROP COLUMN IF EXISTS later_pass_outcome;
DROP INDEX IF EXISTS certificates_attempt_idx;
DROP INDEX IF EXISTS certificates_one_live_per_attempt;
-- Fails if an attempt has several certificates (reissues): those have to be resolved first.
ALTER TABLE certificates ADD CONSTRAINT certificates_test_attempt_id_key UNIQUE (test_attempt_id);
DROP INDEX IF EXISTS certificates_issue_lifecycle_todo_idx;
DROP INDEX IF EXISTS certificates_superseded_by_idx;
DROP INDEX IF EXISTS certificates_status_entry_idx;
-- certificate_b (SELECT * FROM certificates) holds these columns since a later migration
-- recreated it: dropped around the column drops and recreated without them.
DROP VIEW IF EXISTS certificate_b;
ALTER TABLE certificates
  DROP CONSTRAINT IF EXISTS certificates_revoked_has_date,
  DROP CONSTRAINT IF EXISTS certificates_status_entry_complete,
  DROP COLUMN IF EXISTS status_list_index,
  DROP COLUMN IF EXISTS status_list_id,
  DROP COLUMN IF EXISTS superseded_at,
  DROP COLUMN IF EXISTS revoked_by,
  DROP COLUMN IF EXISTS revocation_reason;
CREATE VIEW certificate_b AS SELECT * FROM certificates;
DROP TABLE IF EXISTS status_lists;
ALTER TABLE courses DROP COLUMN IF EXISTS reissue_on_better_score, DROP COLUMN IF EXISTS validity_months;
