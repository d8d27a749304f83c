import type { CertificateEvent, EventStore } from '../certificates/analytics.ts';
import type { Sql } from '../db/client.ts';

/**
 * The PostgreSQL adapter of the analytics EventStore port: one INSERT ... SELECT, which finds
 * the certificate (by id or by its public verification code) and copies its course in the same
 * statement, so recording costs one round trip. An unknown certificate inserts nothing.
 */
export function postgresEventStore(sql: Sql): EventStore {
  return async (event: CertificateEvent) => {
    const match =
      'certificateId' in event.certificate
        ? sql`c.id = ${event.certificate.certificateId}::uuid`
        : // Codes are printed upper-case but typed in either case (as verifyCertificate reads them).
          sql`c.verification_code IN (${event.certificate.verificationCode}, ${event.certificate.verificationCode.toUpperCase()})`;
    await sql`
      INSERT INTO certificate_events (certificate_id, course_id, kind, referrer_kind, occurred_at)
      SELECT c.id, c.course_id, ${event.kind}, ${event.referrerKind}, ${event.occurredAt}
      FROM certificates c
      WHERE ${match}
      LIMIT 1`;
  };
}
