-- Up Migration

-- Backfill of past attempts (issue 13): a certificate created for history may be issued
-- silently. The `certificate.issued` event is written when generate marks the row issued, in
-- generate's own transaction, long after the backfill's `SET LOCAL` would have ended, so the
-- choice travels with the row. Only the issuance is silenced: a later revocation or reissue of
-- a backfilled certificate is news and is announced as usual.
ALTER TABLE certificates ADD COLUMN notify boolean NOT NULL DEFAULT true;

-- The trigger's WHEN clause rather than the function: the function (and its per-transaction
-- switch) stays as it is, and a silent issuance does not even call it.
DROP TRIGGER certificates_webhook_outbox ON certificates;
CREATE TRIGGER certificates_webhook_outbox
  AFTER UPDATE OF status ON certificates
  FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('issued', 'revoked', 'superseded')
        AND (NEW.notify OR NEW.status <> 'issued'))
  EXECUTE FUNCTION certificates_webhook_outbox();

-- Down Migration
DROP TRIGGER IF EXISTS certificates_webhook_outbox ON certificates;
CREATE TRIGGER certificates_webhook_outbox
  AFTER UPDATE OF status ON certificates
  FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('issued', 'revoked', 'superseded'))
  EXECUTE FUNCTION certificates_webhook_outbox();
ALTER TABLE certificates DROP COLUMN IF EXISTS notify;
