-- Up Migration

-- Later passes recorded `in-progress` before test_attempts.later_pass_notify existed took its
-- default, true (announced), and the scan now decides them again once the certificate they wait
-- on is settled. Those a silent backfill recorded would then have been decided with webhooks:
-- receivers told of imported history. The certificate they wait on says which they were: a
-- silent backfill creates its certificates with notify = false, and its later passes wait on
-- them. Rows recorded since the column exists carry their own flag and are not waiting on such
-- a certificate with true unless the scan decided them, which this leaves alone only when the
-- certificate itself was announced.
UPDATE test_attempts a
SET later_pass_notify = false
WHERE a.later_pass_outcome = 'in-progress'
  AND a.later_pass_notify
  AND EXISTS (
    SELECT 1 FROM certificates c
    WHERE c.student_id = a.student_id AND c.course_id = a.course_id
      AND c.status IN ('pending', 'rendering', 'failed') AND NOT c.notify
  );

-- Down Migration
-- Nothing to undo: the flag is only read while an attempt waits, and the column itself goes with
-- the migration that added it.
