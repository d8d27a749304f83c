import type { Log } from '../certificates/ports.ts';
import type { Sql } from '../db/client.ts';

/**
 * `certificate.expired` has no status change to hang a trigger on (an issued certificate
 * expires by date), so a scheduled sweep announces each expiry once: it marks the certificate
 * (expiry_notified_at) and writes the outbox row in one statement; the unique index on the
 * outbox makes a second run, or a concurrent one, a no-op. The event's timestamp is the
 * expiry itself, not the time the sweep noticed it.
 */
export async function sweepExpiredCertificates(
  deps: { sql: Sql; log: Log; now: () => Date },
  limit: number,
): Promise<number> {
  const now = deps.now();
  const rows = await deps.sql<{ id: string }[]>`
    WITH due AS (
      SELECT id FROM certificates
      WHERE status = 'issued' AND expires_at IS NOT NULL AND expires_at <= ${now}
        AND expiry_notified_at IS NULL
      ORDER BY expires_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ), marked AS (
      UPDATE certificates c SET expiry_notified_at = ${now}
      FROM due WHERE c.id = due.id
      RETURNING c.id, c.course_id, c.student_id, c.verification_code, c.expires_at
    )
    INSERT INTO webhook_outbox (event_type, certificate_id, data, occurred_at)
    SELECT 'certificate.expired', m.id,
      jsonb_build_object('certificateId', m.id, 'courseId', m.course_id, 'studentId', m.student_id,
        'verificationCode', m.verification_code, 'status', 'expired', 'expiresAt', m.expires_at),
      m.expires_at
    FROM marked m
    ON CONFLICT (certificate_id) WHERE event_type = 'certificate.expired' DO NOTHING
    RETURNING id`;
  if (rows.length > 0) deps.log.info('Certificate expiries announced', { events: rows.length });
  return rows.length;
}
