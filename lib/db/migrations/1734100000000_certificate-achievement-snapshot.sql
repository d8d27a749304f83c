-- Up Migration

-- The course's code, locale and pass mark as they were when the certificate was issued, which its
-- Open Badges achievement (the credential embedded in the PDF) states. The credential the routes
-- serve later is built from them, so both say the same whatever the course says now (a pass mark
-- raised from 70% to 90% must not re-badge a 72% pass as "at least 90%"). NULL for certificates
-- issued before this column: theirs is still built from the course. A nullable column without a
-- default: no table rewrite.
ALTER TABLE certificates ADD COLUMN achievement jsonb;
-- The guide's view shows every column of the table (see the issuer-keys migration).
CREATE OR REPLACE VIEW certificate_b AS SELECT * FROM certificates;

-- Down Migration

-- A view cannot lose a column in place.
DROP VIEW IF EXISTS certificate_b;
ALTER TABLE certificates DROP COLUMN IF EXISTS achievement;
CREATE VIEW certificate_b AS SELECT * FROM certificates;
