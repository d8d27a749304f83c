import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import { expiresAtFor } from '../../lib/certificates/lifecycle.ts';
import type { GenerateDeps } from '../../lib/certificates/ports.ts';
import { requeueCertificate } from '../../lib/certificates/requeue.ts';
import { summariseSinceLastScan } from '../../lib/certificates/scan.ts';
import { ConflictError, NotFoundError, TransientError, ValidationError } from '../../lib/errors.ts';
import type { PdfPrinter } from '../../lib/render/browser.ts';
import { formatIssueDate } from '../../lib/render/i18n.ts';
import { createCertificateRenderer, loadDefaultTemplate } from '../../lib/render/renderer.ts';
import { createS3Client } from '../../lib/storage/s3.ts';
import { type TestEnv, testEnvPerFile } from '../support/env.ts';
import { gate } from '../support/gate.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { createObservedPrinter } from '../support/observed-printer.ts';
import { pdfText } from '../support/pdf.ts';
import { readableStorage } from '../support/s3-objects.ts';
import { closingServer } from '../support/stalling-server.ts';
import {
  auditEvents,
  certificateRow,
  createCourse,
  createPendingCertificate,
  generateOptions,
  listKeys,
  makeDue,
  makeGenerateDeps,
  recordingMetrics,
  s3ConfigFor,
  secondsUntilDue,
} from './pipeline-fixtures.ts';

let t: TestEnv;
const printer = createObservedPrinter({ executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH });
const renderer = createCertificateRenderer(printer, { timeoutMs: 30_000 });
const keycloak = keycloakControl(inject('stack').keycloakUrl);
const options = generateOptions();

testEnvPerFile(
  (env) => {
    t = env;
  },
  [renderer],
);

async function student(firstName = 'Grace', lastName = 'Hopper') {
  return await keycloak.addUser({ firstName, lastName });
}

describe('generate one certificate', () => {
  it('renders, uploads to the deterministic key and records the snapshot, hash and audit', async () => {
    const user = await student('Ada', 'Lovelace');
    const courseId = await createCourse(t.sql, { title: 'Analytical Engines 101' });
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId, score: 87.5 });
    const deps = makeGenerateDeps(t, renderer);

    const outcome = await generateCertificate(deps, options, id);

    const key = `certificates/${courseId}/${user.id}/${id}.pdf`;
    expect(outcome).toMatchObject({ status: 'issued', s3Key: key, attempt: 1 });
    const row = await certificateRow(t.sql, id);
    expect(row).toMatchObject({
      status: 'issued',
      s3_key: key,
      student_name: 'Ada Lovelace',
      course_name: 'Analytical Engines 101',
      score: '87.50',
      max_score: '100.00',
      percentage: '87.50',
      locale: 'en',
      last_error: null,
      lease_owner: null,
      attempt_count: 1,
    });
    expect(row.generated_at).toBeInstanceOf(Date);
    expect(row.template_version).toMatch(/^builtin-/);

    const storage = readableStorage(createS3Client(s3ConfigFor(t)), t.bucket);
    const pdf = await storage.getObject(key);
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(pdf).digest('hex')).toBe(row.pdf_sha256);
    expect(row.pdf_bytes).toBe(pdf.byteLength);
    const text = await pdfText(pdf);
    expect(text).toContain('Ada Lovelace');
    expect(text).toContain('Analytical Engines 101');
    expect(text).toContain('87.5');
    // No validity period: no expiry printed or recorded, but a status-list entry all the same.
    // Labels are letter-spaced capitals: the text layer has "E X P I R E S O N".
    expect(text.replace(/\s+/g, '')).not.toContain('EXPIRESON');
    expect(row.expires_at).toBeNull();
    expect(row.status_list_id).not.toBeNull();
    expect(row.status_list_index).toEqual(expect.any(Number));

    expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'issued']);
    expect(deps.metrics.counts.generated).toBe(1);
    expect(deps.log.entries.map((entry) => entry.message)).toContain(
      `Certificate generated successfully: certificate_id=${id}, s3_key=${key}`,
    );
  });

  it('records a duration that includes the S3 upload (audit row, GenerationDuration, log line)', async () => {
    const courseId = await createCourse(t.sql);
    const id = await createPendingCertificate(t.sql, { studentId: randomUUID(), courseId });
    const upload = gate();
    let uploadStarted = 0;
    let uploadMs = 0;
    const durations: number[] = [];
    const deps = makeGenerateDeps(
      t,
      {
        render: async () => ({
          pdf: new TextEncoder().encode('%PDF-1.4 stub'),
          template: { id: null, version: 'stub' },
        }),
        close: async () => undefined,
      },
      {
        directory: {
          getStudent: async (studentId) => ({ id: studentId, displayName: 'Slow Upload' }),
        },
        storage: {
          putPdf: async (key, pdf) => {
            uploadStarted = performance.now();
            await upload.wait();
            uploadMs = performance.now() - uploadStarted;
            return { key, bytes: pdf.byteLength };
          },
        },
        metrics: { ...recordingMetrics(), certificateGenerated: (durationMs) => durations.push(durationMs) },
      },
    );
    const called = performance.now();
    const generating = generateCertificate(deps, options, id);
    await upload.reached;
    // The upload is held until it has taken longer than everything before it, so a duration that
    // left it out would be shorter than the upload alone.
    const beforeUpload = uploadStarted - called;
    while (performance.now() - uploadStarted <= beforeUpload + 50) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    upload.open();
    expect(await generating).toMatchObject({ status: 'issued' });

    const [audit] = await t.sql<{ duration_ms: number }[]>`
      SELECT duration_ms FROM certificate_generation_log WHERE certificate_id = ${id} AND event = 'issued'`;
    expect(audit?.duration_ms).toBeGreaterThanOrEqual(Math.floor(uploadMs));
    expect(durations).toHaveLength(1);
    expect(durations[0]).toBeGreaterThanOrEqual(uploadMs);
    const success = deps.log.entries.find((entry) =>
      entry.message.startsWith('Certificate generated successfully'),
    );
    expect(success?.fields.duration_ms).toBeGreaterThanOrEqual(Math.floor(uploadMs));
  });

  it('snapshots the name exactly as printed: bidi controls removed, whitespace collapsed', async () => {
    const user = await student('\u202EJosé', '  Ñúñez \u2066Ørsted ');
    const courseId = await createCourse(t.sql, { title: 'Snapshot  Fidelity' });
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });

    const outcome = await generateCertificate(makeGenerateDeps(t, renderer), options, id);

    expect(outcome.status).toBe('issued');
    const row = await certificateRow(t.sql, id);
    expect(row.student_name).toBe('José Ñúñez Ørsted');
    const pdf = await readableStorage(createS3Client(s3ConfigFor(t)), t.bucket).getObject(
      `certificates/${courseId}/${user.id}/${id}.pdf`,
    );
    expect(await pdfText(pdf)).toContain(row.student_name);
  });

  it('prints and records the expiry of a course with a validity period', async () => {
    const user = await student('Mary', 'Somerville');
    const courseId = await createCourse(t.sql, { title: 'First Aid', locale: 'en' });
    await t.sql`UPDATE courses SET validity_months = 24 WHERE id = ${courseId}`;
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });

    expect((await generateCertificate(makeGenerateDeps(t, renderer), options, id)).status).toBe('issued');

    const row = await certificateRow(t.sql, id);
    const [{ issuedOn } = { issuedOn: '' }] = await t.sql<{ issuedOn: string }[]>`
      SELECT issued_on::text AS "issuedOn" FROM certificates WHERE id = ${id}`;
    const expected = expiresAtFor(issuedOn, 24);
    expect(row.expires_at).toEqual(expected);
    expect(row.status_list_id).not.toBeNull();
    const pdf = await readableStorage(createS3Client(s3ConfigFor(t)), t.bucket).getObject(
      `certificates/${courseId}/${user.id}/${id}.pdf`,
    );
    const text = await pdfText(pdf);
    expect(text.replace(/\s+/g, '')).toContain('EXPIRESON');
    expect(text).toContain(formatIssueDate(expected?.toISOString() ?? '', 'en'));
  });

  it('issues once when the same certificate is generated twice at the same time', async () => {
    const user = await student();
    const courseId = await createCourse(t.sql);
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
    const deps = makeGenerateDeps(t, renderer);

    const outcomes = await Promise.all([
      generateCertificate(deps, options, id),
      generateCertificate(deps, options, id),
    ]);

    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['issued', 'skipped']);
    expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'issued']);
    expect((await certificateRow(t.sql, id)).attempt_count).toBe(1);
    // A later duplicate (e.g. a platform retry) finds it issued and does nothing.
    expect(await generateCertificate(deps, options, id)).toMatchObject({ status: 'skipped' });
  });

  it('retries after Keycloak answered 500 for a while and issues once it recovers', async () => {
    const user = await student('Katherine', 'Johnson');
    const courseId = await createCourse(t.sql);
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
    const deps = makeGenerateDeps(t, renderer);
    await keycloak.fault(user.id, 500);
    try {
      const first = await generateCertificate(deps, options, id);
      expect(first).toMatchObject({ status: 'failed', attempt: 1 });
      const row = await certificateRow(t.sql, id);
      expect(row.status).toBe('failed');
      expect(row.last_error).toContain('HTTP 500');
      // Backoff: base 60 s with jitter pinned at the middle -> due in about a minute, not now.
      const wait = await secondsUntilDue(t.sql, id);
      expect(wait).toBeGreaterThan(30);
      expect(wait).toBeLessThanOrEqual(60);
      // Not due yet: a stray invocation does nothing.
      expect(await generateCertificate(deps, options, id)).toMatchObject({ status: 'skipped' });

      await makeDue(t.sql, id);
      expect(await generateCertificate(deps, options, id)).toMatchObject({ status: 'failed', attempt: 2 });
      // Second failure waits longer (base * 2, same pinned jitter).
      expect(await secondsUntilDue(t.sql, id)).toBeGreaterThan(wait + 30);
    } finally {
      await keycloak.clearFault(user.id);
    }
    await makeDue(t.sql, id);
    expect(await generateCertificate(deps, options, id)).toMatchObject({ status: 'issued', attempt: 3 });
    const row = await certificateRow(t.sql, id);
    expect(row).toMatchObject({ status: 'issued', last_error: null, student_name: 'Katherine Johnson' });
    expect(await auditEvents(t.sql, id)).toEqual([
      'claimed',
      'failed',
      'claimed',
      'failed',
      'claimed',
      'issued',
    ]);
    expect(deps.metrics.counts.failed).toBe(2);
    expect(
      deps.log.entries.filter((entry) =>
        entry.message.startsWith('Failed to generate certificate for student: '),
      ),
    ).toHaveLength(2);
  });

  it('marks a certificate dead, with the reason, when Keycloak does not know the student', async () => {
    const courseId = await createCourse(t.sql);
    const unknownStudent = randomUUID();
    const id = await createPendingCertificate(t.sql, { studentId: unknownStudent, courseId });
    const deps = makeGenerateDeps(t, renderer);

    expect(await generateCertificate(deps, options, id)).toMatchObject({
      status: 'dead',
      error: 'student not found in Keycloak',
    });
    expect(deps.metrics.counts.dead).toBe(1);
    const row = await certificateRow(t.sql, id);
    expect(row).toMatchObject({
      status: 'dead',
      last_error: 'student not found in Keycloak',
      attempt_count: 1,
    });
    // Not retried: even when "due", a dead certificate is not claimed again.
    await makeDue(t.sql, id);
    expect(await generateCertificate(deps, options, id)).toMatchObject({ status: 'skipped' });
    expect((await certificateRow(t.sql, id)).attempt_count).toBe(1);
    const [audit] = await t.sql`SELECT error, details FROM certificate_generation_log
                                WHERE certificate_id = ${id} AND event = 'dead'`;
    expect(audit).toMatchObject({ error: 'student not found in Keycloak', details: { permanent: true } });

    // Once the student exists, an operator requeues it and the next attempt issues it.
    await keycloak.addUser({ id: unknownStudent, firstName: 'Restored', lastName: 'Student' });
    expect(await requeueCertificate(t.sql, id, { requestedBy: 'ops', reason: 'user restored' })).toEqual({
      id,
      previousStatus: 'dead',
    });
    expect(await generateCertificate(deps, options, id)).toMatchObject({ status: 'issued', attempt: 1 });
    await expect(requeueCertificate(t.sql, id, { requestedBy: 'ops' })).rejects.toBeInstanceOf(ConflictError);
    await expect(requeueCertificate(t.sql, randomUUID(), { requestedBy: 'ops' })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'dead', 'requeued', 'claimed', 'issued']);
  });

  it('looks up the student and the template at once, and records the failure that comes first in that order', async () => {
    const user = await student('Parallel', 'Lookups');
    const courseId = await createCourse(t.sql);
    const base = makeGenerateDeps(t, renderer);
    const events: string[] = [];
    // The student's answer waits for a few turns of the event loop; the template is asked for
    // while it is still outstanding, before it answers.
    const slowDirectory = (fail: boolean): GenerateDeps['directory'] => ({
      async getStudent(id) {
        events.push('student asked');
        for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
        events.push('student answered');
        if (fail) throw new TransientError('Keycloak user lookup failed: HTTP 503', 'keycloak');
        return await base.directory.getStudent(id);
      },
    });
    const resolveTemplate =
      (fail: boolean): GenerateDeps['resolveTemplate'] =>
      async () => {
        events.push('template asked');
        if (fail) throw new TransientError('template store unreachable', 'database');
        return loadDefaultTemplate();
      };

    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
    const deps = { ...base, directory: slowDirectory(false), resolveTemplate: resolveTemplate(false) };
    expect(await generateCertificate(deps, options, id)).toMatchObject({ status: 'issued' });
    expect(events).toEqual(['student asked', 'template asked', 'student answered']);

    // Both fail: the student lookup's error is recorded (argument order, not timing: the
    // template failed first), after both have settled.
    events.length = 0;
    const failing = await createPendingCertificate(t.sql, {
      studentId: user.id,
      courseId: await createCourse(t.sql),
    });
    const outcome = await generateCertificate(
      { ...base, directory: slowDirectory(true), resolveTemplate: resolveTemplate(true) },
      options,
      failing,
    );
    expect(outcome).toMatchObject({ status: 'failed', error: expect.stringContaining('HTTP 503') });
    expect(events).toEqual(['student asked', 'template asked', 'student answered']);
    expect(await certificateRow(t.sql, failing)).toMatchObject({
      status: 'failed',
      last_error: expect.stringContaining('HTTP 503'),
    });
  });

  it("waits out a Keycloak Retry-After longer than its backoff (at most the backoff's longest), never less than the backoff", async () => {
    const user = await student('Rate', 'Limited');
    const base = makeGenerateDeps(t, renderer);
    const limited = (retryAfterSeconds: number | undefined): GenerateDeps => ({
      ...base,
      directory: {
        async getStudent() {
          throw new TransientError('Keycloak user lookup failed: HTTP 429', 'keycloak', retryAfterSeconds);
        },
      },
    });
    // First attempts: the backoff is 60 s, give or take a quarter (jitter).
    const cases: [number | undefined, (seconds: number) => boolean][] = [
      [900, (seconds) => seconds === 900],
      [86_400, (seconds) => seconds === options.retryMaxSeconds],
      [5, (seconds) => seconds >= 45 && seconds <= 75],
      [undefined, (seconds) => seconds >= 45 && seconds <= 75],
    ];
    for (const [retryAfter, expected] of cases) {
      const id = await createPendingCertificate(t.sql, {
        studentId: user.id,
        courseId: await createCourse(t.sql),
      });
      const outcome = await generateCertificate(limited(retryAfter), options, id);
      expect(outcome, String(retryAfter)).toMatchObject({ status: 'failed', attempt: 1 });
      const seconds = (outcome as { retryInSeconds: number }).retryInSeconds;
      expect(expected(seconds), `Retry-After ${retryAfter}: ${seconds} s`).toBe(true);
    }
  });

  it('records an S3 outage as a failure and issues on the retry', async () => {
    const user = await student('Hedy', 'Lamarr');
    const courseId = await createCourse(t.sql);
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
    // An endpoint that closes every connection it accepts, held by the test for its whole run (a
    // port probed free and left unbound could be taken meanwhile by another file's server).
    const dead = await closingServer();
    const down = makeGenerateDeps(t, renderer, {
      storage: readableStorage(createS3Client(s3ConfigFor(t, `http://127.0.0.1:${dead.port}`)), t.bucket),
    });

    const outcome = await generateCertificate(down, options, id).finally(() => dead.close());
    expect(dead.connections()).toBeGreaterThan(0);
    expect(outcome).toMatchObject({ status: 'failed', attempt: 1 });
    expect((await certificateRow(t.sql, id)).last_error).toMatch(/^S3 PutObject failed/);
    expect(down.metrics.counts.s3Errors).toBe(1);
    expect(down.metrics.counts.failed).toBe(1);

    await makeDue(t.sql, id);
    const up = makeGenerateDeps(t, renderer);
    expect(await generateCertificate(up, options, id)).toMatchObject({ status: 'issued', attempt: 2 });
    expect(await listKeys(t)).toContain(`certificates/${courseId}/${user.id}/${id}.pdf`);
  });

  it('while it uploads, rows that refer to the certificate can still be written: its row lock leaves foreign-key checks alone', async () => {
    const user = await student('Mary', 'Jackson');
    const courseId = await createCourse(t.sql);
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
    const upload = gate();
    const base = makeGenerateDeps(t, renderer);
    const held = makeGenerateDeps(t, renderer, {
      storage: {
        ...base.storage,
        putPdf: async (...args) => {
          await upload.wait();
          return await base.storage.putPdf(...args);
        },
      },
    });
    const generating = generateCertificate(held, options, id);
    await upload.reached;
    // An audit row for it (its foreign key checks the certificate), bounded: FOR UPDATE on the
    // certificate would hold it until the upload ends.
    const written = await t.sql
      .begin(async (tx) => {
        await tx`SET LOCAL statement_timeout = 3000`;
        await tx`
          INSERT INTO certificate_generation_log (certificate_id, event, actor, message)
          VALUES (${id}, 'note', 'test', 'written while the PDF uploads')`;
        return 'written';
      })
      .catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
    upload.open();
    expect(await generating).toMatchObject({ status: 'issued' });
    expect(written).toBe('written');
  });

  it('gives up after the configured number of transient failures', async () => {
    const user = await student();
    const courseId = await createCourse(t.sql);
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
    const deps = makeGenerateDeps(t, renderer);
    const twoAttempts = generateOptions({ maxAttempts: 2 });
    await keycloak.fault(user.id, 503);
    try {
      expect(await generateCertificate(deps, twoAttempts, id)).toMatchObject({ status: 'failed' });
      // A failure to be retried is no one's alarm; giving up is (CertificatesDeadAlarm).
      expect(deps.metrics.counts.dead).toBe(0);
      await makeDue(t.sql, id);
      expect(await generateCertificate(deps, twoAttempts, id)).toMatchObject({ status: 'dead', attempt: 2 });
      expect(deps.metrics.counts.dead).toBe(1);
    } finally {
      await keycloak.clearFault(user.id);
    }
    const row = await certificateRow(t.sql, id);
    expect(row).toMatchObject({ status: 'dead', attempt_count: 2 });
    expect(row.last_error).toContain('HTTP 503');
    const [visible] =
      await t.sql`SELECT status FROM v_certificates_with_metadata WHERE certificate_id = ${id}`;
    expect(visible?.status).toBe('dead');
  });

  it('marks dead, without rendering, a certificate whose every attempt died without a result', async () => {
    // A poison certificate: each attempt killed its container (timeout, OOM, a crash) before any
    // catch could record it, so only the expired lease is left. No error ever counts these
    // attempts; the claim's count is the only limit.
    const user = await student('Poison', 'Pill');
    const courseId = await createCourse(t.sql);
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
    const twoAttempts = generateOptions({ maxAttempts: 2 });
    await t.sql`UPDATE certificates SET status = 'rendering', attempt_count = ${twoAttempts.maxAttempts},
                  lease_owner = 'gone', lease_expires_at = now() - interval '1 second' WHERE id = ${id}`;
    let renders = 0;
    const counting: GenerateDeps['renderer'] = {
      render: async (content, template) => {
        renders += 1;
        return await renderer.render(content, template);
      },
      close: async () => {},
    };
    const deps = makeGenerateDeps(t, counting);
    // The scan summary's window starts here (this file's database is its own; its tests run in turn).
    await summariseSinceLastScan(t.sql, {});

    const outcome = await generateCertificate(deps, twoAttempts, id);

    expect(outcome).toMatchObject({
      status: 'dead',
      attempt: 3,
      error: expect.stringMatching(/lease expired/),
    });
    // The attempt that died was the last allowed one: counted once, as dead, not also as a
    // failure to retry.
    expect(deps.metrics.counts).toMatchObject({ failed: 1, dead: 1 });
    expect(await summariseSinceLastScan(t.sql, {})).toEqual({
      generated: 0,
      failed: 1,
      retrying: 0,
      dead: 1,
    });
    expect(renders).toBe(0);
    const row = await certificateRow(t.sql, id);
    expect(row).toMatchObject({ status: 'dead', attempt_count: 3, lease_owner: null, s3_key: null });
    expect(row.last_error).toMatch(/^gave up after 2 attempts; .*\(lease expired\)$/);
    expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'dead']);
    const [audit] = await t.sql`SELECT details FROM certificate_generation_log
                                WHERE certificate_id = ${id} AND event = 'dead'`;
    expect(audit?.details).toMatchObject({ permanent: true, reason: 'attempts-exhausted' });
    expect((await listKeys(t)).filter((key) => key.includes(id))).toEqual([]);
    // Dead is final: the scan's expired-lease takeover no longer applies to it.
    await makeDue(t.sql, id);
    expect(await generateCertificate(deps, twoAttempts, id)).toMatchObject({ status: 'skipped' });
    expect(renders).toBe(0);
  });

  it('repairs a crash between upload and database update: the next attempt overwrites the same key', async () => {
    const user = await student('Alan', 'Turing');
    const courseId = await createCourse(t.sql);
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
    const key = `certificates/${courseId}/${user.id}/${id}.pdf`;
    // A worker claimed it, uploaded something, and died before recording: its lease has expired.
    const storage = readableStorage(createS3Client(s3ConfigFor(t)), t.bucket);
    await storage.putPdf(key, new TextEncoder().encode('%PDF-stale'), {});
    await t.sql`UPDATE certificates SET status = 'rendering', attempt_count = 1, lease_owner = 'crashed-worker',
                  lease_expires_at = now() - interval '1 second' WHERE id = ${id}`;
    const deps = makeGenerateDeps(t, renderer);

    expect(await generateCertificate(deps, options, id)).toMatchObject({
      status: 'issued',
      attempt: 2,
      s3Key: key,
    });
    const row = await certificateRow(t.sql, id);
    const pdf = await storage.getObject(key);
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(pdf).digest('hex')).toBe(row.pdf_sha256);
    expect(await pdfText(pdf)).toContain('Alan Turing');
    expect((await listKeys(t)).filter((k) => k.includes(id))).toEqual([key]);
    const [claimed] = await t.sql`SELECT message, from_status FROM certificate_generation_log
                                  WHERE certificate_id = ${id} AND event = 'claimed'`;
    expect(claimed).toMatchObject({ from_status: 'rendering', message: 'expired lease taken over' });
  });

  it('relaunches a browser killed mid-render and issues the certificate', async () => {
    const user = await student('Barbara', 'Liskov');
    const courseId = await createCourse(t.sql);
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
    // Warm the browser so there is a process to kill.
    await renderer.render({
      certificateId: randomUUID(),
      verificationCode: 'WARM',
      verifyUrl: 'https://certificates.example.org/verify/WARM',
      studentName: 'Warm Up',
      courseName: 'Warm Up',
      score: 1,
      maxScore: 1,
      percentage: 100,
      issuedOn: '2026-01-01',
      locale: 'en',
      issuerName: 'Example Academy',
    });
    const firstPid = printer.pid();
    expect(firstPid).toBeTypeOf('number');
    let killed = false;
    // The kill must land while a print is in flight, every time: the browser is frozen
    // (SIGSTOP) so the print cannot finish, the print is started (it passes the "is the browser
    // connected" check within microtasks), and only then is the frozen browser killed.
    const killingPrinter: PdfPrinter = {
      close: () => printer.close(),
      print: async (html, printOptions) => {
        if (killed || firstPid === undefined) return await printer.print(html, printOptions);
        killed = true;
        process.kill(firstPid, 'SIGSTOP');
        const printing = printer.print(html, printOptions);
        await new Promise((resolve) => setImmediate(resolve));
        process.kill(firstPid, 'SIGKILL');
        return await printing;
      },
    };
    const deps = makeGenerateDeps(t, createCertificateRenderer(killingPrinter, { timeoutMs: 30_000 }));

    // One defined outcome: the attempt in flight fails with a browser error and is retried...
    const first = await generateCertificate(deps, options, id);
    expect(first).toMatchObject({ status: 'failed' });
    expect(first.status === 'failed' ? first.error : '').toMatch(/browser crashed during render/);
    // ...and the retry relaunches the browser and issues.
    await makeDue(t.sql, id);
    const outcome = await generateCertificate(deps, options, id);
    expect(outcome).toMatchObject({ status: 'issued' });
    expect(killed).toBe(true);
    expect(printer.pid()).toBeTypeOf('number');
    expect(printer.pid()).not.toBe(firstPid);
    const storage = readableStorage(createS3Client(s3ConfigFor(t)), t.bucket);
    expect(await pdfText(await storage.getObject(`certificates/${courseId}/${user.id}/${id}.pdf`))).toContain(
      'Barbara Liskov',
    );
  });

  it('rejects an id that is not a UUID before touching the database', async () => {
    const deps = makeGenerateDeps(t, renderer);
    await expect(generateCertificate(deps, options, "1' OR '1'='1")).rejects.toBeInstanceOf(ValidationError);
  });
});
