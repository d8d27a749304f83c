import { describe, expect, inject, it } from 'vitest';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import {
  applyLaterPassRule,
  assignIssueLifecycle,
  reissueCertificate,
  revokeCertificate,
} from '../../lib/certificates/lifecycle.ts';
import { findLatestByStudent } from '../../lib/certificates/read-model.ts';
import type { Sql } from '../../lib/db/client.ts';
import { createPdfPrinter } from '../../lib/render/browser.ts';
import { createCertificateRenderer } from '../../lib/render/renderer.ts';
import { type TestEnv, testEnvPerFile } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { contendWithOpenTransaction } from '../support/lock-wait.ts';
import { issuedCertificate } from './lifecycle-fixtures.ts';
import {
  createAttempt,
  createCourse,
  generateOptions,
  makeGenerateDeps,
  recordingLog,
} from './pipeline-fixtures.ts';

// A replacement (staff reissue, renewal, better score) waits beside the issued certificate it
// replaces until it is issued itself (lifecycle.ts). What a revocation of the original, racing
// or not, does to it; found by the review of that change (.prof/audit-review-s16.md).

let t: TestEnv;
const log = recordingLog();
const printer = createPdfPrinter({ executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH });
const renderer = createCertificateRenderer(printer, { timeoutMs: 30_000 });
const keycloak = keycloakControl(inject('stack').keycloakUrl);

testEnvPerFile(
  (env) => {
    t = env;
  },
  [renderer],
);

async function statuses(...ids: string[]) {
  const rows = await t.sql<{ id: string; status: string; replaces: string | null }[]>`
    SELECT id, status::text, replaces FROM certificates WHERE id IN ${t.sql(ids)}`;
  return Object.fromEntries(rows.map((row) => [row.id, { status: row.status, replaces: row.replaces }]));
}

const revoke = (certificateId: string) =>
  revokeCertificate({ sql: t.sql, log }, { certificateId, reasonCode: 'issued-in-error', actor: 'staff' });

describe('revoking a certificate whose replacement waits', () => {
  it('a revocation that waited for a reissue to commit revokes the replacement that reissue created', async () => {
    const student = await keycloak.addUser({ firstName: 'Edsger', lastName: 'Dijkstra' });
    const first = await issuedCertificate(t.sql, {
      courseId: await createCourse(t.sql),
      studentId: student.id,
    });
    let replacementId = '';
    // The reissue holds the original's row lock, its replacement inserted and not committed, while
    // the revocation waits for the lock.
    const revoked = await contendWithOpenTransaction(
      t.sql,
      async (held) => {
        const reissued = await reissueCertificate(
          { sql: held as unknown as Sql, log },
          { certificateId: first.id, reason: 'name change', actor: 'staff-1' },
        );
        replacementId = reissued.id;
      },
      () => revoke(first.id),
    );
    expect(revoked.status).toBe('fulfilled');
    expect(await statuses(first.id, replacementId)).toEqual({
      [first.id]: { status: 'revoked', replaces: null },
      [replacementId]: { status: 'revoked', replaces: first.id },
    });
  });

  it("a renewal's or better score's replacement is the newer pass's own certificate: it is issued, not lost", async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET reissue_on_better_score = true WHERE id = ${courseId}`;
    const student = await keycloak.addUser({ firstName: 'Barbara', lastName: 'Liskov' });
    const first = await issuedCertificate(t.sql, { courseId, studentId: student.id, score: 70 });
    const better = await createAttempt(t.sql, { studentId: student.id, courseId, score: 95 });
    const decision = await applyLaterPassRule({ sql: t.sql, log }, { attemptId: better });
    expect(decision.outcome).toBe('reissued-better-score');
    const replacementId = String(decision.createdCertificateId);

    await revoke(first.id);
    // No longer a replacement: the better pass's certificate, waiting to be generated.
    expect(await statuses(first.id, replacementId)).toEqual({
      [first.id]: { status: 'revoked', replaces: null },
      [replacementId]: { status: 'pending', replaces: null },
    });
    expect(
      await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), replacementId),
    ).toMatchObject({ status: 'issued' });
    const events = await t.sql<{ event_type: string }[]>`
      SELECT event_type FROM webhook_outbox WHERE certificate_id = ${replacementId}`;
    expect(events.map((event) => event.event_type)).toEqual(['certificate.issued']);
  });

  it('a replacement left waiting beside a revoked original (revoked before revocations settled it) is settled when generate takes it', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET reissue_on_better_score = true WHERE id = ${courseId}`;
    // A staff reissue's (same attempt) and a better score's (another attempt), each beside a
    // revoked original, as a revocation that missed them would have left them.
    const sameStudent = await keycloak.addUser({ firstName: 'Tony', lastName: 'Hoare' });
    const same = await issuedCertificate(t.sql, { courseId, studentId: sameStudent.id });
    const { id: sameReplacement } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: same.id, reason: 'typo', actor: 'staff' },
    );
    const otherStudent = await keycloak.addUser({ firstName: 'Frances', lastName: 'Allen' });
    const other = await issuedCertificate(t.sql, { courseId, studentId: otherStudent.id, score: 70 });
    const better = await createAttempt(t.sql, { studentId: otherStudent.id, courseId, score: 99 });
    const otherReplacement = String(
      (await applyLaterPassRule({ sql: t.sql, log }, { attemptId: better })).createdCertificateId,
    );
    await t.sql`
      UPDATE certificates SET status = 'revoked', revoked_at = now(), revocation_reason = 'issued-in-error'
      WHERE id IN (${same.id}, ${other.id})`;

    const deps = makeGenerateDeps(t, renderer);
    expect(await generateCertificate(deps, generateOptions(), sameReplacement)).toEqual({
      status: 'skipped',
      certificateId: sameReplacement,
      reason: 'replaced-certificate-revoked',
    });
    expect(await generateCertificate(deps, generateOptions(), otherReplacement)).toMatchObject({
      status: 'issued',
    });
    expect(await statuses(sameReplacement, otherReplacement)).toEqual({
      [sameReplacement]: { status: 'revoked', replaces: same.id },
      [otherReplacement]: { status: 'issued', replaces: null },
    });
    // Nothing was uploaded for the cancelled one.
    const [cancelled] =
      await t.sql`SELECT s3_key, generated_at FROM certificates WHERE id = ${sameReplacement}`;
    expect(cancelled).toEqual({ s3_key: null, generated_at: null });
  });

  it('revoking the original while its replacement gets its status entry never deadlocks', async () => {
    const courseId = await createCourse(t.sql);
    const rejected: string[] = [];
    for (let round = 0; round < 20; round += 1) {
      const first = await issuedCertificate(t.sql, { courseId });
      const { id: replacementId } = await reissueCertificate(
        { sql: t.sql, log },
        { certificateId: first.id, reason: 'race', actor: 'staff' },
      );
      // As generate's claim leaves it, about to draw its status-list entry.
      await t.sql`
        UPDATE certificates SET status = 'rendering', lease_owner = 'worker', lease_expires_at = now() + interval '1 minute'
        WHERE id = ${replacementId}`;
      const results = await Promise.allSettled([
        assignIssueLifecycle(t.sql, replacementId),
        revoke(first.id),
      ]);
      for (const result of results)
        if (result.status === 'rejected') rejected.push(String((result.reason as Error).message));
    }
    expect(rejected).toEqual([]);
  });
});

describe('the latest certificate of a student', () => {
  it('is the issued one while its replacement waits or is dead, and the replacement once issued', async () => {
    const student = await keycloak.addUser({ firstName: 'Niklaus', lastName: 'Wirth' });
    const first = await issuedCertificate(t.sql, {
      courseId: await createCourse(t.sql),
      studentId: student.id,
    });
    const { id: replacementId } = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: first.id, reason: 'typo', actor: 'staff' },
    );
    expect(await findLatestByStudent(t.sql, student.id)).toMatchObject({ id: first.id, downloadable: true });
    await t.sql`UPDATE certificates SET status = 'dead', last_error = 'gone' WHERE id = ${replacementId}`;
    expect(await findLatestByStudent(t.sql, student.id)).toMatchObject({ id: first.id, downloadable: true });
    await t.sql`UPDATE certificates SET status = 'pending', next_attempt_at = now() WHERE id = ${replacementId}`;
    expect(
      await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), replacementId),
    ).toMatchObject({ status: 'issued' });
    expect(await findLatestByStudent(t.sql, student.id)).toMatchObject({
      id: replacementId,
      downloadable: true,
    });
  });
});
