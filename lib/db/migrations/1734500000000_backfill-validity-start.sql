-- Up Migration

-- The day a certificate's validity period counts from, when not its issue day: a backfilled
-- certificate's pass (test_attempts.completed_at, its UTC day). A 2020 pass backfilled in 2026
-- in a 12-month course was shown valid until 2027 in every view, while the qualification lapsed
-- in 2021 (and the later-pass rule refuses to let such an old pass renew anything). NULL: the
-- issue day, as before. A nullable column without a default: no table rewrite.
ALTER TABLE certificates ADD COLUMN validity_start date;
-- The guide's view shows every column of the table (see the issuer-keys migration).
CREATE OR REPLACE VIEW certificate_b AS SELECT * FROM certificates;

-- Down Migration

-- A view cannot lose a column in place.
DROP VIEW IF EXISTS certificate_b;
ALTER TABLE certificates DROP COLUMN IF EXISTS validity_start;
CREATE VIEW certificate_b AS SELECT * FROM certificates;
