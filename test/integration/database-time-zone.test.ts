import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAttempt } from '../../lib/certificates/record-attempt.ts';
import { createSql, type Sql } from '../../lib/db/client.ts';
import { sweepExpiredCertificates } from '../../lib/webhooks/expiry-sweep.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { issuedCertificate } from './lifecycle-fixtures.ts';
import { createCourse, recordingLog } from './pipeline-fixtures.ts';

// A server initialised in another time zone (initdb takes the machine's, and so does npm start's
// embedded server): every instant still leaves the database in UTC. Before, the webhook payloads
// carried the server's offset ("2027-12-30T16:00:00-08:00" for an expiry printed as 31 December
// 2027), and an instant before the zone's standard time came back unreadable (a 500).

const ZONE = 'America/Los_Angeles';
let t: TestEnv;
let sql: Sql;
beforeAll(async () => {
  t = await createTestEnv();
  await t.sql.unsafe(`ALTER DATABASE "${t.database}" SET timezone = '${ZONE}'`);
  // A pool opened after the change, as a function's is.
  sql = createSql({ DATABASE_URL: t.env.DATABASE_URL ?? '', DB_POOL_MAX: 2, DB_CONNECT_TIMEOUT_SECONDS: 10 });
});
afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await t.cleanup();
});

describe('a database whose time zone is not UTC', () => {
  it("puts the service's sessions in UTC, where a plain session is in the database's zone", async () => {
    const plain = postgres(t.env.DATABASE_URL ?? '', { max: 1, onnotice: () => undefined });
    try {
      expect((await plain`SHOW TimeZone`)[0]?.TimeZone).toBe(ZONE);
    } finally {
      await plain.end({ timeout: 5 });
    }
    expect((await sql`SHOW TimeZone`)[0]?.TimeZone).toBe('UTC');
  });

  it("announces an expiry with its instant in UTC, the printed day's midnight", async () => {
    const courseId = await createCourse(sql);
    const { id } = await issuedCertificate(sql, { courseId });
    await sql`UPDATE certificates SET expires_at = '2026-11-26T00:00:00Z' WHERE id = ${id}`;
    await sweepExpiredCertificates({ sql, log: recordingLog(), now: () => new Date() }, 100);
    const [event] = await sql<{ expires_at: string }[]>`
      SELECT data->>'expiresAt' AS expires_at FROM webhook_outbox
      WHERE certificate_id = ${id} AND event_type = 'certificate.expired'`;
    expect(event?.expires_at).toBe('2026-11-26T00:00:00+00:00');
  });

  it('records an attempt completed before the zone had standard time (local mean time)', async () => {
    const result = await recordAttempt(
      { sql, dispatch: async () => undefined, log: recordingLog() },
      { dispatchLeaseSeconds: 300 },
      {
        studentId: randomUUID(),
        courseId: await createCourse(sql),
        score: 95,
        maxScore: 100,
        completedAt: '1880-06-01T00:00:00Z',
      },
    );
    expect(result.attempt.completedAt).toBe('1880-06-01T00:00:00.000Z');
  });
});
