-- Up Migration

-- The key that signed the Open Badges credential embedded in the certificate's PDF: the RS256
-- credentials key, apart from the facts key in credential_kid. When either is reported
-- compromised, what it signed is replaced (lib/certificates/key-compromise.ts). NULL: no Open
-- Badges credential in the PDF, or one issued before this column (signed by credential_kid).
-- A nullable column without a default: no table rewrite.
ALTER TABLE certificates ADD COLUMN open_badge_kid text REFERENCES issuer_keys (kid);
-- The guide's view shows every column of the table (see the issuer-keys migration).
CREATE OR REPLACE VIEW certificate_b AS SELECT * FROM certificates;

-- Down Migration

-- A view cannot lose a column in place.
DROP VIEW IF EXISTS certificate_b;
ALTER TABLE certificates DROP COLUMN IF EXISTS open_badge_kid;
CREATE VIEW certificate_b AS SELECT * FROM certificates;
