-- Up Migration

-- Analytics as daily counters (security audit S11, finding 2). certificate_events took one row
-- per request, and its public routes (the verification page and JSON, the public credential)
-- need no login, so anyone replaying a public URL grew the database without limit. The staff
-- routes only ever read counts per UTC day, kind and referrer kind, so that is all that is kept:
-- one row per certificate, UTC day, kind and referrer kind, whose count a recording increments
-- (lib/analytics/event-store.ts). Growth is bounded by certificates x days x 3 kinds x 5
-- referrer kinds, however many requests arrive. Still nothing about the person behind a
-- request: no IP address, no user agent, no subject, no referrer URL, and now not even the time
-- of day.
-- Written so a deployment with millions of event rows keeps issuing while it runs (the migration
-- is one transaction, and its locks last until it commits):
-- - The event table is locked first (the lock its DROP needs anyway, taken before the copy so
--   it is never upgraded behind a waiting writer), so no event lands after the copy's snapshot
--   and is dropped uncounted (an analytics write waits at most 50 ms and is then given up:
--   lib/http/analytics.ts).
-- - The new table gets its foreign keys only after the copy, NOT VALID: created with them, it
--   would hold SHARE ROW EXCLUSIVE on certificates and courses through the whole copy, and every
--   claim, issue, ingestion and revocation would wait for it. The copied rows come from rows
--   that had the same foreign keys, so nothing is left to validate; new rows are checked.
LOCK TABLE certificate_events IN ACCESS EXCLUSIVE MODE;

CREATE TABLE certificate_event_counts (
  -- Counts go with their certificate: deleting one (test data, erasure) deletes its history
  -- (the foreign keys are added below, after the copy).
  certificate_id uuid NOT NULL,
  -- Copied from the certificate when its first event of the day is counted, so per-course
  -- counts need no join.
  course_id      uuid NOT NULL,
  -- The UTC day of the events.
  day            date NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('download-link', 'verification-view', 'credential-export')),
  referrer_kind  text NOT NULL DEFAULT 'none'
                 CHECK (referrer_kind IN ('none', 'same-site', 'linkedin', 'search', 'other')),
  count          bigint NOT NULL DEFAULT 1 CHECK (count > 0),
  -- The counter a recording increments (ON CONFLICT on this key); it also serves the
  -- per-certificate query (a certificate's days within a range).
  PRIMARY KEY (certificate_id, day, kind, referrer_kind)
) WITH (fillfactor = 80);
-- fillfactor: a counter is updated many times a day; the free space lets PostgreSQL keep each
-- new version on the same page (a HOT update, no index entry), as no indexed column changes.
-- For the same reason `count` is in no index.

-- The events recorded so far, counted per UTC day. A certificate's events all carry its course;
-- should two ever differ, the latest event's course is kept, as the primary key allows one.
INSERT INTO certificate_event_counts (certificate_id, course_id, day, kind, referrer_kind, count)
SELECT certificate_id,
       (array_agg(course_id ORDER BY occurred_at DESC, id DESC))[1],
       (occurred_at AT TIME ZONE 'UTC')::date,
       kind,
       referrer_kind,
       count(*)
FROM certificate_events
GROUP BY certificate_id, (occurred_at AT TIME ZONE 'UTC')::date, kind, referrer_kind;

-- The per-course query: a course's days within a range.
CREATE INDEX certificate_event_counts_course_day_idx ON certificate_event_counts (course_id, day);

ALTER TABLE certificate_event_counts
  ADD CONSTRAINT certificate_event_counts_certificate_id_fkey
    FOREIGN KEY (certificate_id) REFERENCES certificates (id) ON DELETE CASCADE NOT VALID,
  ADD CONSTRAINT certificate_event_counts_course_id_fkey
    FOREIGN KEY (course_id) REFERENCES courses (id) ON DELETE CASCADE NOT VALID;

-- Nothing else reads the raw rows (only the analytics count query and the recorder did).
DROP TABLE certificate_events;

-- Down Migration

-- The old table, indexes included, with one row per counted event back. The time of day is not
-- kept by the counters: each row gets its day's UTC midnight, which the old count query puts on
-- the same day.
CREATE TABLE certificate_events (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  certificate_id uuid NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
  course_id      uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
  kind           text NOT NULL CHECK (kind IN ('download-link', 'verification-view', 'credential-export')),
  referrer_kind  text NOT NULL DEFAULT 'none'
                 CHECK (referrer_kind IN ('none', 'same-site', 'linkedin', 'search', 'other')),
  occurred_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX certificate_events_course_day_idx ON certificate_events (course_id, occurred_at);
CREATE INDEX certificate_events_certificate_day_idx ON certificate_events (certificate_id, occurred_at);

INSERT INTO certificate_events (certificate_id, course_id, kind, referrer_kind, occurred_at)
SELECT counted.certificate_id, counted.course_id, counted.kind, counted.referrer_kind,
       counted.day::timestamp AT TIME ZONE 'UTC'
FROM certificate_event_counts counted
CROSS JOIN LATERAL generate_series(1, counted.count) AS copy;

DROP TABLE IF EXISTS certificate_event_counts;
