-- Up Migration

-- Certificates issued before 1734100000000 keep no snapshot of the course facts their Open Badges
-- credential states (code, locale, pass mark), nor do those that code from before it issues
-- between `npm run migrate` and the deploy (or again after a rollback): the credential the routes
-- serve for them follows the course, so a course change made it differ from the one embedded in
-- the holder's PDF. The course's facts as they were are written into those certificates when the
-- course changes, before the change is visible. Not all at once here: a snapshot of every earlier
-- certificate took 66 s for 500,000 (measured), holding each one's row lock as long, and they
-- need one only when their course changes, which only an operator does (the LMS's tables).
CREATE FUNCTION courses_keep_earlier_achievements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE certificates
  SET achievement = jsonb_build_object('code', OLD.code, 'locale', OLD.locale,
                                       'pass_percentage', OLD.pass_percentage::text)
  WHERE course_id = OLD.id AND achievement IS NULL AND status IN ('issued', 'revoked', 'superseded');
  RETURN NEW;
END $$;
CREATE TRIGGER courses_keep_earlier_achievements
  AFTER UPDATE OF code, locale, pass_percentage ON courses
  FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code OR OLD.locale IS DISTINCT FROM NEW.locale
                     OR OLD.pass_percentage IS DISTINCT FROM NEW.pass_percentage)
  EXECUTE FUNCTION courses_keep_earlier_achievements();

-- Down Migration

DROP TRIGGER IF EXISTS courses_keep_earlier_achievements ON courses;
DROP FUNCTION IF EXISTS courses_keep_earlier_achievements();
