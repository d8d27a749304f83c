-- Up Migration

-- A course's backfill (POST /courses/{id}/backfill, `npm run backfill -- --course`) picks that
-- course's unscanned passes oldest first (lib/certificates/scan.ts, `picked`). With only
-- test_attempts_unscanned_idx (completed_at) the planner walked every course's unscanned history
-- in the window and filtered the course on the heap: measured with 1.1 million history passes
-- of 50 courses and one course launched later, each batch of 500 of that course read about
-- 950,000 rows (~340 ms), growing with the history. Partial like the other: only the passes the
-- scan has not seen, so it stays as small as the history still to backfill. Built in this
-- migration's transaction: inserts of attempts wait for the build, reads do not.
CREATE INDEX test_attempts_unscanned_course_idx ON test_attempts (course_id, completed_at, id)
  WHERE passed AND certificate_enqueued_at IS NULL;

-- Down Migration

DROP INDEX IF EXISTS test_attempts_unscanned_course_idx;
