-- Up Migration

-- The scores of the attempts behind tombstones erased before erasure cleared them (the one
-- before, 1735200000000, made that possible). Its own migration: the row locks of this update,
-- not the whole table's lock the column change took, are what inserts of attempts meet.
UPDATE test_attempts a
SET score = NULL, max_score = NULL
FROM certificates c
WHERE c.test_attempt_id = a.id AND c.erased_at IS NOT NULL AND a.score IS NOT NULL;

-- Every row was written under NOT NULL: the check holds for all of them. Validating takes a lock
-- that lets inserts of attempts through.
ALTER TABLE test_attempts VALIDATE CONSTRAINT test_attempts_score_erased;

-- Down Migration
-- Nothing to undo: the scores are gone (the down section of 1735200000000 fills the column in).
