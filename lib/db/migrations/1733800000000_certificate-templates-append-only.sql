-- Up Migration

-- Template versions are append-only (lib/render/template-store.ts): a certificate records the id
-- and version that printed it, so re-printing a recorded version must give the same text, and
-- generate keeps the versions it read in memory (createTemplateResolver). An UPDATE would change
-- what a recorded version prints, and warm containers would go on printing the old text under the
-- same version. Refused here, so the rule holds for hand-written SQL too: save a new version
-- instead (npm run template -- save).
CREATE FUNCTION certificate_templates_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'certificate_templates is append-only: save a new version instead of updating %', OLD.id
    USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER certificate_templates_append_only
  BEFORE UPDATE ON certificate_templates
  FOR EACH ROW EXECUTE FUNCTION certificate_templates_append_only();

-- Down Migration
DROP TRIGGER IF EXISTS certificate_templates_append_only ON certificate_templates;
DROP FUNCTION IF EXISTS certificate_templates_append_only();
