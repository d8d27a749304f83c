-- Up Migration

-- A later pass decided while the student's live certificate is still pending, rendering or failed
-- is `in-progress` only until that certificate is issued or gone: the scan then decides it again
-- (lib/certificates/lifecycle.ts redecideWaitingLaterPasses), so a better retake made while the
-- first certificate waited reissues it as one made after it was issued does.
--
-- The decision is made again as silently as the first one: a backfill (`notify = false`) must not
-- announce, on its second look, a certificate it would have created silently. Earlier decisions
-- did not record it; they count as announced, as the scan's and ingestion's are.
ALTER TABLE test_attempts ADD COLUMN later_pass_notify boolean NOT NULL DEFAULT true;

-- What the scan looks at every tick: the few attempts waiting for a live certificate.
CREATE INDEX test_attempts_later_pass_waiting_idx ON test_attempts (later_pass_at)
  WHERE later_pass_outcome = 'in-progress';

-- Down Migration
DROP INDEX IF EXISTS test_attempts_later_pass_waiting_idx;
ALTER TABLE test_attempts DROP COLUMN IF EXISTS later_pass_notify;
