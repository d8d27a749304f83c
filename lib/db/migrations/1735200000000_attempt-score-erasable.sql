-- Up Migration

-- An erased student's attempts behind their tombstones (lib/certificates/erasure.ts) lose their
-- score: staff reads of a tombstone fell back to it and showed the erased student's exact score
-- beside the verification code their PDF copies carry. NULL only there, which erasure sets.
-- Dropping NOT NULL changes no row and rewrites nothing: the lock is held for an instant.
ALTER TABLE test_attempts ALTER COLUMN score DROP NOT NULL, ALTER COLUMN max_score DROP NOT NULL;

-- Down Migration

-- An erased attempt's score is gone: none to restore, so such attempts read 0 out of 1 (the
-- score <= max_score and max_score > 0 checks hold) to take NOT NULL back.
UPDATE test_attempts SET score = 0, max_score = 1 WHERE score IS NULL OR max_score IS NULL;
ALTER TABLE test_attempts ALTER COLUMN score SET NOT NULL, ALTER COLUMN max_score SET NOT NULL;
