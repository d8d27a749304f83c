import { createHash, randomUUID } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, inject, it } from 'vitest';
import { eraseStudent } from '../../lib/certificates/erasure.ts';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import type { CertificateRenderer } from '../../lib/certificates/ports.ts';
import { createSql } from '../../lib/db/client.ts';
import { createKeycloakDirectory } from '../../lib/identity/keycloak-directory.ts';
import { createPdfPrinter } from '../../lib/render/browser.ts';
import { createCertificateRenderer, loadDefaultTemplate } from '../../lib/render/renderer.ts';
import { createS3AssetLoader } from '../../lib/storage/asset-loader.ts';
import { createCertificateStorage, createS3Client } from '../../lib/storage/s3.ts';
import { DEMO_STUDENTS } from '../../localstack/embedded/demo-data.ts';
import { type TestEnv, testEnvPerFile } from '../support/env.ts';
import { gate } from '../support/gate.ts';
import { untilWaitingForLock } from '../support/lock-wait.ts';
import { readableStorage } from '../support/s3-objects.ts';
import {
  auditEvents,
  certificateRow,
  createCourse,
  createPendingCertificate,
  generateOptions,
  heldUploads,
  listKeys,
  makeGenerateDeps,
  recordingLog,
  recordingMetrics,
  s3ConfigFor,
  TINY_PNG,
} from './pipeline-fixtures.ts';

// Two workers on one certificate after a lease takeover, and errors that mean "fix the setup".

let t: TestEnv;
const studentId = DEMO_STUDENTS[0]?.id as string;

/**
 * A renderer printing a fixed marker; with a gate it holds the render until released. With
 * `failure` it throws that error instead of printing (after the gate, if gated).
 */
function markerRenderer(marker: string, gated = false, failure?: string) {
  let release: (() => void) | undefined;
  let entered = false;
  const renderer: CertificateRenderer = {
    async render() {
      entered = true;
      if (gated) await new Promise<void>((resolve) => (release = resolve));
      if (failure) throw new Error(failure);
      return { pdf: new TextEncoder().encode(`%PDF-1.4 ${marker}`), template: { id: null, version: marker } };
    },
    close: async () => undefined,
  };
  return { renderer, entered: () => entered, release: () => release?.() };
}

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await sleep(10);
}

testEnvPerFile((env) => {
  t = env;
});

describe('lease takeover', () => {
  it('a slow worker that lost its lease writes nothing: object and record are the winner’s', async () => {
    const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
    const slow = markerRenderer('slow-worker', true);
    const slowRun = generateCertificate(makeGenerateDeps(t, slow.renderer), generateOptions(), id);
    await until(slow.entered);
    // The slow worker stalls past its lease (time travel instead of waiting for it).
    await t.sql`UPDATE certificates SET lease_expires_at = now() - interval '1 second' WHERE id = ${id}`;
    // A stalled or dead worker is treated like a failed attempt: no takeover within the backoff
    // that attempt's failure would have got.
    const early = markerRenderer('too-early');
    expect(await generateCertificate(makeGenerateDeps(t, early.renderer), generateOptions(), id)).toEqual({
      status: 'skipped',
      certificateId: id,
      reason: 'not-claimable',
    });
    expect(early.entered()).toBe(false);
    await t.sql`UPDATE certificates SET next_attempt_at = now() - interval '1 second' WHERE id = ${id}`;

    const winner = await generateCertificate(
      makeGenerateDeps(t, markerRenderer('winner').renderer),
      generateOptions(),
      id,
    );
    expect(winner.status).toBe('issued');
    slow.release();
    expect(await slowRun).toEqual({ status: 'skipped', certificateId: id, reason: 'lease-lost' });

    const row = await certificateRow(t.sql, id);
    expect(row.status).toBe('issued');
    const storage = readableStorage(createS3Client(s3ConfigFor(t)), t.bucket);
    const stored = await storage.getObject(row.s3_key as string);
    expect(new TextDecoder().decode(stored)).toBe('%PDF-1.4 winner');
    expect(createHash('sha256').update(stored).digest('hex')).toBe(row.pdf_sha256);
    expect(row.template_version).toBe('winner');
    expect((await listKeys(t)).filter((key) => key.includes(id))).toEqual([row.s3_key]);
    expect((await auditEvents(t.sql, id)).filter((event) => event === 'issued')).toHaveLength(1);
  });

  it('an attempt that failed after its lease was taken over is counted once, by the takeover', async () => {
    const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
    // One metrics sink and one log for both workers, as CloudWatch sees them.
    const shared = { metrics: recordingMetrics(), log: recordingLog() };
    const slow = markerRenderer('slow-worker', true, 'renderer gave up late');
    const slowRun = generateCertificate(makeGenerateDeps(t, slow.renderer, shared), generateOptions(), id);
    await until(slow.entered);
    await t.sql`UPDATE certificates SET lease_expires_at = now() - interval '1 second',
                  next_attempt_at = now() - interval '1 second' WHERE id = ${id}`;
    const winner = await generateCertificate(
      makeGenerateDeps(t, markerRenderer('winner').renderer, shared),
      generateOptions(),
      id,
    );
    expect(winner).toMatchObject({ status: 'issued', attempt: 2 });
    slow.release();
    expect(await slowRun).toEqual({ status: 'skipped', certificateId: id, reason: 'lease-lost' });

    expect(shared.metrics.counts).toMatchObject({ generated: 1, failed: 1, dead: 0 });
    const failures = shared.log.entries.filter((entry) =>
      entry.message.startsWith('Failed to generate certificate for student: '),
    );
    expect(failures).toHaveLength(1);
    expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'claimed', 'issued']);
  });

  it('a worker still inside its lease is not taken over, even once the backoff of its attempt has passed', async () => {
    // The claim's backoff (60 s) ends long before its lease (180 s): a doubled invocation arriving
    // in between must not render the certificate a second time under the first worker.
    const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
    const slow = markerRenderer('slow-worker', true);
    const slowRun = generateCertificate(makeGenerateDeps(t, slow.renderer), generateOptions(), id);
    try {
      await until(slow.entered);
      await t.sql`UPDATE certificates SET next_attempt_at = now() - interval '1 second' WHERE id = ${id}`;
      const doubled = markerRenderer('doubled');
      const second = await generateCertificate(makeGenerateDeps(t, doubled.renderer), generateOptions(), id);
      expect(second).toEqual({ status: 'skipped', certificateId: id, reason: 'not-claimable' });
      expect(doubled.entered()).toBe(false);
    } finally {
      slow.release();
    }
    expect(await slowRun).toMatchObject({ status: 'issued', attempt: 1 });
    expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'issued']);
  });

  it('a worker that lost its lease and then fails leaves the takeover, still rendering, to issue it', async () => {
    const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
    const slow = markerRenderer('slow-worker', true, 'renderer gave up late');
    const slowRun = generateCertificate(makeGenerateDeps(t, slow.renderer), generateOptions(), id);
    await until(slow.entered);
    await t.sql`UPDATE certificates SET lease_expires_at = now() - interval '1 second',
                  next_attempt_at = now() - interval '1 second' WHERE id = ${id}`;
    const winner = markerRenderer('winner', true);
    const winnerRun = generateCertificate(makeGenerateDeps(t, winner.renderer), generateOptions(), id);
    try {
      await until(winner.entered);
      // The slow worker's error arrives while the takeover renders: recording it as this
      // certificate's failure would end the takeover's lease and discard its render.
      slow.release();
      expect(await slowRun).toEqual({ status: 'skipped', certificateId: id, reason: 'lease-lost' });
    } finally {
      winner.release();
    }
    expect(await winnerRun).toMatchObject({ status: 'issued', attempt: 2 });
    expect(await certificateRow(t.sql, id)).toMatchObject({ status: 'issued', last_error: null });
    expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'claimed', 'issued']);
  });
});

describe('the database connection lost while the PDF uploads', () => {
  it('a failover mid-issue: the attempt is recorded failed and retried, nothing crashes, the retry issues it', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    // generate's own pool, as on Lambda: one connection, named so it can be ended.
    const name = `generate-${randomUUID().slice(0, 8)}`;
    const sql = createSql(
      { DATABASE_URL: t.env.DATABASE_URL ?? '', DB_POOL_MAX: 1, DB_CONNECT_TIMEOUT_SECONDS: 10 },
      {
        applicationName: name,
      },
    );
    try {
      const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
      const base = makeGenerateDeps(t, markerRenderer('first').renderer, { sql });
      const { storage, upload } = heldUploads(base.storage);
      const run = generateCertificate({ ...base, storage }, generateOptions(), id);
      await upload.reached;
      // The session holding the certificate's row ends (a failover, an operator), and the upload
      // returns at once: the worker goes on with a transaction that is gone.
      await t.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${name}`;
      upload.open();
      expect(await run).toMatchObject({
        status: 'failed',
        attempt: 1,
        error: expect.stringMatching(/CONNECTION_CLOSED/),
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(uncaught).toEqual([]);
      expect(await certificateRow(t.sql, id)).toMatchObject({ status: 'failed', attempt_count: 1 });
      expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'failed']);

      await t.sql`UPDATE certificates SET next_attempt_at = now() - interval '1 second' WHERE id = ${id}`;
      const retried = await generateCertificate(
        makeGenerateDeps(t, markerRenderer('retry').renderer, { sql }),
        generateOptions(),
        id,
      );
      expect(retried).toMatchObject({ status: 'issued', attempt: 2 });
      const row = await certificateRow(t.sql, id);
      const stored = await readableStorage(createS3Client(s3ConfigFor(t)), t.bucket).getObject(
        row.s3_key as string,
      );
      expect(new TextDecoder().decode(stored)).toBe('%PDF-1.4 retry');
      expect(createHash('sha256').update(stored).digest('hex')).toBe(row.pdf_sha256);
      expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'failed', 'claimed', 'issued']);
    } finally {
      process.off('uncaughtException', onUncaught);
      await sql.end({ timeout: 5 });
    }
  });
  it('a COMMIT whose answer is lost (a failover just after it): reported issued, with its metric, not as a lost lease', async () => {
    const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
    // The issuing transaction commits, then its answer is lost: postgres.js rejects as if it failed.
    let lost = false;
    const sql = new Proxy(t.sql, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== 'begin' || lost) return value;
        return async (...args: Parameters<typeof target.begin>) => {
          await target.begin(...args);
          lost = true;
          throw Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' });
        };
      },
    });
    const log = recordingLog();
    const metrics = recordingMetrics();
    const outcome = await generateCertificate(
      makeGenerateDeps(t, markerRenderer('committed').renderer, { sql, log, metrics }),
      generateOptions(),
      id,
    );
    expect(lost).toBe(true);
    expect(outcome).toMatchObject({ status: 'issued', attempt: 1 });
    expect(metrics.counts).toMatchObject({ generated: 1, failed: 0 });
    expect(log.entries.filter((entry) => entry.level === 'warn')).toEqual([]);
    expect(
      log.entries.find((entry) => entry.message.startsWith('Certificate generated successfully'))?.fields,
    ).toMatchObject({ commit_answer_lost: true });
    expect(await certificateRow(t.sql, id)).toMatchObject({ status: 'issued', attempt_count: 1 });
    expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'issued']);
  });

  it('a session ended while a statement of the issue is running: the attempt is recorded failed, not thrown', async () => {
    const name = `generate-${randomUUID().slice(0, 8)}`;
    const sql = createSql(
      { DATABASE_URL: t.env.DATABASE_URL ?? '', DB_POOL_MAX: 1, DB_CONNECT_TIMEOUT_SECONDS: 10 },
      {
        applicationName: name,
      },
    );
    const blocker = gate();
    let held: Promise<unknown> = Promise.resolve();
    try {
      const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
      const slow = markerRenderer('first', true);
      const run = generateCertificate(makeGenerateDeps(t, slow.renderer, { sql }), generateOptions(), id);
      await until(slow.entered);
      // Another session holds the row, so generate's SELECT ... FOR UPDATE is running (waiting)
      // when its session is ended: PostgreSQL's fatal error arrives for a statement in flight.
      held = t.sql.begin(async (tx) => {
        await tx`SELECT id FROM certificates WHERE id = ${id} FOR UPDATE`;
        await blocker.wait();
      });
      await blocker.reached;
      slow.release();
      await untilWaitingForLock(t.sql, { applicationName: name });
      await t.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${name}`;
      blocker.open();
      await held;
      // The reconnected session records the failure: before the patch it was handed the old
      // session's 57P01, generate threw, and the certificate stayed rendering until its lease expired.
      expect(await run).toMatchObject({ status: 'failed', attempt: 1 });
      expect(await certificateRow(t.sql, id)).toMatchObject({ status: 'failed' });
      expect(await auditEvents(t.sql, id)).toEqual(['claimed', 'failed']);
    } finally {
      blocker.open();
      await held;
      await sql.end({ timeout: 5 });
    }
  });
});

describe('an erasure while the PDF uploads', () => {
  it('waits for the upload, then revokes the certificate it issued and reports its folder for the file purge', async () => {
    const erasedStudent = DEMO_STUDENTS[1]?.id;
    if (!erasedStudent) throw new Error('the demo data has a second student');
    const id = await createPendingCertificate(t.sql, {
      studentId: erasedStudent,
      courseId: await createCourse(t.sql),
    });
    const base = makeGenerateDeps(t, markerRenderer('uploaded').renderer);
    const { storage, upload } = heldUploads(base.storage);
    const run = generateCertificate({ ...base, storage }, generateOptions(), id);
    await upload.reached;
    let erasureEnded = false;
    const erasure = eraseStudent(
      { sql: t.sql, log: recordingLog() },
      { studentId: erasedStudent, actor: 'erasure-TICKET-7' },
    ).finally(() => {
      erasureEnded = true;
    });
    // The erasure waits for the certificate's row, which the worker holds while it uploads. Were it
    // deleted meanwhile, the upload would land after the erasure (and its file purge) committed.
    await untilWaitingForLock(t.sql, { ended: () => erasureEnded });
    upload.open();
    const issued = await run;
    expect(issued).toMatchObject({ status: 'issued', certificateId: id });
    const key = issued.status === 'issued' ? issued.s3Key : '';
    const report = await erasure;
    expect(report).toMatchObject({ certificatesDeleted: 0, certificatesRevoked: 1 });
    expect(report.tombstones).toEqual([expect.objectContaining({ certificateId: id, status: 'revoked' })]);
    // The file purge that follows the erasure empties these folders: the uploaded file is in one.
    expect(report.s3Prefixes.some((prefix) => key.startsWith(prefix))).toBe(true);
  });
});

describe('configuration errors', () => {
  it('a missing bucket: clear last_error, metric, attempt kept, retried after an hour, not dead', async () => {
    const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
    const deps = makeGenerateDeps(t, markerRenderer('x').renderer, {
      storage: createCertificateStorage(createS3Client(s3ConfigFor(t)), 'no-such-bucket-here'),
    });
    // Even on what would be the last attempt, a configuration error never kills the certificate.
    await t.sql`UPDATE certificates SET attempt_count = 4 WHERE id = ${id}`;
    const outcome = await generateCertificate(deps, generateOptions({ maxAttempts: 5 }), id);
    expect(outcome).toMatchObject({ status: 'failed', retryInSeconds: 3600 });
    const row = await certificateRow(t.sql, id);
    expect(row.status).toBe('failed');
    expect(row.attempt_count).toBe(4);
    expect(row.last_error).toMatch(/NoSuchBucket.*check S3_BUCKET/);
    const wait = (new Date(row.next_attempt_at as string).getTime() - Date.now()) / 1000;
    expect(wait).toBeGreaterThan(3000);
    expect(deps.metrics.counts.configurationErrors).toBe(1);
  });

  it.each([
    {
      mistake: 'a bucket logo without an image Content-Type',
      key: 'template-assets/untyped-logo.png',
      logo: (bucket: string) => `s3://${bucket}/template-assets/untyped-logo.png`,
      error: 'has type binary/octet-stream, not an image',
    },
    {
      // Saving refuses both now; a template stored before that, or written with SQL, still can.
      mistake: 'a stored template whose logo names another bucket',
      key: 'template-assets/other-bucket-logo.png',
      logo: () => 's3://someone-elses-bucket/template-assets/other-bucket-logo.png',
      error: 'is not in the certificates bucket under template-assets/',
    },
    {
      mistake: 'a stored template whose logo is outside template-assets/',
      key: 'logos/outside-logo.png',
      logo: (bucket: string) => `s3://${bucket}/logos/outside-logo.png`,
      error: 'is not in the certificates bucket under template-assets/',
    },
  ])(
    '$mistake: a configuration error, not every certificate of the course dead',
    async ({ key, logo: logoIn, error }) => {
      // How `aws s3api put-object` and many SDK uploads store a file when no type is given.
      const s3 = createS3Client(s3ConfigFor(t));
      await s3.send(
        new PutObjectCommand({
          Bucket: t.bucket,
          Key: key,
          Body: Buffer.from(TINY_PNG, 'base64'),
          ContentType: 'binary/octet-stream',
        }),
      );
      const logo = logoIn(t.bucket);
      const printer = createPdfPrinter({
        executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH,
        maxPages: 1,
      });
      const renderer = createCertificateRenderer(printer, {
        timeoutMs: 30_000,
        assetLoader: createS3AssetLoader(s3, t.bucket),
      });
      try {
        const template = await loadDefaultTemplate();
        const deps = makeGenerateDeps(t, renderer, {
          resolveTemplate: async () => ({ ...template, assets: { ...template.assets, logo } }),
        });
        const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
        // Even on what would be the last attempt.
        await t.sql`UPDATE certificates SET attempt_count = 4 WHERE id = ${id}`;
        const outcome = await generateCertificate(deps, generateOptions({ maxAttempts: 5 }), id);
        expect(outcome).toMatchObject({ status: 'failed', retryInSeconds: 3600 });
        const row = await certificateRow(t.sql, id);
        expect(row).toMatchObject({ status: 'failed', attempt_count: 4 });
        expect(row.last_error).toContain(`${logo} ${error}`);
        expect(deps.metrics.counts.configurationErrors).toBe(1);
      } finally {
        await renderer.close();
        s3.destroy();
      }
    },
  );

  it('Keycloak refusing the client secret: a configuration error, not the student’s fault', async () => {
    const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
    const base = makeGenerateDeps(t, markerRenderer('x').renderer);
    const deps = {
      ...base,
      directory: createKeycloakDirectory({
        baseUrl: t.env.KEYCLOAK_URL ?? '',
        realm: t.env.KEYCLOAK_REALM ?? 'student',
        clientId: t.env.KEYCLOAK_CLIENT_ID ?? '',
        clientSecret: 'not-the-secret',
        timeoutMs: 5000,
        profileCacheSeconds: 0,
      }),
    };
    const outcome = await generateCertificate(deps, generateOptions(), id);
    expect(outcome).toMatchObject({ status: 'failed', retryInSeconds: 3600 });
    expect((await certificateRow(t.sql, id)).last_error).toMatch(/Keycloak refused the client credentials/);
    expect(base.metrics.counts.configurationErrors).toBe(1);
  });

  it('Keycloak at the wrong address: a configuration error, never "student not found"', async () => {
    // A proxy that passes Keycloak's token endpoint but answers its own 404 page for /admin, as
    // a gateway that does not route the admin API does. Only Keycloak's own answer may kill.
    const upstream = new URL(t.env.KEYCLOAK_URL ?? '');
    const proxy = createServer((req, res) => {
      if (req.url?.startsWith('/admin/')) {
        res.writeHead(404, { 'content-type': 'text/html' }).end('<html><body>404 Not Found</body></html>');
        return;
      }
      const forward = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    try {
      const base = makeGenerateDeps(t, markerRenderer('x').renderer);
      const directoryAt = (baseUrl: string, realm: string) =>
        createKeycloakDirectory({
          baseUrl,
          realm,
          clientId: t.env.KEYCLOAK_CLIENT_ID ?? '',
          clientSecret: t.env.KEYCLOAK_CLIENT_SECRET ?? '',
          timeoutMs: 5000,
          profileCacheSeconds: 0,
        });
      const cases = [
        {
          directory: directoryAt(`http://127.0.0.1:${port}`, t.env.KEYCLOAK_REALM ?? 'student'),
          error: /404 to the user lookup.*KEYCLOAK_URL/,
        },
        {
          directory: directoryAt(t.env.KEYCLOAK_URL ?? '', 'no-such-realm'),
          error: /no token endpoint for realm no-such-realm/,
        },
      ];
      for (const { directory, error } of cases) {
        const id = await createPendingCertificate(t.sql, { studentId, courseId: await createCourse(t.sql) });
        const outcome = await generateCertificate(
          { ...base, directory },
          generateOptions({ maxAttempts: 1 }),
          id,
        );
        expect(outcome).toMatchObject({ status: 'failed', retryInSeconds: 3600 });
        const row = await certificateRow(t.sql, id);
        expect(row).toMatchObject({ status: 'failed', attempt_count: 0 });
        expect(row.last_error).toMatch(error);
      }
      expect(base.metrics.counts.configurationErrors).toBe(2);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
