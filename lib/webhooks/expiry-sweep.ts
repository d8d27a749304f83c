import type { PendingQuery, Row } from 'postgres';
import type { Log } from '../certificates/ports.ts';
import type { Sql, TransactionSql } from '../db/client.ts';

/**
 * The `certificate.expired` outbox rows for the certificates of `source`, a CTE of the statement
 * this is part of with columns id, course_id, student_id, verification_code, expires_at and
 * notify. The one place the event is written: the sweep announces expiries here, and revoke,
 * reissue and a renewal (lib/certificates/lifecycle.ts) announce here an expiry the sweep had not
 * reached yet, because a certificate that leaves `issued` is never swept. The unique index on the
 * outbox makes a second write for the same certificate a no-op, and the event's timestamp is the
 * expiry itself, so it sorts before the status event of the change that found it. A silent
 * certificate (`notify = false`, a backfill) expires silently: receivers never heard of it.
 */
export function expiredEventsFrom(sql: Sql | TransactionSql, source: string): PendingQuery<Row[]> {
  return sql`
    INSERT INTO webhook_outbox (event_type, certificate_id, data, occurred_at)
    SELECT 'certificate.expired', m.id,
      jsonb_build_object('certificateId', m.id, 'courseId', m.course_id, 'studentId', m.student_id,
        'verificationCode', m.verification_code, 'status', 'expired', 'expiresAt', m.expires_at),
      m.expires_at
    FROM ${sql(source)} m
    WHERE m.notify
    ON CONFLICT (certificate_id) WHERE event_type = 'certificate.expired' DO NOTHING
    RETURNING id`;
}

/**
 * `certificate.expired` has no status change to hang a trigger on (an issued certificate
 * expires by date), so a scheduled sweep announces each expiry once: it marks the certificate
 * (expiry_notified_at) and writes the outbox row in one statement (expiredEventsFrom). A
 * certificate whose issuance was silent is marked all the same, so the sweep does not look at it
 * again. Returns how many certificates were marked (a full batch means more may be waiting,
 * silent or not) and how many expiries were announced.
 */
export async function sweepExpiredCertificates(
  deps: { sql: Sql; log: Log; now: () => Date },
  limit: number,
): Promise<{ marked: number; announced: number }> {
  const now = deps.now();
  const [counts] = await deps.sql<{ marked: number; announced: number }[]>`
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
      RETURNING c.id, c.course_id, c.student_id, c.verification_code, c.expires_at, c.notify
    ), announced AS (${expiredEventsFrom(deps.sql, 'marked')})
    SELECT (SELECT count(*) FROM marked)::int AS marked, (SELECT count(*) FROM announced)::int AS announced`;
  const result = { marked: counts?.marked ?? 0, announced: counts?.announced ?? 0 };
  if (result.announced > 0) deps.log.info('Certificate expiries announced', { events: result.announced });
  return result;
}
