-- Up Migration

-- Issuer signing keys (public halves only: the private key lives in the secret store).
-- kid is the RFC 7638 thumbprint of the JWK. One key is current (signs new certificates);
-- retired keys keep verifying what they signed; a compromised key is published apart so its
-- certificates verify as "signed with a revoked key".
CREATE TYPE issuer_key_state AS ENUM ('current', 'retired', 'compromised');

CREATE TABLE issuer_keys (
  kid             text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{43}$'),
  public_jwk      jsonb NOT NULL CHECK (NOT public_jwk ? 'd'),   -- never a private key
  state           issuer_key_state NOT NULL DEFAULT 'current',
  created_at      timestamptz NOT NULL DEFAULT now(),
  retired_at      timestamptz,
  compromised_at  timestamptz
);
CREATE UNIQUE INDEX issuer_keys_one_current ON issuer_keys (state) WHERE state = 'current';

-- The signed credential printed in the QR code and embedded in the PDF.
-- issuer_name completes the snapshot: the signed facts include it, and ISSUER_NAME may change later.
ALTER TABLE certificates
  ADD COLUMN issuer_name text,
  ADD COLUMN credential_jws text,
  ADD COLUMN credential_kid text REFERENCES issuer_keys (kid);
-- The guide's view shows every column of the table, the new ones too.
CREATE OR REPLACE VIEW certificate_b AS SELECT * FROM certificates;

-- Down Migration
DROP VIEW IF EXISTS certificate_b;
ALTER TABLE certificates DROP COLUMN IF EXISTS credential_kid, DROP COLUMN IF EXISTS credential_jws,
  DROP COLUMN IF EXISTS issuer_name;
CREATE VIEW certificate_b AS SELECT * FROM certificates;
DROP TABLE IF EXISTS issuer_keys;
DROP TYPE IF EXISTS issuer_key_state;
