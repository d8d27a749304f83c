-- Up Migration

-- Analytics (issue 13): one row per download-link handed out, verification view and credential
-- export. Deliberately nothing about the person behind the request: no IP address, no user
-- agent, no subject, no referrer URL; only a coarse referrer kind derived from the Referer
-- header's host (lib/certificates/analytics.ts). The staff routes count these per day and kind.
CREATE TABLE certificate_events (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Events go with their certificate: deleting one (test data, erasure) deletes its history.
  certificate_id uuid NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
  -- Copied from the certificate when the event is written, so per-course counts need no join.
  course_id      uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
  kind           text NOT NULL CHECK (kind IN ('download-link', 'verification-view', 'credential-export')),
  referrer_kind  text NOT NULL DEFAULT 'none'
                 CHECK (referrer_kind IN ('none', 'same-site', 'linkedin', 'search', 'other')),
  occurred_at    timestamptz NOT NULL DEFAULT now()
);

-- The two per-day queries: a course's (or a certificate's) events within a date range.
CREATE INDEX certificate_events_course_day_idx ON certificate_events (course_id, occurred_at);
CREATE INDEX certificate_events_certificate_day_idx ON certificate_events (certificate_id, occurred_at);

-- Down Migration
DROP TABLE IF EXISTS certificate_events;
