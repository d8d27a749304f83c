-- Up Migration

-- Courses and test attempts: what the scan reads. An operator with their own tables can
-- keep these in sync (trigger or the ingestion function); see README "Bringing your own tables".
CREATE TABLE courses (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  code            text UNIQUE CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
  title           text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 300),
  pass_percentage numeric(5, 2) NOT NULL DEFAULT 70 CHECK (pass_percentage BETWEEN 0 AND 100),
  locale          text NOT NULL DEFAULT 'en' CHECK (locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE test_attempts (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  student_id           uuid NOT NULL,                       -- Keycloak user id (sub)
  course_id            uuid NOT NULL REFERENCES courses (id),
  score                numeric(10, 2) NOT NULL CHECK (score >= 0),
  max_score            numeric(10, 2) NOT NULL CHECK (max_score > 0),
  passed               boolean NOT NULL,
  completed_at         timestamptz NOT NULL DEFAULT now(),
  external_ref         text UNIQUE,                         -- idempotency key of the ingesting system
  certificate_enqueued_at timestamptz,                     -- set once the scan has looked at it
  created_at           timestamptz NOT NULL DEFAULT now(),
  CHECK (score <= max_score)
);
CREATE INDEX test_attempts_student_idx ON test_attempts (student_id, completed_at DESC);
CREATE INDEX test_attempts_course_idx ON test_attempts (course_id);
-- Only passing attempts the scan has not seen yet: stays tiny however large the table grows,
-- which keeps the scheduled scan O(new attempts) instead of an anti-join over history.
CREATE INDEX test_attempts_unscanned_idx ON test_attempts (completed_at)
  WHERE passed AND certificate_enqueued_at IS NULL;

CREATE TABLE certificate_templates (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  course_id   uuid REFERENCES courses (id),                -- NULL: the organisation-wide default
  version     integer NOT NULL CHECK (version > 0),
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  html        text NOT NULL,
  css         text NOT NULL DEFAULT '',
  locale      text CHECK (locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
  assets      jsonb NOT NULL DEFAULT '{}'::jsonb,           -- { logo: "s3://..." | "templates/..." }
  created_by  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE NULLS NOT DISTINCT (course_id, version)
);

CREATE TYPE certificate_status AS ENUM
  ('pending', 'rendering', 'issued', 'failed', 'dead', 'revoked', 'superseded');

CREATE TABLE certificates (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  student_id        uuid NOT NULL,
  course_id         uuid NOT NULL REFERENCES courses (id),
  test_attempt_id   uuid NOT NULL UNIQUE REFERENCES test_attempts (id),
  status            certificate_status NOT NULL DEFAULT 'pending',
  verification_code text NOT NULL UNIQUE
                    DEFAULT upper(substr(replace(gen_random_uuid()::text, '-', ''), 1, 16)),
  -- Snapshot of what was printed: the PDF never changes silently, and neither does this.
  student_name      text,
  course_name       text,
  score             numeric(10, 2),
  max_score         numeric(10, 2),
  percentage        numeric(5, 2),
  issued_on         date,
  locale            text,
  template_id       uuid REFERENCES certificate_templates (id),
  template_version  text,
  -- Storage
  s3_key            varchar(500) UNIQUE,
  pdf_sha256        char(64),
  pdf_bytes         integer,
  generated_at      timestamptz,
  -- Work queue
  last_error        text,
  attempt_count     integer NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  dispatched_until  timestamptz,                            -- scan handed it to a worker until then
  lease_owner       text,
  lease_expires_at  timestamptz,
  -- Lifecycle
  revoked_at        timestamptz,
  revoked_reason    text,
  expires_at        timestamptz,
  superseded_by     uuid REFERENCES certificates (id),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (status <> 'issued' OR (s3_key IS NOT NULL AND generated_at IS NOT NULL AND pdf_sha256 IS NOT NULL)),
  CHECK (status <> 'rendering' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);
-- At most one live certificate per (student, course).
CREATE UNIQUE INDEX certificates_one_live_per_student_course
  ON certificates (student_id, course_id) WHERE status NOT IN ('revoked', 'superseded');
CREATE INDEX certificates_due_idx ON certificates (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX certificates_lease_idx ON certificates (lease_expires_at) WHERE status = 'rendering';
CREATE INDEX certificates_student_idx ON certificates (student_id, created_at DESC, id DESC);
CREATE INDEX certificates_course_idx ON certificates (course_id, created_at DESC, id DESC);

CREATE TABLE certificate_generation_log (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  certificate_id uuid REFERENCES certificates (id),
  event          text NOT NULL,                             -- created, claimed, issued, failed, dead, revoked, ...
  from_status    certificate_status,
  to_status      certificate_status,
  attempt        integer,
  message        text,
  error          text,
  duration_ms    integer,
  details        jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX certificate_generation_log_cert_idx ON certificate_generation_log (certificate_id, created_at);
CREATE INDEX certificate_generation_log_time_idx ON certificate_generation_log (created_at DESC);

-- The guide's table was called certificate_b; this view keeps its queries running as written.
CREATE VIEW certificate_b AS SELECT * FROM certificates;

CREATE VIEW v_certificates_with_metadata AS
SELECT
  c.id AS certificate_id,
  c.student_id,
  c.course_id,
  co.code AS course_code,
  co.title AS course_title,
  c.test_attempt_id,
  a.score AS attempt_score,
  a.max_score AS attempt_max_score,
  a.completed_at AS attempt_completed_at,
  c.status,
  c.student_name,
  c.course_name,
  c.percentage,
  c.issued_on,
  c.locale,
  c.template_version,
  c.s3_key,
  c.pdf_bytes,
  c.generated_at,
  c.attempt_count,
  c.last_error,
  c.next_attempt_at,
  c.verification_code,
  c.revoked_at,
  c.expires_at,
  c.created_at,
  (c.status = 'issued' AND (c.expires_at IS NULL OR c.expires_at > now())) AS downloadable,
  (SELECT count(*) FROM certificate_generation_log l WHERE l.certificate_id = c.id) AS log_entries
FROM certificates c
JOIN courses co ON co.id = c.course_id
JOIN test_attempts a ON a.id = c.test_attempt_id;

-- Everything that still has to become a PDF: certificates waiting, rendering or retrying,
-- and passing attempts the scan has not turned into certificates yet.
CREATE FUNCTION get_certificates_pending_generation()
RETURNS TABLE (
  certificate_id uuid,
  test_attempt_id uuid,
  student_id uuid,
  course_id uuid,
  course_title text,
  status text,
  attempt_count integer,
  next_attempt_at timestamptz,
  last_error text,
  completed_at timestamptz
)
LANGUAGE sql STABLE AS $$
  SELECT c.id, c.test_attempt_id, c.student_id, c.course_id, co.title, c.status::text,
         c.attempt_count, c.next_attempt_at, c.last_error, a.completed_at
  FROM certificates c
  JOIN courses co ON co.id = c.course_id
  JOIN test_attempts a ON a.id = c.test_attempt_id
  WHERE c.status IN ('pending', 'rendering', 'failed')
  UNION ALL
  SELECT NULL, a.id, a.student_id, a.course_id, co.title, 'unscanned', 0, NULL, NULL, a.completed_at
  FROM test_attempts a
  JOIN courses co ON co.id = a.course_id
  WHERE a.passed AND a.certificate_enqueued_at IS NULL
  ORDER BY 10;
$$;

-- Down Migration
DROP FUNCTION IF EXISTS get_certificates_pending_generation();
DROP VIEW IF EXISTS v_certificates_with_metadata;
DROP VIEW IF EXISTS certificate_b;
DROP TABLE IF EXISTS certificate_generation_log;
DROP TABLE IF EXISTS certificates;
DROP TYPE IF EXISTS certificate_status;
DROP TABLE IF EXISTS certificate_templates;
DROP TABLE IF EXISTS test_attempts;
DROP TABLE IF EXISTS courses;
