-- Up Migration

-- Dead certificates (generation gave up), for the bulk requeue after an outage or a repaired
-- template (lib/certificates/requeue.ts requeueDeadCertificates) and for monitoring: a few rows
-- among millions of issued ones, found without reading the table. updated_at is when the
-- certificate died (nothing updates a dead row but a requeue, which makes it pending).
CREATE INDEX certificates_dead_idx ON certificates (updated_at, id) WHERE status = 'dead';

-- Down Migration

DROP INDEX IF EXISTS certificates_dead_idx;
