-- Up Migration

-- Audit of a course's lifecycle settings (validity_months, reissue_on_better_score), changed by
-- staff through POST /api/v1/courses/{courseId}/lifecycle. certificate_generation_log is per
-- certificate; these changes are per course, so they get their own append-only log.
CREATE TABLE course_settings_log (
  id          bigserial PRIMARY KEY,
  course_id   uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
  actor       text NOT NULL,
  -- {"validityMonths": {"from": null, "to": 24}, ...}: only the settings that changed.
  changes     jsonb NOT NULL,
  reason      text CHECK (char_length(reason) <= 1000),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX course_settings_log_course_idx ON course_settings_log (course_id, created_at);

-- Down Migration
DROP TABLE IF EXISTS course_settings_log;
