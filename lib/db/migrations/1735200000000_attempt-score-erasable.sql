-- Up Migration

-- An erased student's attempts behind their tombstones (lib/certificates/erasure.ts) lose their
-- score: staff reads of a tombstone fell back to it and showed the erased student's exact score
-- beside the verification code their PDF copies carry. NULL only there: both at once, and only on
-- an attempt the scan has taken (erasure marks them enqueued), so a pass recorded without a score
-- by a writer of its own (README, "Bringing your own tables") is refused, not issued as "0 / 0".
-- Dropping NOT NULL changes no row and rewrites nothing, and the check is NOT VALID (new rows are
-- held to it at once; the next migration validates the old ones without blocking inserts): the
-- table's lock is held for an instant.
ALTER TABLE test_attempts
  ALTER COLUMN score DROP NOT NULL,
  ALTER COLUMN max_score DROP NOT NULL,
  ADD CONSTRAINT test_attempts_score_erased
    CHECK ((score IS NULL) = (max_score IS NULL) AND (score IS NOT NULL OR certificate_enqueued_at IS NOT NULL))
    NOT VALID;

-- Down Migration

-- An erased attempt's score is gone: none to restore, so such attempts read 0 out of 1 (the
-- score <= max_score and max_score > 0 checks hold) to take NOT NULL back.
ALTER TABLE test_attempts DROP CONSTRAINT IF EXISTS test_attempts_score_erased;
UPDATE test_attempts SET score = 0, max_score = 1 WHERE score IS NULL OR max_score IS NULL;
ALTER TABLE test_attempts ALTER COLUMN score SET NOT NULL, ALTER COLUMN max_score SET NOT NULL;
