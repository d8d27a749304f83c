import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import {
  applyLaterPassRule,
  assignIssueLifecycle,
  backfillIssueLifecycle,
  CertificateStateError,
  effectiveStatus,
  expiresAtFor,
  laterPassesNeedingStaff,
  reissueCertificate,
  revokeCertificate,
} from '../../lib/certificates/lifecycle.ts';
import type { CertificateRenderer } from '../../lib/certificates/ports.ts';
import { findPublicCertificate } from '../../lib/certificates/read-model.ts';
import { decideLaterPasses } from '../../lib/certificates/scan.ts';
import { getBit, setIndexes } from '../../lib/credentials/status-list.ts';
import type { Sql } from '../../lib/db/client.ts';
import { NotFoundError, ValidationError } from '../../lib/errors.ts';
import { sweepExpiredCertificates } from '../../lib/webhooks/expiry-sweep.ts';
import type { TestEnv } from '../support/env.ts';
import { gate } from '../support/gate.ts';
import { untilWaitingForLock } from '../support/lock-wait.ts';
import {
  issuedAndReplaced as issuedAndReplacedIn,
  issuedCertificate,
  issueReplacement,
  renderingCertificate,
} from './lifecycle-fixtures.ts';
import {
  createAttempt,
  createCourse,
  generateOptions,
  listKeys,
  makeGenerateDeps,
  pipelineTestFile,
} from './pipeline-fixtures.ts';

let t: TestEnv;
const { renderer, keycloak, log } = pipelineTestFile((env) => {
  t = env;
});

const issued = issuedCertificate;

const issuedAndReplaced = (courseId: string, firstName: string, lastName: string, reason: string) =>
  issuedAndReplacedIn({ sql: t.sql, log, keycloak }, courseId, { firstName, lastName }, reason);

async function listBits(sql: Sql, certificateId: string): Promise<{ bits: Uint8Array; index: number }> {
  const [row] = await sql<{ bits: Buffer; status_list_index: number }[]>`
    SELECT l.bits, c.status_list_index FROM certificates c JOIN status_lists l ON l.id = c.status_list_id
    WHERE c.id = ${certificateId}`;
  if (!row) throw new Error('no status entry');
  return { bits: new Uint8Array(row.bits), index: row.status_list_index };
}

async function log_(sql: Sql, certificateId: string) {
  return sql<
    { event: string; actor: string | null; message: string | null; details: Record<string, unknown> }[]
  >`
    SELECT event, actor, message, details FROM certificate_generation_log
    WHERE certificate_id = ${certificateId} ORDER BY id`;
}

describe('revokeCertificate', () => {
  it('moves an issued certificate to revoked with reason and actor, sets exactly its status bit, deletes nothing', async () => {
    const courseId = await createCourse(t.sql);
    const other = await issued(t.sql, { courseId });
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: other.id, reasonCode: 'issued-in-error', actor: 'staff-0' },
    );
    const cert = await issued(t.sql, { courseId });
    const before = await listBits(t.sql, cert.id);

    const result = await revokeCertificate(
      { sql: t.sql, log },
      {
        certificateId: cert.id,
        reasonCode: 'academic-misconduct',
        reasonText: 'copied answers',
        actor: 'staff-1',
      },
    );

    expect(result).toMatchObject({ id: cert.id, reasonCode: 'academic-misconduct', statusBitSet: true });
    const [row] = await t.sql`
      SELECT status, revoked_at, revocation_reason, revoked_reason, revoked_by, s3_key FROM certificates
      WHERE id = ${cert.id}`;
    expect(row).toMatchObject({
      status: 'revoked',
      revocation_reason: 'academic-misconduct',
      revoked_reason: 'copied answers',
      revoked_by: 'staff-1',
      s3_key: `certificates/${cert.id}.pdf`,
    });
    expect(row?.revoked_at).toBeInstanceOf(Date);
    const after = await listBits(t.sql, cert.id);
    expect(getBit(before.bits, before.index)).toBe(false);
    expect(getBit(after.bits, after.index)).toBe(true);
    const flipped = setIndexes(after.bits).filter((i) => !setIndexes(before.bits).includes(i));
    expect(flipped).toEqual([after.index]);
    const audit = await log_(t.sql, cert.id);
    expect(audit).toEqual([
      expect.objectContaining({
        event: 'revoked',
        actor: 'staff-1',
        message: 'copied answers',
        details: expect.objectContaining({
          reason_code: 'academic-misconduct',
          status_list_index: after.index,
        }),
      }),
    ]);
  });

  it('text that prints nothing (a zero-width space) beside a reason code is no text: the code stands alone', async () => {
    const courseId = await createCourse(t.sql);
    const cert = await issued(t.sql, { courseId });
    const result = await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: cert.id, reasonCode: 'issued-in-error', reasonText: '\u200B\u2060', actor: 'staff-1' },
    );
    expect(result.reasonText).toBeNull();
    const [row] = await t.sql`SELECT revoked_reason FROM certificates WHERE id = ${cert.id}`;
    expect(row?.revoked_reason).toBeNull();
    expect((await log_(t.sql, cert.id)).find((entry) => entry.event === 'revoked')?.message).toBe(
      'issued-in-error',
    );
  });

  it('lets exactly one of five concurrent revocations win; the others get a clear domain error', async () => {
    const cert = await issued(t.sql, { courseId: await createCourse(t.sql) });
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) =>
        revokeCertificate(
          { sql: t.sql, log },
          { certificateId: cert.id, reasonCode: 'identity-fraud', actor: `staff-${i}` },
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(4);
    for (const r of rejected) {
      expect(r.reason).toBeInstanceOf(CertificateStateError);
      expect(r.reason.message).toBe('certificate is already revoked');
    }
    expect((await log_(t.sql, cert.id)).filter((e) => e.event === 'revoked')).toHaveLength(1);
  });

  it('refuses unknown reasons, "other" without text, certificates that are not issued and unknown ids', async () => {
    const courseId = await createCourse(t.sql);
    const cert = await issued(t.sql, { courseId });
    const deps = { sql: t.sql, log };
    await expect(
      revokeCertificate(deps, { certificateId: cert.id, reasonCode: 'other', actor: 'staff' }),
    ).rejects.toThrow(ValidationError);
    await expect(
      revokeCertificate(deps, { certificateId: cert.id, reasonCode: 'boredom' as 'other', actor: 'staff' }),
    ).rejects.toThrow(/reasonCode/);
    await expect(
      revokeCertificate(deps, { certificateId: cert.id, reasonCode: 'issued-in-error', actor: ' ' }),
    ).rejects.toThrow(ValidationError);
    const pendingAttempt = await createAttempt(t.sql, { studentId: randomUUID(), courseId, score: 90 });
    const [pending] = await t.sql<{ id: string }[]>`
      INSERT INTO certificates (student_id, course_id, test_attempt_id)
      SELECT student_id, course_id, id FROM test_attempts WHERE id = ${pendingAttempt} RETURNING id`;
    await expect(
      revokeCertificate(deps, {
        certificateId: pending?.id ?? '',
        reasonCode: 'issued-in-error',
        actor: 'staff',
      }),
    ).rejects.toThrow(/certificate is pending; only issued certificates can be revoked/);
    await expect(
      revokeCertificate(deps, { certificateId: randomUUID(), reasonCode: 'issued-in-error', actor: 'staff' }),
    ).rejects.toThrow(NotFoundError);
    const [still] = await t.sql`SELECT status FROM certificates WHERE id = ${cert.id}`;
    expect(still?.status).toBe('issued');
  });
});

describe('reissueCertificate', () => {
  it('replaces the old certificate with a new one that the pipeline renders exactly once under a new key, and supersedes the old one only then', async () => {
    const courseId = await createCourse(t.sql, { title: 'Reissue 101' });
    const student = await keycloak.addUser({ firstName: 'Ada', lastName: 'Byron' });
    const first = await issued(t.sql, { courseId, studentId: student.id });
    const [old] = await t.sql`SELECT verification_code, s3_key FROM certificates WHERE id = ${first.id}`;
    const oldCode = String(old?.verification_code);

    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () =>
        reissueCertificate(
          { sql: t.sql, log },
          { certificateId: first.id, reason: 'name change', actor: 'staff-2' },
        ),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
      expect(r.reason).toBeInstanceOf(CertificateStateError);
      expect(r.reason.details).toMatchObject({ status: 'replacement-pending' });
      expect(r.reason.message).toBe(
        'a replacement of this certificate is already being issued (if it is dead, requeue it)',
      );
    }
    const newId = won[0]?.status === 'fulfilled' ? won[0].value.id : '';

    // Until the replacement is issued, the old certificate is what the holder has: issued, valid,
    // its status bit clear.
    const rows = await t.sql`
      SELECT id, status, superseded_by, replaces, test_attempt_id, verification_code FROM certificates
      WHERE student_id = ${student.id} ORDER BY created_at`;
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ id: first.id, status: 'issued', superseded_by: null });
    expect(rows[1]).toMatchObject({
      id: newId,
      status: 'pending',
      replaces: first.id,
      test_attempt_id: first.attemptId,
    });
    expect(rows[1]?.verification_code).not.toBe(old?.verification_code);
    expect(await log_(t.sql, first.id)).toEqual([
      expect.objectContaining({ event: 'reissue-requested', actor: 'staff-2', message: 'name change' }),
    ]);
    expect(await log_(t.sql, newId)).toEqual([
      expect.objectContaining({
        event: 'created',
        actor: 'staff-2',
        details: expect.objectContaining({ reissue_of: first.id }),
      }),
    ]);
    const oldBits = await listBits(t.sql, first.id);
    expect(getBit(oldBits.bits, oldBits.index)).toBe(false);
    expect(await findPublicCertificate(t.sql, oldCode)).toMatchObject({
      status: 'valid',
      supersededByCode: null,
    });

    // The normal pipeline: two concurrent invocations, one PDF, one issued row, a new key.
    const options = generateOptions();
    const outcomes = await Promise.all([
      generateCertificate(makeGenerateDeps(t, renderer), options, newId),
      generateCertificate(makeGenerateDeps(t, renderer), options, newId),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['issued', 'skipped']);
    const [fresh] = await t.sql`SELECT status, s3_key, student_name FROM certificates WHERE id = ${newId}`;
    expect(fresh).toMatchObject({ status: 'issued', student_name: 'Ada Byron' });
    expect(fresh?.s3_key).not.toBe(old?.s3_key);
    expect((await listKeys(t)).filter((key) => key.includes(student.id))).toEqual([fresh?.s3_key]);
    expect(await assignIssueLifecycle(t.sql, newId)).toMatchObject({ statusListIndex: expect.any(Number) });

    // Issued: in the same transaction the old one was superseded, by whoever asked and why, and
    // flagged in the status list; its page links to the new one.
    const [after] = await t.sql`SELECT status, superseded_by FROM certificates WHERE id = ${first.id}`;
    expect(after).toEqual({ status: 'superseded', superseded_by: newId });
    expect(await log_(t.sql, first.id)).toEqual([
      expect.objectContaining({ event: 'reissue-requested' }),
      expect.objectContaining({
        event: 'superseded',
        actor: 'staff-2',
        message: 'name change',
        details: expect.objectContaining({ superseded_by: newId }),
      }),
    ]);
    const bitsAfter = await listBits(t.sql, first.id);
    expect(getBit(bitsAfter.bits, bitsAfter.index)).toBe(true);
    expect(await findPublicCertificate(t.sql, oldCode)).toMatchObject({
      status: 'superseded',
      supersededByCode: rows[1]?.verification_code,
      replacementPending: false,
    });
  });

  it('a replacement that dies leaves the old certificate issued and valid; requeued and issued, it supersedes it', async () => {
    const courseId = await createCourse(t.sql, { title: 'Reissue 102' });
    const { student, first, newId } = await issuedAndReplaced(courseId, 'Grace', 'Hopper', 'template fix');
    // Keycloak refuses the student for the replacement's every attempt: it goes dead.
    await keycloak.fault(student.id, 503);
    const options = generateOptions({ maxAttempts: 1 });
    expect(await generateCertificate(makeGenerateDeps(t, renderer), options, newId)).toMatchObject({
      status: 'dead',
    });
    const [old] =
      await t.sql`SELECT status, superseded_by, verification_code FROM certificates WHERE id = ${first.id}`;
    expect(old).toMatchObject({ status: 'issued', superseded_by: null });
    expect(await findPublicCertificate(t.sql, String(old?.verification_code))).toMatchObject({
      status: 'valid',
    });
    const bits = await listBits(t.sql, first.id);
    expect(getBit(bits.bits, bits.index)).toBe(false);
    // A second reissue while the dead one is there: requeue it instead.
    await expect(
      reissueCertificate({ sql: t.sql, log }, { certificateId: first.id, reason: 'again', actor: 'staff' }),
    ).rejects.toMatchObject({ details: { status: 'replacement-pending' } });

    await keycloak.clearFault(student.id);
    await t.sql`UPDATE certificates SET status = 'pending', attempt_count = 0, next_attempt_at = now() WHERE id = ${newId}`;
    expect(await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), newId)).toMatchObject({
      status: 'issued',
    });
    const [after] = await t.sql`SELECT status, superseded_by FROM certificates WHERE id = ${first.id}`;
    expect(after).toEqual({ status: 'superseded', superseded_by: newId });
  });

  it('a revocation racing the replacement being issued ends one of two ways, never with both live or neither decided', async () => {
    const courseId = await createCourse(t.sql, { title: 'Reissue race 101' });
    // The revocation is sent while the replacement renders (its claim is committed, its issue
    // not yet begun) or the moment the render ends, racing the issuing transaction's locks.
    for (const when of ['while rendering', 'as the issue begins', 'while rendering', 'as the issue begins']) {
      const { first, newId } = await issuedAndReplaced(courseId, 'Race', when.replaceAll(' ', '-'), 'race');
      const moment = gate();
      const observed: CertificateRenderer = {
        render: async (content, template) => {
          if (when === 'while rendering') moment.open();
          const result = await renderer.render(content, template);
          if (when === 'as the issue begins') moment.open();
          return result;
        },
        close: () => renderer.close(),
      };
      const [generated, revoked] = await Promise.allSettled([
        generateCertificate(makeGenerateDeps(t, observed), generateOptions(), newId),
        moment
          .wait()
          .then(() =>
            revokeCertificate(
              { sql: t.sql, log },
              { certificateId: first.id, reasonCode: 'issued-in-error', actor: 'staff' },
            ),
          ),
      ]);
      expect(generated.status, when).toBe('fulfilled');
      const rows = await t.sql<{ id: string; status: string }[]>`
        SELECT id, status::text FROM certificates WHERE id IN (${first.id}, ${newId})`;
      const status = Object.fromEntries(rows.map((row) => [row.id, row.status]));
      if (revoked.status === 'fulfilled') {
        // The revocation first: the replacement went with it and was never issued.
        expect(status, when).toEqual({ [first.id]: 'revoked', [newId]: 'revoked' });
        expect(generated.status === 'fulfilled' && generated.value.status, when).toBe('skipped');
      } else {
        // The issue first: the original was superseded, so there is nothing left to revoke.
        expect(revoked.reason, when).toBeInstanceOf(CertificateStateError);
        expect(revoked.reason.details, when).toMatchObject({ status: 'superseded' });
        expect(status, when).toEqual({ [first.id]: 'superseded', [newId]: 'issued' });
      }
    }
  });

  it('revoking a certificate whose replacement waits revokes the replacement too, silently, and nothing is issued', async () => {
    const courseId = await createCourse(t.sql, { title: 'Reissue 103' });
    const { first, newId } = await issuedAndReplaced(courseId, 'Alan', 'Turing', 'name change');
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reasonCode: 'issued-in-error', actor: 'staff-3' },
    );
    const [replacement] =
      await t.sql`SELECT status, revoked_by, generated_at FROM certificates WHERE id = ${newId}`;
    expect(replacement).toMatchObject({ status: 'revoked', revoked_by: 'staff-3', generated_at: null });
    expect(await log_(t.sql, newId)).toEqual([
      expect.objectContaining({ event: 'created' }),
      expect.objectContaining({ event: 'revoked', message: 'the certificate it was to replace was revoked' }),
    ]);
    // Never issued, so no webhook receiver hears of its revocation; the original's is announced.
    const events = await t.sql<{ certificate_id: string; event_type: string }[]>`
      SELECT certificate_id, event_type FROM webhook_outbox WHERE certificate_id IN (${first.id}, ${newId})
        AND event_type = 'certificate.revoked'`;
    expect(events).toEqual([{ certificate_id: first.id, event_type: 'certificate.revoked' }]);
    expect(await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), newId)).toMatchObject({
      status: 'skipped',
    });
  });

  it('prints the name corrected in Keycloak, even where the container still caches the old one', async () => {
    const courseId = await createCourse(t.sql, { title: 'Renamed 101' });
    const student = await keycloak.addUser({ firstName: 'Ada', lastName: 'Byron' });
    const deps = makeGenerateDeps(t, renderer);
    // This container looked the student up for the first certificate (cached for 300 s).
    expect((await deps.directory.getStudent(student.id)).displayName).toBe('Ada Byron');
    const first = await issued(t.sql, { courseId, studentId: student.id });
    // Staff correct the name in Keycloak, then reissue at once.
    await keycloak.addUser({ ...student, lastName: 'Lovelace' });
    const { id: newId } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reason: 'name corrected', actor: 'staff' },
    );
    expect(await generateCertificate(deps, generateOptions(), newId)).toMatchObject({ status: 'issued' });
    const [row] = await t.sql`SELECT student_name FROM certificates WHERE id = ${newId}`;
    expect(row?.student_name).toBe('Ada Lovelace');
    // A certificate that replaces none still uses the cache (the guide's advice): the fresh read
    // refreshed it, and a rename after that is not seen within the cache's lifetime.
    await keycloak.addUser({ ...student, lastName: 'King' });
    expect((await deps.directory.getStudent(student.id)).displayName).toBe('Ada Lovelace');
  });

  it('a reissue is a correction: its replacement keeps the expiry, and an expired certificate is refused', async () => {
    const courseId = await createCourse(t.sql, { title: 'Reissue expiry 101' });
    await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${courseId}`;
    const student = await keycloak.addUser({ firstName: 'Edsger', lastName: 'Dijkstra' });
    const elevenMonthsAgo = new Date();
    elevenMonthsAgo.setUTCMonth(elevenMonthsAgo.getUTCMonth() - 11);
    const first = await issued(t.sql, {
      courseId,
      studentId: student.id,
      issuedOn: elevenMonthsAgo.toISOString().slice(0, 10),
    });
    const { id: newId } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reason: 'name fix', actor: 'staff' },
    );
    expect(await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), newId)).toMatchObject({
      status: 'issued',
    });
    const rows = await t.sql<{ id: string; expires_at: Date; issued_on: string }[]>`
      SELECT id, expires_at, issued_on::text FROM certificates WHERE id IN (${first.id}, ${newId})`;
    const original = rows.find((row) => row.id === first.id);
    const replacement = rows.find((row) => row.id === newId);
    expect(original?.expires_at.getTime()).toBeGreaterThan(Date.now());
    // Printed today, valid as long as the certificate it corrects: not 12 months more.
    expect(replacement?.issued_on).not.toBe(original?.issued_on);
    expect(replacement?.expires_at).toEqual(original?.expires_at);

    // Drawn on the first attempt, or recomputed for a retry's later date: the original's expiry.
    const second = await issuedAndReplaced(courseId, 'Barbara', 'Liskov', 'template fix');
    const [secondExpiry] = await t.sql<{ expires_at: Date }[]>`
      SELECT expires_at FROM certificates WHERE id = ${second.first.id}`;
    await t.sql`
      UPDATE certificates SET status = 'rendering', lease_owner = 'worker', lease_expires_at = now() + interval '1 minute'
      WHERE id = ${second.newId}`;
    for (const issuedOn of ['2031-05-01', '2032-02-29'])
      expect((await assignIssueLifecycle(t.sql, second.newId, { issuedOn }))?.expiresAt).toEqual(
        secondExpiry?.expires_at,
      );

    // The original lapsed while its correction waited: the correction is issued expired, and its
    // issue, not a later sweep, is what receivers hear of it (an expiry dated before the issue).
    const third = await issuedAndReplaced(courseId, 'Frances', 'Allen', 'name fix');
    await t.sql`UPDATE certificates SET expires_at = now() - interval '1 hour' WHERE id = ${third.first.id}`;
    expect(
      await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), third.newId),
    ).toMatchObject({
      status: 'issued',
    });
    const [born] = await t.sql<{ expired: boolean; marked: boolean }[]>`
      SELECT expires_at <= now() AS expired, expiry_notified_at IS NOT NULL AS marked
      FROM certificates WHERE id = ${third.newId}`;
    expect(born).toEqual({ expired: true, marked: true });
    await sweepExpiredCertificates({ sql: t.sql, log, now: () => new Date() }, 1000);
    const events = await t.sql<{ event_type: string }[]>`
      SELECT event_type FROM webhook_outbox WHERE certificate_id = ${third.newId}`;
    expect(events.map((event) => event.event_type)).toEqual(['certificate.issued']);

    // The inherited expiry passes while the correction renders (after the claim dated it, before
    // the issue commits): judged at the issue, so again no expiry dated before the issue event.
    const fourth = await issuedAndReplaced(courseId, 'Jean', 'Sammet', 'name fix');
    const lapsing: CertificateRenderer = {
      render: async (content, template) => {
        await t.sql`UPDATE certificates SET expires_at = clock_timestamp() WHERE id = ${fourth.newId}`;
        return await renderer.render(content, template);
      },
      close: async () => undefined,
    };
    expect(
      await generateCertificate(makeGenerateDeps(t, lapsing), generateOptions(), fourth.newId),
    ).toMatchObject({ status: 'issued' });
    await sweepExpiredCertificates({ sql: t.sql, log, now: () => new Date() }, 1000);
    const lapsedEvents = await t.sql<{ event_type: string }[]>`
      SELECT event_type FROM webhook_outbox WHERE certificate_id = ${fourth.newId} ORDER BY occurred_at, id`;
    expect(lapsedEvents.map((event) => event.event_type)).toEqual(['certificate.issued']);

    const lapsed = await issued(t.sql, { courseId, issuedOn: '2020-01-01' });
    await expect(
      reissueCertificate(
        { sql: t.sql, log },
        { certificateId: lapsed.id, reason: 'name fix', actor: 'staff' },
      ),
    ).rejects.toMatchObject({
      details: { status: 'expired' },
      message: expect.stringMatching(/expired; a reissue keeps its expiry/),
    });
    const [none] = await t.sql`SELECT count(*)::int AS n FROM certificates WHERE replaces = ${lapsed.id}`;
    expect(none?.n).toBe(0);
  });

  it('refuses a revoked certificate (revocation is final)', async () => {
    const cert = await issued(t.sql, { courseId: await createCourse(t.sql) });
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: cert.id, reasonCode: 'issued-in-error', actor: 's' },
    );
    await expect(
      reissueCertificate({ sql: t.sql, log }, { certificateId: cert.id, reason: 'undo', actor: 's' }),
    ).rejects.toThrow(/certificate is revoked; only issued certificates can be reissued/);
  });
});

describe('expiry and status entries at issue', () => {
  it('sets expires_at from the course validity exactly as expiresAtFor computes it', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET validity_months = 1 WHERE id = ${courseId}`;
    const cert = await issued(t.sql, { courseId, issuedOn: '2024-01-31' });
    const [row] = await t.sql<
      { expires_at: Date }[]
    >`SELECT expires_at FROM certificates WHERE id = ${cert.id}`;
    expect(row?.expires_at.toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(expiresAtFor('2024-01-31', 1)?.toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(expiresAtFor('2025-11-15', 24)?.toISOString()).toBe('2027-11-15T00:00:00.000Z');
    expect(expiresAtFor('2025-11-15', null)).toBeNull();
    // Years 0001-0099 stay themselves (Date.UTC would read them as 1900-1999).
    expect(expiresAtFor('0050-03-01', 12)?.toISOString()).toBe('0051-03-01T00:00:00.000Z');
    expect(expiresAtFor('0099-12-31', 2)?.toISOString()).toBe('0100-02-28T00:00:00.000Z');

    const noExpiry = await issued(t.sql, { courseId: await createCourse(t.sql) });
    const [never] = await t.sql`SELECT expires_at FROM certificates WHERE id = ${noExpiry.id}`;
    expect(never?.expires_at).toBeNull();
  });

  it('gives a certificate being rendered its entry and the expiry of the date it will print: on retry the same entry, the expiry of the retry', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET validity_months = 6 WHERE id = ${courseId}`;
    const id = await renderingCertificate(t.sql, courseId);
    const first = await assignIssueLifecycle(t.sql, id, { issuedOn: '2025-08-31' });
    expect(first?.expiresAt?.toISOString()).toBe('2026-02-28T00:00:00.000Z');
    expect(first?.expiresAt).toEqual(expiresAtFor('2025-08-31', 6));
    // A retry (or a requeue) months later prints its own date: a full validity from it.
    const retry = await assignIssueLifecycle(t.sql, id, { issuedOn: '2026-03-10', owner: 'worker' });
    expect(retry).toEqual({ ...first, expiresAt: expiresAtFor('2026-03-10', 6) });
    // A worker whose lease was taken over ('worker' holds it) leaves the holder's expiry alone.
    await assignIssueLifecycle(t.sql, id, { issuedOn: '2027-01-05', owner: 'stale-worker' });
    const [kept] = await t.sql<{ expires_at: Date }[]>`SELECT expires_at FROM certificates WHERE id = ${id}`;
    expect(kept?.expires_at).toEqual(retry?.expiresAt);
    // Once issued, the expiry is the certificate's and stays.
    await t.sql`
      UPDATE certificates SET status = 'issued', issued_on = '2026-03-10', s3_key = 'k', generated_at = now(),
        pdf_sha256 = repeat('0', 64) WHERE id = ${id}`;
    expect(await assignIssueLifecycle(t.sql, id, { issuedOn: '2026-04-01' })).toEqual(retry);
    const pendingAttempt = await createAttempt(t.sql, { studentId: randomUUID(), courseId, score: 90 });
    const [pending] = await t.sql<{ id: string }[]>`
      INSERT INTO certificates (student_id, course_id, test_attempt_id)
      SELECT student_id, course_id, id FROM test_attempts WHERE id = ${pendingAttempt} RETURNING id`;
    expect(await assignIssueLifecycle(t.sql, pending?.id ?? '')).toBeNull();
  });

  it('says expired after the date, not before', () => {
    const expiresAt = new Date('2026-01-01T00:00:00Z');
    expect(
      effectiveStatus({ status: 'issued', expires_at: expiresAt }, new Date('2025-12-31T23:59:59Z')),
    ).toBe('issued');
    expect(effectiveStatus({ status: 'issued', expires_at: expiresAt }, expiresAt)).toBe('expired');
    expect(effectiveStatus({ status: 'revoked', expires_at: expiresAt }, new Date('2027-01-01Z'))).toBe(
      'revoked',
    );
    expect(effectiveStatus({ status: 'issued', expires_at: null }, new Date('2100-01-01Z'))).toBe('issued');
  });

  it('draws a free random index again when the drawn one is taken, and opens a new list at half full', async () => {
    const courseId = await createCourse(t.sql);
    const a = await issued(t.sql, { courseId });
    const { index } = await listBits(t.sql, a.id);
    const draws = [index, index, (index + 1) % 131_072];
    const b = await issued(t.sql, { courseId });
    await t.sql`UPDATE certificates SET status_list_id = NULL, status_list_index = NULL WHERE id = ${b.id}`;
    const entry = await assignIssueLifecycle(t.sql, b.id, { random: () => draws.shift() ?? 0 });
    expect(entry?.statusListIndex).toBe((index + 1) % 131_072);
    // Idempotent.
    expect(await assignIssueLifecycle(t.sql, b.id)).toEqual(entry);

    await t.sql`UPDATE status_lists SET allocated = size / 2`;
    const c = await issued(t.sql, { courseId });
    const [lists] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM status_lists`;
    const [cRow] = await t.sql`SELECT status_list_id FROM certificates WHERE id = ${c.id}`;
    const [aRow] = await t.sql`SELECT status_list_id FROM certificates WHERE id = ${a.id}`;
    expect(lists?.n).toBe(2);
    expect(cRow?.status_list_id).not.toBe(aRow?.status_list_id);
    const [size] =
      await t.sql`SELECT size, octet_length(bits) AS bytes FROM status_lists WHERE id = ${cRow?.status_list_id}`;
    expect(size).toEqual({ size: 131_072, bytes: 16_384 });
  });

  it('gives certificates allocating at the same time distinct indexes, and counts each once', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${courseId}`;
    const rendering = () => renderingCertificate(t.sql, courseId);
    const ids: string[] = [];
    for (let i = 0; i < 24; i++) ids.push(await rendering());
    const count = async (query: Promise<{ n: number }[]>) => (await query)[0]?.n ?? 0;
    const allocated = () => count(t.sql`SELECT coalesce(sum(allocated), 0)::int AS n FROM status_lists`);
    const entries = () =>
      count(t.sql`SELECT count(*)::int AS n FROM certificates WHERE status_list_id IS NOT NULL`);
    const [allocatedBefore, entriesBefore] = [await allocated(), await entries()];
    // Draws from 30 indexes no earlier test took, so certificates collide:
    // on a taken index, or on one another's index in the same instant.
    const [{ taken } = { taken: [] as number[] }] = await t.sql<{ taken: number[] }[]>`
      SELECT coalesce(array_agg(status_list_index), '{}') AS taken FROM certificates WHERE status_list_index IS NOT NULL`;
    const free = Array.from({ length: 200 }, (_, i) => i)
      .filter((i) => !taken.includes(i))
      .slice(0, 30);
    let draws = 0;
    const random = () => {
      draws += 1;
      return free[Math.floor(Math.random() * free.length)] ?? 0;
    };
    // Each certificate twice at once (a doubled invocation): one entry, counted once.
    const results = await Promise.all(
      [...ids, ...ids].map((id) => assignIssueLifecycle(t.sql, id, { random })),
    );

    const byId = new Map<string, unknown>();
    results.forEach((result, i) => {
      const id = [...ids, ...ids][i] ?? '';
      if (byId.has(id)) expect(result).toEqual(byId.get(id));
      else byId.set(id, result);
    });
    const rows = await t.sql<
      { status_list_id: string; status_list_index: number; expires_at: Date | null }[]
    >`
      SELECT status_list_id, status_list_index, expires_at FROM certificates WHERE id = ANY(${ids}::uuid[])`;
    expect(rows).toHaveLength(24);
    expect(new Set(rows.map((row) => `${row.status_list_id}:${row.status_list_index}`)).size).toBe(24);
    for (const row of rows) expect(row.expires_at).toBeInstanceOf(Date);
    expect((await allocated()) - allocatedBefore).toBe(24);
    expect((await entries()) - entriesBefore).toBe(24);
    expect(draws).toBeGreaterThan(24);
  });

  it('opens one new list when many allocations at once find none open, each with its own entry', async () => {
    const courseId = await createCourse(t.sql);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await renderingCertificate(t.sql, courseId));
    // Close every list earlier tests opened (half full): no list is open.
    await t.sql`UPDATE status_lists SET allocated = size / 2`;
    const [{ existing } = { existing: [] as string[] }] = await t.sql<{ existing: string[] }[]>`
      SELECT coalesce(array_agg(id), '{}') AS existing FROM status_lists`;

    await Promise.all(ids.map((id) => assignIssueLifecycle(t.sql, id)));

    const opened = await t.sql<{ id: string; allocated: number }[]>`
      SELECT id, allocated FROM status_lists WHERE NOT (id = ANY(${existing}::uuid[]))`;
    expect(opened).toEqual([{ id: expect.any(String), allocated: 40 }]);
    const entries = await t.sql<{ list: string; index: number }[]>`
      SELECT status_list_id AS list, status_list_index AS index FROM certificates WHERE id = ANY(${ids}::uuid[])`;
    expect(new Set(entries.map((entry) => entry.list))).toEqual(new Set([opened[0]?.id]));
    expect(new Set(entries.map((entry) => entry.index)).size).toBe(40);
  });

  it('draws again when another allocation took the same index a moment before (the unique index decides)', async () => {
    const courseId = await createCourse(t.sql);
    const rendering = () => renderingCertificate(t.sql, courseId);
    const [first, second] = [await rendering(), await rendering()];
    await assignIssueLifecycle(t.sql, first);
    const [entry] = await t.sql<{ list: string; index: number }[]>`
      SELECT status_list_id AS list, status_list_index AS index FROM certificates WHERE id = ${first}`;
    const free = await t.sql<{ index: number }[]>`
      SELECT i AS index FROM generate_series(0, 1000) i
      WHERE NOT EXISTS (SELECT 1 FROM certificates WHERE status_list_id = ${entry?.list ?? null} AND status_list_index = i)
      ORDER BY i LIMIT 2`;
    const [contested = 0, fallback = 0] = free.map((row) => row.index);
    expect(fallback).toBeGreaterThan(contested);
    const draws = [contested, fallback];
    let allocation: ReturnType<typeof assignIssueLifecycle> | undefined;
    await t.sql.begin(async (tx) => {
      // Another allocation holds `contested`, not yet committed: the second certificate cannot
      // see it, so its statement waits on the unique index and fails once this commits.
      await tx`UPDATE certificates SET status_list_id = NULL, status_list_index = NULL WHERE id = ${first}`;
      await tx`UPDATE certificates SET status_list_id = ${entry?.list ?? null}, status_list_index = ${contested}
               WHERE id = ${first}`;
      allocation = assignIssueLifecycle(t.sql, second, { random: () => draws.shift() ?? 999 });
      await untilWaitingForLock(t.sql, { queryLike: '%WITH assigned AS%' });
    });
    expect(await allocation).toMatchObject({ statusListId: entry?.list, statusListIndex: fallback });
    expect(draws).toEqual([]);
  });

  it('backfills issued certificates that have no status entry, and leaves the rest alone', async () => {
    const cert = await issued(t.sql, { courseId: await createCourse(t.sql) });
    await t.sql`UPDATE certificates SET status_list_id = NULL, status_list_index = NULL WHERE id = ${cert.id}`;
    expect(await backfillIssueLifecycle(t.sql, 1000)).toBeGreaterThanOrEqual(1);
    const [row] = await t.sql`SELECT status_list_index FROM certificates WHERE id = ${cert.id}`;
    expect(row?.status_list_index).toEqual(expect.any(Number));
    expect(await backfillIssueLifecycle(t.sql, 1000)).toBe(0);
  });

  it('npm run migrate is where the backfill runs: after the migrations, once', async () => {
    const cert = await issued(t.sql, { courseId: await createCourse(t.sql) });
    await t.sql`UPDATE certificates SET status_list_id = NULL, status_list_index = NULL WHERE id = ${cert.id}`;
    const migrate = () =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts'], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        env: { ...process.env, ...t.env },
        timeout: 60_000,
      });
    expect((await migrate()).stdout).toContain('Gave 1 issued certificate(s) their status-list entry.');
    const [row] = await t.sql`SELECT status_list_index FROM certificates WHERE id = ${cert.id}`;
    expect(row?.status_list_index).toEqual(expect.any(Number));
    expect((await migrate()).stdout).not.toContain('Gave');
  });
});

describe('later passing attempts', () => {
  it('issues a new certificate exactly once when three concurrent calls see a later pass after revocation', async () => {
    const courseId = await createCourse(t.sql);
    const first = await issued(t.sql, { courseId });
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reasonCode: 'attempt-invalidated', actor: 's' },
    );
    const attemptId = await createAttempt(t.sql, { studentId: first.studentId, courseId, score: 85 });

    const results = await Promise.all(
      Array.from({ length: 3 }, () => applyLaterPassRule({ sql: t.sql, log }, { attemptId, actor: 'scan' })),
    );

    expect(results.map((r) => r.outcome)).toEqual(Array(3).fill('issued-after-revocation'));
    expect(results.filter((r) => r.decided)).toHaveLength(1);
    const created = results.find((r) => r.decided)?.createdCertificateId;
    const certs = await t.sql`SELECT id, status FROM certificates WHERE test_attempt_id = ${attemptId}`;
    expect(certs).toEqual([{ id: created, status: 'pending' }]);
    expect(await log_(t.sql, created ?? '')).toEqual([
      expect.objectContaining({
        event: 'created',
        actor: 'scan',
        message: 'later pass after revocation: new certificate',
        details: expect.objectContaining({
          previous_certificate_id: first.id,
          rule: 'issued-after-revocation',
        }),
      }),
    ]);
  });

  it('issues one certificate when three different later passes arrive at once after a revocation', async () => {
    const courseId = await createCourse(t.sql);
    const first = await issued(t.sql, { courseId });
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reasonCode: 'issued-in-error', actor: 's' },
    );
    const attempts = await Promise.all(
      [81, 82, 83].map((score) => createAttempt(t.sql, { studentId: first.studentId, courseId, score })),
    );
    const results = await Promise.all(
      attempts.map((attemptId) => applyLaterPassRule({ sql: t.sql, log }, { attemptId })),
    );
    expect(results.filter((r) => r.createdCertificateId)).toHaveLength(1);
    // The losers find the new certificate still pending: recorded against it.
    expect(results.map((r) => r.outcome).sort()).toEqual([
      'in-progress',
      'in-progress',
      'issued-after-revocation',
    ]);
    const live = await t.sql`
      SELECT id FROM certificates WHERE student_id = ${first.studentId} AND status NOT IN ('revoked', 'superseded')`;
    expect(live).toHaveLength(1);
  });

  it('surfaces a later pass blocked by a dead certificate to staff, with an audit row and no new certificate', async () => {
    const courseId = await createCourse(t.sql);
    const studentId = randomUUID();
    const deadAttempt = await createAttempt(t.sql, { studentId, courseId, score: 90 });
    const [dead] = await t.sql<{ id: string }[]>`
      INSERT INTO certificates (student_id, course_id, test_attempt_id, status, last_error)
      VALUES (${studentId}, ${courseId}, ${deadAttempt}, 'dead', 'student deleted') RETURNING id`;
    const attemptId = await createAttempt(t.sql, { studentId, courseId, score: 95 });

    const result = await applyLaterPassRule({ sql: t.sql, log }, { attemptId });

    expect(result).toMatchObject({
      outcome: 'staff-review',
      createdCertificateId: null,
      liveCertificateId: dead?.id,
    });
    const all = await t.sql`SELECT id FROM certificates WHERE student_id = ${studentId}`;
    expect(all).toHaveLength(1);
    expect(await log_(t.sql, dead?.id ?? '')).toEqual([
      expect.objectContaining({
        event: 'later-pass-blocked',
        details: expect.objectContaining({ test_attempt_id: attemptId }),
      }),
    ]);
    const list = await laterPassesNeedingStaff(t.sql);
    expect(list).toContainEqual(expect.objectContaining({ attemptId, deadCertificateId: dead?.id }));

    // Older entries no longer blocked (their dead certificate was requeued and issued) come after
    // it: however many there are, a limit never hides an attempt still waiting for staff.
    const resolvedStudent = randomUUID();
    const resolvedAttempts = [];
    for (let i = 0; i < 3; i += 1)
      resolvedAttempts.push(
        await createAttempt(t.sql, { studentId: resolvedStudent, courseId, score: 80 + i }),
      );
    await t.sql`
      UPDATE test_attempts SET later_pass_outcome = 'staff-review', later_pass_at = now() - interval '1 day'
      WHERE id = ANY(${resolvedAttempts}::uuid[])`;
    const first = await laterPassesNeedingStaff(t.sql, 1, courseId);
    expect(first).toEqual([expect.objectContaining({ attemptId, deadCertificateId: dead?.id })]);
    const listed = await laterPassesNeedingStaff(t.sql, 10, courseId);
    expect(listed.map((entry) => entry.attemptId)).toEqual([attemptId, ...resolvedAttempts.slice().sort()]);
    expect(listed.slice(1).every((entry) => entry.deadCertificateId === null)).toBe(true);
  });

  it('reissues on a better score only when the course opts in, and only for a strictly better one', async () => {
    const optIn = await createCourse(t.sql);
    await t.sql`UPDATE courses SET reissue_on_better_score = true WHERE id = ${optIn}`;
    const cert = await issued(t.sql, { courseId: optIn, score: 75 });
    const worse = await createAttempt(t.sql, { studentId: cert.studentId, courseId: optIn, score: 75 });
    expect((await applyLaterPassRule({ sql: t.sql, log }, { attemptId: worse })).outcome).toBe(
      'already-certified',
    );
    expect((await log_(t.sql, cert.id)).map((e) => e.event)).toEqual(['later-pass']);

    const better = await createAttempt(t.sql, { studentId: cert.studentId, courseId: optIn, score: 92 });
    const result = await applyLaterPassRule({ sql: t.sql, log }, { attemptId: better });
    expect(result.outcome).toBe('reissued-better-score');
    const [next] = await t.sql`
      SELECT status, test_attempt_id, replaces FROM certificates WHERE id = ${result.createdCertificateId}`;
    expect(next).toEqual({ status: 'pending', test_attempt_id: better, replaces: cert.id });
    // The old one stays issued until the new one is.
    const [waiting] = await t.sql`SELECT status, superseded_by FROM certificates WHERE id = ${cert.id}`;
    expect(waiting).toEqual({ status: 'issued', superseded_by: null });
    // Another better retake meanwhile waits for the replacement; it does not ask for a second one.
    const best = await createAttempt(t.sql, { studentId: cert.studentId, courseId: optIn, score: 97 });
    expect(await applyLaterPassRule({ sql: t.sql, log }, { attemptId: best })).toMatchObject({
      outcome: 'in-progress',
      liveCertificateId: result.createdCertificateId,
    });
    await issueReplacement(t.sql, String(result.createdCertificateId));
    const [old] = await t.sql`SELECT status, superseded_by FROM certificates WHERE id = ${cert.id}`;
    expect(old).toEqual({ status: 'superseded', superseded_by: result.createdCertificateId });

    const optOut = await createCourse(t.sql);
    const plain = await issued(t.sql, { courseId: optOut, score: 75 });
    const higher = await createAttempt(t.sql, { studentId: plain.studentId, courseId: optOut, score: 99 });
    expect((await applyLaterPassRule({ sql: t.sql, log }, { attemptId: higher })).outcome).toBe(
      'already-certified',
    );
    const [unchanged] = await t.sql`SELECT status FROM certificates WHERE id = ${plain.id}`;
    expect(unchanged?.status).toBe('issued');
  });

  it('renews an expired certificate on a later pass', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${courseId}`;
    const cert = await issued(t.sql, { courseId, issuedOn: '2020-01-01' });
    const attemptId = await createAttempt(t.sql, { studentId: cert.studentId, courseId, score: 80 });
    const result = await applyLaterPassRule({ sql: t.sql, log }, { attemptId });
    expect(result.outcome).toBe('renewed-after-expiry');
    const [waiting] = await t.sql`SELECT status FROM certificates WHERE id = ${cert.id}`;
    expect(waiting?.status).toBe('issued');
    // A renewal is a new pass: its validity runs from the day it prints, unlike a correction's.
    const renewalId = String(result.createdCertificateId);
    await t.sql`
      UPDATE certificates SET status = 'rendering', lease_owner = 'worker', lease_expires_at = now() + interval '1 minute'
      WHERE id = ${renewalId}`;
    expect((await assignIssueLifecycle(t.sql, renewalId, { issuedOn: '2026-12-05' }))?.expiresAt).toEqual(
      expiresAtFor('2026-12-05', 12),
    );
    await t.sql`UPDATE certificates SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL WHERE id = ${renewalId}`;
    await issueReplacement(t.sql, renewalId);
    const [old] = await t.sql`SELECT status FROM certificates WHERE id = ${cert.id}`;
    expect(old?.status).toBe('superseded');
  });

  it('flags the certificate a later pass supersedes in the status list, for a better score and for a renewal', async () => {
    // As after a staff reissue: a wallet or verifier still holding the old Open Badge reads its bit.
    const betterScore = await createCourse(t.sql);
    await t.sql`UPDATE courses SET reissue_on_better_score = true WHERE id = ${betterScore}`;
    const renewable = await createCourse(t.sql);
    await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${renewable}`;
    const cases = [
      {
        cert: await issued(t.sql, { courseId: betterScore, score: 75 }),
        courseId: betterScore,
        score: 92,
        outcome: 'reissued-better-score',
      },
      {
        cert: await issued(t.sql, { courseId: renewable, issuedOn: '2020-01-01' }),
        courseId: renewable,
        score: 80,
        outcome: 'renewed-after-expiry',
      },
    ];
    for (const { cert, courseId, score, outcome } of cases) {
      const before = await listBits(t.sql, cert.id);
      expect(getBit(before.bits, before.index), outcome).toBe(false);
      const attemptId = await createAttempt(t.sql, { studentId: cert.studentId, courseId, score });
      const result = await applyLaterPassRule({ sql: t.sql, log }, { attemptId });
      expect(result.outcome).toBe(outcome);
      // Flagged when its replacement is issued, not before.
      const waiting = await listBits(t.sql, cert.id);
      expect(getBit(waiting.bits, waiting.index), outcome).toBe(false);
      await issueReplacement(t.sql, String(result.createdCertificateId));
      const after = await listBits(t.sql, cert.id);
      expect(getBit(after.bits, after.index), outcome).toBe(true);
    }
  });

  it('an older attempt (history decided late) neither renews an expired certificate nor reissues it for a better score', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET validity_months = 12, reissue_on_better_score = true WHERE id = ${courseId}`;
    const cert = await issued(t.sql, { courseId, issuedOn: '2020-01-01', score: 75 });
    await t.sql`UPDATE test_attempts SET completed_at = '2019-12-20T10:00:00Z' WHERE id = ${cert.attemptId}`;
    // Passed before the certificate's own attempt, with a better score: imported history.
    const older = await createAttempt(t.sql, { studentId: cert.studentId, courseId, score: 95 });
    await t.sql`UPDATE test_attempts SET completed_at = '2019-06-01T10:00:00Z' WHERE id = ${older}`;
    const result = await applyLaterPassRule({ sql: t.sql, log }, { attemptId: older });
    expect(result).toMatchObject({ outcome: 'already-certified', createdCertificateId: null });
    const [still] = await t.sql`SELECT status FROM certificates WHERE id = ${cert.id}`;
    expect(still?.status).toBe('issued');
    // A pass after it renews, as before.
    const later = await createAttempt(t.sql, { studentId: cert.studentId, courseId, score: 80 });
    expect((await applyLaterPassRule({ sql: t.sql, log }, { attemptId: later })).outcome).toBe(
      'renewed-after-expiry',
    );
  });

  it('a silent decision (backfill) creates its certificate with notify off', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${courseId}`;
    const cert = await issued(t.sql, { courseId, issuedOn: '2020-01-01' });
    const attemptId = await createAttempt(t.sql, { studentId: cert.studentId, courseId, score: 80 });
    const result = await applyLaterPassRule({ sql: t.sql, log }, { attemptId, notify: false });
    expect(result.outcome).toBe('renewed-after-expiry');
    const [successor] =
      await t.sql`SELECT notify FROM certificates WHERE id = ${result.createdCertificateId}`;
    expect(successor?.notify).toBe(false);
    // As the backfill calls it: a renewal counts as a certificate it created.
    const again = await issued(t.sql, { courseId, issuedOn: '2020-01-01' });
    const retake = await createAttempt(t.sql, { studentId: again.studentId, courseId, score: 85 });
    const known = await createAttempt(t.sql, { studentId: cert.studentId, courseId, score: 85 });
    expect(await decideLaterPasses({ sql: t.sql, log }, [retake, known], { notify: false })).toEqual({
      decided: 2,
      created: 1,
    });
  });

  it('leaves an attempt that already has its certificate alone', async () => {
    const cert = await issued(t.sql, { courseId: await createCourse(t.sql) });
    const result = await applyLaterPassRule({ sql: t.sql, log }, { attemptId: cert.attemptId });
    expect(result).toMatchObject({
      outcome: 'already-certified',
      createdCertificateId: null,
      liveCertificateId: cert.id,
    });
    await expect(applyLaterPassRule({ sql: t.sql, log }, { attemptId: randomUUID() })).rejects.toThrow(
      NotFoundError,
    );
  });
});
