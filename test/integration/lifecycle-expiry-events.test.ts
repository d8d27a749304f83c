import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyLaterPassRule,
  reissueCertificate,
  revokeCertificate,
} from '../../lib/certificates/lifecycle.ts';
import { sweepExpiredCertificates } from '../../lib/webhooks/expiry-sweep.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { contendWithOpenTransaction } from '../support/lock-wait.ts';
import { issuedCertificate, issueReplacement } from './lifecycle-fixtures.ts';
import { createAttempt, createCourse, recordingLog } from './pipeline-fixtures.ts';

// Audit s12 finding 3: the expiry sweep only looks at issued certificates, so one revoked,
// reissued or renewed after its expiry date but before the sweep reached it would never be
// announced as expired. The statement that moves it announces the expiry itself.

let t: TestEnv;
const log = recordingLog();
const sweep = () => sweepExpiredCertificates({ sql: t.sql, log, now: () => new Date() }, 1000);

beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

/** A course with a validity period and an issued certificate of it that expired on 2021-01-01. */
async function expiredCertificate(): Promise<{ id: string; studentId: string; courseId: string }> {
  const courseId = await createCourse(t.sql);
  await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${courseId}`;
  const cert = await issuedCertificate(t.sql, { courseId, issuedOn: '2020-01-01' });
  return { ...cert, courseId };
}

/**
 * A staff reissue asked while the certificate was valid (an expired one is refused), whose
 * replacement then waited past the certificate's expiry (2021-01-01, as if the clock moved on).
 */
async function reissuedBeforeItsExpiry() {
  const cert = await expiredCertificate();
  await t.sql`UPDATE certificates SET expires_at = now() + interval '1 day' WHERE id = ${cert.id}`;
  const replacement = await reissueCertificate(
    { sql: t.sql, log },
    { certificateId: cert.id, reason: 'typo', actor: 'staff' },
  );
  await t.sql`UPDATE certificates SET expires_at = '2021-01-01T00:00:00Z' WHERE id = ${cert.id}`;
  return { cert, replacement };
}

/** The certificate's events in the order the fan-out hands them out (lib/webhooks/delivery.ts). */
async function eventsOf(certificateId: string) {
  return await t.sql<{ event_type: string; occurred_at: Date; data: Record<string, unknown> }[]>`
    SELECT event_type, occurred_at, data FROM webhook_outbox WHERE certificate_id = ${certificateId}
    ORDER BY occurred_at, id`;
}

async function expectExpiredAnnouncedFirst(certificateId: string, statusEvent: string): Promise<void> {
  const [cert] = await t.sql<
    { expires_at: Date; expiry_notified_at: Date | null; verification_code: string }[]
  >`
    SELECT expires_at, expiry_notified_at, verification_code FROM certificates WHERE id = ${certificateId}`;
  const events = await eventsOf(certificateId);
  expect(events.map((e) => e.event_type)).toEqual(['certificate.expired', statusEvent]);
  expect(events[0]?.occurred_at).toEqual(cert?.expires_at);
  expect(events[0]?.data).toEqual({
    certificateId,
    courseId: expect.any(String),
    studentId: expect.any(String),
    verificationCode: cert?.verification_code,
    status: 'expired',
    expiresAt: expect.stringMatching(/^2021-01-01T00:00:00/),
  });
  expect(cert?.expiry_notified_at).toBeInstanceOf(Date);
}

describe('certificate.expired for a certificate that leaves issued before the sweep', () => {
  it('a renewal (later pass) and a revocation each announce the expiry once, before their own event; the sweep adds none', async () => {
    const renewed = await expiredCertificate();
    const revoked = await expiredCertificate();
    const retake = await createAttempt(t.sql, {
      studentId: renewed.studentId,
      courseId: renewed.courseId,
      score: 90,
    });
    const renewal = await applyLaterPassRule({ sql: t.sql, log }, { attemptId: retake });
    expect(renewal.outcome).toBe('renewed-after-expiry');
    // Superseded when its replacement is issued.
    await issueReplacement(t.sql, String(renewal.createdCertificateId));
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: revoked.id, reasonCode: 'issued-in-error', actor: 'staff' },
    );

    await expectExpiredAnnouncedFirst(renewed.id, 'certificate.reissued');
    await expectExpiredAnnouncedFirst(revoked.id, 'certificate.revoked');
    expect(await sweep()).toEqual({ marked: 0, announced: 0 });
    expect(await eventsOf(renewed.id)).toHaveLength(2);
    expect(await eventsOf(revoked.id)).toHaveLength(2);
  });

  it('a staff reissue announces the expiry of the certificate it replaces', async () => {
    const { cert, replacement } = await reissuedBeforeItsExpiry();
    await issueReplacement(t.sql, replacement.id);
    await expectExpiredAnnouncedFirst(cert.id, 'certificate.reissued');
    expect(await sweep()).toEqual({ marked: 0, announced: 0 });
  });

  it('an expired certificate waiting for its replacement is still issued: the sweep announces its expiry, the issue then only its supersession', async () => {
    const { cert, replacement } = await reissuedBeforeItsExpiry();
    expect(await sweep()).toEqual({ marked: 1, announced: 1 });
    await issueReplacement(t.sql, replacement.id);
    await expectExpiredAnnouncedFirst(cert.id, 'certificate.reissued');
  });

  it('announces nothing twice for an expiry the sweep announced, nor for one not reached yet', async () => {
    const swept = await expiredCertificate();
    expect(await sweep()).toEqual({ marked: 1, announced: 1 });
    const [marked] = await t.sql`SELECT expiry_notified_at FROM certificates WHERE id = ${swept.id}`;
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: swept.id, reasonCode: 'issued-in-error', actor: 'staff' },
    );
    expect((await eventsOf(swept.id)).map((e) => e.event_type)).toEqual([
      'certificate.expired',
      'certificate.revoked',
    ]);
    const [after] = await t.sql`SELECT expiry_notified_at FROM certificates WHERE id = ${swept.id}`;
    expect(after?.expiry_notified_at).toEqual(marked?.expiry_notified_at);

    const valid = await issuedCertificate(t.sql, { courseId: await createCourse(t.sql) });
    await t.sql`UPDATE certificates SET expires_at = now() + interval '1 day' WHERE id = ${valid.id}`;
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: valid.id, reasonCode: 'issued-in-error', actor: 'staff' },
    );
    expect((await eventsOf(valid.id)).map((e) => e.event_type)).toEqual(['certificate.revoked']);
    const [unmarked] = await t.sql`SELECT expiry_notified_at FROM certificates WHERE id = ${valid.id}`;
    expect(unmarked?.expiry_notified_at).toBeNull();
  });

  it('a certificate revoked before its expiry date is not announced as expired once that date has passed', async () => {
    // Receivers got certificate.revoked; a certificate.expired after it would be a wrong event
    // (the sweep announces issued certificates only), and LMS syncs acting on it would misreport.
    const cert = await issuedCertificate(t.sql, { courseId: await createCourse(t.sql) });
    await t.sql`UPDATE certificates SET expires_at = now() + interval '1 day' WHERE id = ${cert.id}`;
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: cert.id, reasonCode: 'issued-in-error', actor: 'staff' },
    );
    // Time passes: the expiry date it still records is now behind us.
    await t.sql`UPDATE certificates SET expires_at = now() - interval '1 day' WHERE id = ${cert.id}`;
    await sweep();
    expect((await eventsOf(cert.id)).map((e) => e.event_type)).toEqual(['certificate.revoked']);
    const [row] = await t.sql`SELECT expiry_notified_at FROM certificates WHERE id = ${cert.id}`;
    expect(row?.expiry_notified_at).toBeNull();
  });

  it('a silent (backfilled) certificate expires silently, as the sweep treats it, but is marked', async () => {
    const cert = await expiredCertificate();
    await t.sql`UPDATE certificates SET notify = false WHERE id = ${cert.id}`;
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: cert.id, reasonCode: 'issued-in-error', actor: 'staff' },
    );
    expect((await eventsOf(cert.id)).map((e) => e.event_type)).toEqual(['certificate.revoked']);
    const [row] = await t.sql`SELECT expiry_notified_at FROM certificates WHERE id = ${cert.id}`;
    expect(row?.expiry_notified_at).toBeInstanceOf(Date);
  });

  it('revocations racing the sweep announce each expiry exactly once', async () => {
    const certs = await Promise.all(Array.from({ length: 6 }, () => expiredCertificate()));
    await Promise.all([
      sweep(),
      ...certs.map((cert) =>
        revokeCertificate(
          { sql: t.sql, log },
          { certificateId: cert.id, reasonCode: 'issued-in-error', actor: randomUUID() },
        ),
      ),
    ]);
    for (const cert of certs) await expectExpiredAnnouncedFirst(cert.id, 'certificate.revoked');
  });

  it('a revocation that waited for the sweep to commit leaves the sweep’s announcement alone: one event, the sweep’s mark', async () => {
    const cert = await expiredCertificate();
    // The sweep, on its own connection, has marked and announced the expiry but not committed yet:
    // the revocation waits for the row, and must then judge it on the version the sweep left, not
    // on the one it read before waiting (where the expiry was still unannounced). A second event
    // would also meet the outbox's unique index; the sweep's mark is what only that judgement keeps.
    const sweptAt = new Date('2024-06-01T12:00:00Z');
    const revocation = await contendWithOpenTransaction(
      t.sql,
      async (sweeping) => {
        expect(await sweepExpiredCertificates({ sql: sweeping, log, now: () => sweptAt }, 1000)).toEqual({
          marked: 1,
          announced: 1,
        });
      },
      () =>
        revokeCertificate(
          { sql: t.sql, log },
          { certificateId: cert.id, reasonCode: 'issued-in-error', actor: 'staff' },
        ),
    );
    expect(revocation.status).toBe('fulfilled');
    await expectExpiredAnnouncedFirst(cert.id, 'certificate.revoked');
    const [row] = await t.sql<{ expiry_notified_at: Date | null }[]>`
      SELECT expiry_notified_at FROM certificates WHERE id = ${cert.id}`;
    expect(row?.expiry_notified_at).toEqual(sweptAt);
  });
});
