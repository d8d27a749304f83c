-- Up Migration

-- A reissue (staff, or the later-pass rule's renewal and better score) used to supersede the
-- certificate it replaces in the statement that created the replacement: the holder was left with
-- nothing valid until the replacement was printed, and for good if it went dead. The replacement
-- now names what it replaces, and the original stays issued (and downloadable, and valid for
-- verifiers) until the replacement's own issuing transaction supersedes it (lifecycle.ts,
-- supersedeReplaced). A replacement that dies leaves the original as it was.
ALTER TABLE certificates ADD COLUMN replaces uuid REFERENCES certificates (id);
-- One replacement per certificate: a dead one is requeued, not replaced again.
CREATE UNIQUE INDEX certificates_one_replacement ON certificates (replaces) WHERE replaces IS NOT NULL;
-- The guide's view shows every column of the table (see the issuer-keys migration).
CREATE OR REPLACE VIEW certificate_b AS SELECT * FROM certificates;

-- "One live certificate" counts a replacement only once it is issued, which is when the original
-- stops being live: until then both rows exist, the original issued, the replacement waiting.
DROP INDEX certificates_one_live_per_student_course;
CREATE UNIQUE INDEX certificates_one_live_per_student_course ON certificates (student_id, course_id)
  WHERE status NOT IN ('revoked', 'superseded') AND (replaces IS NULL OR status = 'issued');
DROP INDEX certificates_one_live_per_attempt;
CREATE UNIQUE INDEX certificates_one_live_per_attempt ON certificates (test_attempt_id)
  WHERE status NOT IN ('revoked', 'superseded') AND (replaces IS NULL OR status = 'issued');

-- A replacement still waiting when the certificate it replaces is revoked is revoked with it
-- (revokeIssued): it was never issued, so no event announces it; only what was issued is revoked
-- for webhook receivers.
DROP TRIGGER certificates_webhook_outbox ON certificates;
CREATE TRIGGER certificates_webhook_outbox
  AFTER UPDATE OF status ON certificates
  FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('issued', 'revoked', 'superseded')
        AND (NEW.notify OR NEW.status <> 'issued')
        AND (NEW.status <> 'revoked' OR OLD.status = 'issued'))
  EXECUTE FUNCTION certificates_webhook_outbox();

-- Down Migration
DROP TRIGGER IF EXISTS certificates_webhook_outbox ON certificates;
CREATE TRIGGER certificates_webhook_outbox
  AFTER UPDATE OF status ON certificates
  FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('issued', 'revoked', 'superseded')
        AND (NEW.notify OR NEW.status <> 'issued'))
  EXECUTE FUNCTION certificates_webhook_outbox();
-- Fails while a replacement waits beside its original (both would be live): issue or revoke it first.
DROP INDEX IF EXISTS certificates_one_live_per_attempt;
CREATE UNIQUE INDEX certificates_one_live_per_attempt ON certificates (test_attempt_id)
  WHERE status NOT IN ('revoked', 'superseded');
DROP INDEX IF EXISTS certificates_one_live_per_student_course;
CREATE UNIQUE INDEX certificates_one_live_per_student_course ON certificates (student_id, course_id)
  WHERE status NOT IN ('revoked', 'superseded');
DROP INDEX IF EXISTS certificates_one_replacement;
-- A view cannot lose a column in place.
DROP VIEW IF EXISTS certificate_b;
ALTER TABLE certificates DROP COLUMN IF EXISTS replaces;
CREATE VIEW certificate_b AS SELECT * FROM certificates;
