import { describe, expect, it } from 'vitest';
import { previewBackfill, runBackfill, selectionOf } from '../../lib/certificates/backfill.ts';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import { applyLaterPassRule, expiresAtFor } from '../../lib/certificates/lifecycle.ts';
import type { CertificateRenderer } from '../../lib/certificates/ports.ts';
import { getCertificate } from '../../lib/certificates/read-model.ts';
import { enqueuePassingAttempts, runScan } from '../../lib/certificates/scan.ts';
import type { TestEnv } from '../support/env.ts';
import {
  createCourse,
  generateOptions,
  makeDue,
  makeGenerateDeps,
  pipelineTestFile,
} from './pipeline-fixtures.ts';

// A backfilled certificate's validity period counts from its pass, not from the day it is
// printed: a 2020 pass of a 12-month course, backfilled in 2026, was shown valid until 2027 in
// every view (the PDF, the page, the credential, the download), while the qualification lapsed in
// 2021. The dry run says how many a run would issue already expired.

let t: TestEnv;
const { renderer, keycloak, log } = pipelineTestFile((env) => {
  t = env;
});

async function pass(studentId: string, courseId: string, completedAt: string): Promise<string> {
  const [row] = await t.sql<{ id: string }[]>`
    INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at)
    VALUES (${studentId}, ${courseId}, 90, 100, true, ${completedAt}) RETURNING id`;
  return row?.id as string;
}

async function student(): Promise<string> {
  return (await keycloak.addUser({ firstName: 'Mary', lastName: 'Jackson' })).id;
}

describe('a backfilled certificate in a course with a validity period', () => {
  it('is valid for the period from its pass: one from 2020 is issued expired, a recent one runs from its pass; the dry run counts the first', async () => {
    const courseId = await createCourse(t.sql, { title: 'First aid' });
    await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${courseId}`;
    const recentDay = new Date(Date.now() - 40 * 86_400_000).toISOString().slice(0, 10);
    const old = await student();
    const recent = await student();
    await pass(old, courseId, '2020-01-15T09:00:00Z');
    await pass(recent, courseId, `${recentDay}T23:30:00Z`);

    const selection = selectionOf({ from: '2019-01-01' }, { startedAt: new Date() }, courseId);
    const preview = await previewBackfill(t.sql, selection);
    expect(preview.courses).toEqual([
      expect.objectContaining({ courseId, certificates: 2, expiredAtIssue: 1 }),
    ]);
    expect(preview.totalExpiredAtIssue).toBe(1);

    expect(
      (await enqueuePassingAttempts(t.sql, 10, { filter: selection, source: 'backfill', notify: false }))
        .created,
    ).toBe(2);
    const certificates = await t.sql<{ id: string; student_id: string }[]>`
      SELECT id, student_id FROM certificates WHERE course_id = ${courseId}`;
    // The old pass's first render fails (its status entry and expiry are assigned by then): the
    // retry, which works the expiry out again for the day it prints, still counts from the pass.
    const firstDay = new Date().toISOString().slice(0, 10);
    const oldId = certificates.find((row) => row.student_id === old)?.id as string;
    const crashing: CertificateRenderer = {
      render: async () => {
        throw new Error('Chromium crashed');
      },
      close: async () => undefined,
    };
    expect(await generateCertificate(makeGenerateDeps(t, crashing), generateOptions(), oldId)).toMatchObject({
      status: 'failed',
    });
    await makeDue(t.sql, oldId);
    for (const { id } of certificates)
      expect(await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), id)).toMatchObject({
        status: 'issued',
      });

    // Printed on the day it was issued: today (yesterday too, should UTC midnight pass meanwhile).
    const printDays = [firstDay, new Date().toISOString().slice(0, 10)];
    const view = async (studentId: string) => {
      const id = certificates.find((row) => row.student_id === studentId)?.id as string;
      return await getCertificate(t.sql, { kind: 'any' }, id);
    };
    const lapsed = await view(old);
    expect(lapsed).toMatchObject({ effectiveStatus: 'expired' });
    expect(printDays).toContain(lapsed.issuedOn);
    expect(lapsed.expiresAt).toBe(expiresAtFor('2020-01-15', 12)?.toISOString());
    const current = await view(recent);
    expect(current).toMatchObject({ effectiveStatus: 'issued' });
    expect(printDays).toContain(current.issuedOn);
    expect(current.expiresAt).toBe(expiresAtFor(recentDay, 12)?.toISOString());
  });

  it("counts from the pass for a certificate the later-pass rule creates in a backfill, not in the scan's", async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET validity_months = 6 WHERE id = ${courseId}`;
    const byBackfill = await pass(await student(), courseId, '2021-03-31T12:00:00Z');
    const byScan = await pass(await student(), courseId, '2021-03-31T12:00:00Z');
    for (const [attemptId, actor] of [
      [byBackfill, 'backfill'],
      [byScan, 'scan'],
    ] as const)
      expect(await applyLaterPassRule({ sql: t.sql, log }, { attemptId, actor })).toMatchObject({
        outcome: 'created',
      });
    const rows = await t.sql<{ test_attempt_id: string; validity_start: string | null }[]>`
      SELECT test_attempt_id, validity_start::text FROM certificates WHERE course_id = ${courseId}`;
    expect(Object.fromEntries(rows.map((row) => [row.test_attempt_id, row.validity_start]))).toEqual({
      [byBackfill]: '2021-03-31',
      [byScan]: null,
    });

    // A failed attempt earns nothing, whoever hands it to the rule: refused, and nothing created.
    const [failed] = await t.sql<{ id: string }[]>`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at)
      VALUES (${await student()}, ${courseId}, 10, 100, false, now()) RETURNING id`;
    await expect(
      applyLaterPassRule({ sql: t.sql, log }, { attemptId: failed?.id as string, actor: 'scan' }),
    ).rejects.toThrow('the attempt did not pass');
    const [none] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificates WHERE test_attempt_id = ${failed?.id as string}`;
    expect(none?.n).toBe(0);
  });

  it('counts from the pass for a later pass of one backfill that the scan decides again once the first certificate is issued', async () => {
    const courseId = await createCourse(t.sql);
    await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${courseId}`;
    const holder = await student();
    await pass(holder, courseId, '2021-07-01T09:00:00Z');
    const later = await pass(holder, courseId, '2021-09-01T09:00:00Z');
    // One backfill run: the first pass gets its certificate, the second waits for it (in-progress).
    await runBackfill(
      { sql: t.sql, log },
      selectionOf({ from: '2021-01-01', to: '2021-12-31' }, { startedAt: new Date() }, courseId),
      { batchSize: 10, maxWaiting: 1000, notify: false, pollMs: 10 },
    );
    const [waiting] = await t.sql<{ later_pass_outcome: string }[]>`
      SELECT later_pass_outcome FROM test_attempts WHERE id = ${later}`;
    expect(waiting?.later_pass_outcome).toBe('in-progress');
    const [first] = await t.sql<{ id: string }[]>`SELECT id FROM certificates WHERE course_id = ${courseId}`;
    expect(
      await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), first?.id ?? ''),
    ).toMatchObject({ status: 'issued' });
    // The scheduled scan decides the waiting pass again (and enqueues nothing new).
    await runScan(
      { sql: t.sql, log, dispatch: async () => undefined },
      {
        batchSize: 10,
        enqueueLimit: 100,
        dispatchLeaseSeconds: 300,
        maxInFlight: 0,
        notBefore: new Date('2030-01-01'),
      },
    );
    const [renewal] = await t.sql<{ id: string; validity_start: string | null }[]>`
      SELECT id, validity_start::text FROM certificates WHERE test_attempt_id = ${later}`;
    // The backfill's decision, as its first look would have made it: valid from the 2021 pass,
    // not from the day it is printed (valid until a year from now).
    expect(renewal?.validity_start).toBe('2021-09-01');
    const [actor] = await t.sql<{ actor: string }[]>`
      SELECT actor FROM certificate_generation_log WHERE certificate_id = ${renewal?.id ?? ''} AND event = 'created'`;
    expect(actor?.actor).toBe('backfill');
    expect(
      await generateCertificate(makeGenerateDeps(t, renderer), generateOptions(), renewal?.id ?? ''),
    ).toMatchObject({ status: 'issued' });
    const [issued] = await t.sql<{ expires_at: Date }[]>`
      SELECT expires_at FROM certificates WHERE id = ${renewal?.id ?? ''}`;
    expect(issued?.expires_at.toISOString()).toBe('2022-09-01T00:00:00.000Z');
  });
});
