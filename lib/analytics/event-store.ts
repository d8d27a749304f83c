import type { CertificateEvent, EventStore } from '../certificates/analytics.ts';
import type { Sql } from '../db/client.ts';

/**
 * The PostgreSQL adapter of the analytics EventStore port: one INSERT ... SELECT ... ON CONFLICT,
 * which finds the certificate (by id or by its public verification code), copies its course and
 * adds one to its counter of the event's UTC day, kind and referrer kind, in one round trip. A
 * counter rather than a row per event: the public routes record without a login, so a row per
 * request let anyone grow the table without limit; counters grow with certificates x days at
 * most. An unknown certificate inserts nothing.
 */
export function postgresEventStore(sql: Sql): EventStore {
  return async (event: CertificateEvent) => {
    const match =
      'certificateId' in event.certificate
        ? sql`c.id = ${event.certificate.certificateId}::uuid`
        : // Codes are printed upper-case but typed in either case (as verifyCertificate reads them).
          sql`c.verification_code IN (${event.certificate.verificationCode}, ${event.certificate.verificationCode.toUpperCase()})`;
    // LIMIT 1: one counter per statement, which ON CONFLICT DO UPDATE requires.
    await sql`
      INSERT INTO certificate_event_counts AS counted
        (certificate_id, course_id, day, kind, referrer_kind, count)
      SELECT c.id, c.course_id, (${event.occurredAt}::timestamptz AT TIME ZONE 'UTC')::date,
             ${event.kind}, ${event.referrerKind}, 1
      FROM certificates c
      WHERE ${match}
      LIMIT 1
      ON CONFLICT (certificate_id, day, kind, referrer_kind) DO UPDATE SET count = counted.count + 1`;
  };
}
