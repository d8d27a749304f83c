import type { PendingQuery, Row } from 'postgres';
import type { Sql, TransactionSql } from '../db/client.ts';

/**
 * The `certificate.expired` outbox rows for the certificates of `source`, a CTE of the statement
 * this is part of with columns id, course_id, student_id, verification_code, expires_at and
 * notify. The one place the event is written: the sweep (lib/webhooks/expiry-sweep.ts) announces
 * expiries with it, and revoke, reissue and a renewal (lifecycle.ts) an expiry the sweep had not
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
