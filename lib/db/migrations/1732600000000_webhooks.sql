-- Up Migration

-- Webhooks (issue 13): Standard Webhooks endpoints registered by admins, an outbox written in
-- the same transaction as each certificate state change, and a delivery log per endpoint.

-- Endpoints. The signing secret must be stored in a form we can sign with (HMAC is symmetric),
-- so it is kept as issued (`whsec_<base64>`) and never returned by the API after creation or
-- rotation. During a rotation window the previous secret signs too (both signatures are sent).
CREATE TABLE webhook_endpoints (
  id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  url                        text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
  description                text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  event_types                text[] NOT NULL CHECK (cardinality(event_types) > 0),
  secret                     text NOT NULL CHECK (secret LIKE 'whsec\_%'),
  previous_secret            text CHECK (previous_secret LIKE 'whsec\_%'),
  previous_secret_expires_at timestamptz,
  disabled_at                timestamptz,
  disabled_reason            text,
  created_by                 text,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now(),
  CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL)),
  CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
);
CREATE INDEX webhook_endpoints_list_idx ON webhook_endpoints (created_at DESC, id DESC);

-- The outbox: one row per event. Its id is the `webhook-id` every endpoint receives, the same on
-- every retry and redelivery (the consumer's idempotency key). No foreign key to certificates:
-- an event outlives whatever happens to the row later, and must not block other tables' cleanup.
CREATE TABLE webhook_outbox (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_type     text NOT NULL CHECK (event_type IN (
    'certificate.issued', 'certificate.revoked', 'certificate.reissued', 'certificate.expired')),
  certificate_id uuid NOT NULL,
  -- The `data` object of the payload: ids and status only, no personal data beyond ids.
  data           jsonb NOT NULL,
  -- When it happened (the payload's timestamp; an expiry's is the expiry date itself)...
  occurred_at    timestamptz NOT NULL DEFAULT now(),
  -- ...and when it was written: endpoints registered after this do not receive it.
  created_at     timestamptz NOT NULL DEFAULT now(),
  -- Set when the event has been turned into one delivery per subscribed endpoint.
  fanned_out_at  timestamptz
);
CREATE INDEX webhook_outbox_fan_out_idx ON webhook_outbox (occurred_at) WHERE fanned_out_at IS NULL;
-- A certificate expires once: a second sweep (or two concurrent ones) cannot emit it twice.
CREATE UNIQUE INDEX webhook_outbox_expired_once_idx ON webhook_outbox (certificate_id)
  WHERE event_type = 'certificate.expired';

CREATE TABLE webhook_deliveries (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_id         uuid NOT NULL REFERENCES webhook_outbox (id) ON DELETE CASCADE,
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),
  -- Attempts made so far (a claim counts one: a worker that dies mid-send used it up).
  attempt_count    integer NOT NULL DEFAULT 0,
  -- attempt_count when the retry schedule (re)started: a manual redelivery gets the full schedule.
  schedule_start   integer NOT NULL DEFAULT 0,
  -- Due time while pending; while a worker sends, the end of its lease.
  next_attempt_at  timestamptz,
  last_attempt_at  timestamptz,
  last_status_code integer,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (endpoint_id, event_id),
  CHECK (status <> 'pending' OR next_attempt_at IS NOT NULL)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

-- Every attempt, successful or not: the delivery log the API shows.
CREATE TABLE webhook_delivery_attempts (
  id             bigserial PRIMARY KEY,
  delivery_id    uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt_number integer NOT NULL CHECK (attempt_number >= 1),
  attempted_at   timestamptz NOT NULL,
  status_code    integer,
  error          text,
  duration_ms    integer NOT NULL CHECK (duration_ms >= 0),
  succeeded      boolean NOT NULL,
  UNIQUE (delivery_id, attempt_number)
);

-- The expiry sweep marks what it has announced, so its query only ever sees new expiries.
ALTER TABLE certificates ADD COLUMN expiry_notified_at timestamptz;
CREATE INDEX certificates_expiry_to_notify_idx ON certificates (expires_at)
  WHERE status = 'issued' AND expires_at IS NOT NULL AND expiry_notified_at IS NULL;
-- Certificates already expired when webhooks arrive are history, not news.
UPDATE certificates SET expiry_notified_at = expires_at
  WHERE status = 'issued' AND expires_at IS NOT NULL AND expires_at <= now();

-- The outbox writer. A trigger rather than code in each use-case: every status change, whoever
-- makes it (generate, lifecycle, an operator in psql), writes its event in the same transaction,
-- so a rolled-back change never leaves one. `SET LOCAL certificates.webhooks = 'off'` suppresses
-- events for one transaction (backfills, repairs).
CREATE FUNCTION certificates_webhook_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  event text;
  data jsonb;
BEGIN
  IF coalesce(current_setting('certificates.webhooks', true), '') = 'off' THEN
    RETURN NULL;
  END IF;
  event := CASE NEW.status
    WHEN 'issued' THEN 'certificate.issued'
    WHEN 'revoked' THEN 'certificate.revoked'
    WHEN 'superseded' THEN 'certificate.reissued'
  END;
  IF event IS NULL THEN
    RETURN NULL;
  END IF;
  data := jsonb_build_object(
    'certificateId', NEW.id,
    'courseId', NEW.course_id,
    'studentId', NEW.student_id,
    'verificationCode', NEW.verification_code,
    'status', NEW.status::text);
  IF event = 'certificate.issued' THEN
    data := data || jsonb_build_object('expiresAt', NEW.expires_at);
  ELSIF event = 'certificate.revoked' THEN
    -- The reason code only: the free text (revoked_reason) may name people.
    data := data || jsonb_build_object('revocationReason', NEW.revocation_reason);
  ELSE
    data := data || jsonb_build_object('supersededBy', NEW.superseded_by);
  END IF;
  INSERT INTO webhook_outbox (event_type, certificate_id, data) VALUES (event, NEW.id, data);
  RETURN NULL;
END
$$;

CREATE TRIGGER certificates_webhook_outbox
  AFTER UPDATE OF status ON certificates
  FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('issued', 'revoked', 'superseded'))
  EXECUTE FUNCTION certificates_webhook_outbox();

-- Down Migration
DROP TRIGGER IF EXISTS certificates_webhook_outbox ON certificates;
DROP FUNCTION IF EXISTS certificates_webhook_outbox();
DROP INDEX IF EXISTS certificates_expiry_to_notify_idx;
ALTER TABLE certificates DROP COLUMN IF EXISTS expiry_notified_at;
DROP TABLE IF EXISTS webhook_delivery_attempts;
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhook_outbox;
DROP TABLE IF EXISTS webhook_endpoints;
