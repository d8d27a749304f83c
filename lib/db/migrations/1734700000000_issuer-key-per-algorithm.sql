-- Up Migration

-- Two issuer keys are current at once, one per algorithm (public_jwk's `alg`, set by the code
-- from the key's kind): ES256 signs the facts in the QR code, RS256 the verifiable credentials
-- (Open Badges 3.0 names RS256 its minimum). Each rotates apart. The table holds a handful of rows.
DROP INDEX issuer_keys_one_current;
CREATE UNIQUE INDEX issuer_keys_one_current_per_algorithm ON issuer_keys ((public_jwk->>'alg'))
  WHERE state = 'current';

-- Down Migration
-- One current key again: the RS256 keys go (no certificate row references them: certificates
-- record only the facts key), and with them what verifies the Open Badges credentials they signed.
DROP INDEX issuer_keys_one_current_per_algorithm;
DELETE FROM issuer_keys WHERE public_jwk->>'alg' = 'RS256';
CREATE UNIQUE INDEX issuer_keys_one_current ON issuer_keys (state) WHERE state = 'current';
