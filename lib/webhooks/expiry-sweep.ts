import { expiredEventsFrom } from '../certificates/expiry-events.ts';
import type { Log } from '../certificates/ports.ts';
import type { Sql } from '../db/client.ts';

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
