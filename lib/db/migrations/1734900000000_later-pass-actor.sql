-- Up Migration

-- Who first decided a later pass (the scan, ingestion, the backfill). One recorded `in-progress`
-- waits for the student's certificate being generated and is decided again by the scan: as the
-- backfill when the backfill decided it. A backfill's certificate counts its validity period from
-- its pass (certificates.validity_start); decided again as the scan, two old passes of one student
-- in one backfill gave the second a certificate valid from the day it was printed (a 2021 pass in
-- a 12-month course shown valid until 2027). NULL for decisions recorded before: decided again by
-- the scan, as before. A nullable column without a default: no table rewrite.
ALTER TABLE test_attempts ADD COLUMN later_pass_actor text;

-- Down Migration

ALTER TABLE test_attempts DROP COLUMN IF EXISTS later_pass_actor;
