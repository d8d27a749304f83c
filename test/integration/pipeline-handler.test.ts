import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { logger } from '../../lib/observability/logger.ts';
import { saveTemplate } from '../../lib/render/template-store.ts';
import { createS3Client } from '../../lib/storage/s3.ts';
import { waitUntilGone } from '../../scripts/process-tree.ts';
import { applyEnv, createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { pdfTextLayer } from '../support/pdf-text-layer.ts';
import { readableStorage } from '../support/s3-objects.ts';
import { certificateRow, createCourse, createPendingCertificate, s3ConfigFor } from './pipeline-fixtures.ts';

/** The real generate handler, with its module-scope clients, against this file's database and bucket. */

let t: TestEnv;
let restoreEnv: () => void;
let generate: typeof import('../../functions/generate.ts');
let infoLog: MockInstance<typeof logger.info>;

// Not the default ('Course Certificates'): a PDF can show it only if the handler read the setting.
const ISSUER_NAME = 'Harbourside Institute of Wiring';

/** The pid of the handler's current browser, as its 'Chromium launched' log line reports it. */
function browserPid(): unknown {
  const launches = infoLog.mock.calls.filter(([message]) => message === 'Chromium launched');
  return (launches.at(-1)?.[1] as { pid?: unknown } | undefined)?.pid;
}

beforeAll(async () => {
  t = await createTestEnv();
  restoreEnv = applyEnv({ ...t.env, POWERTOOLS_METRICS_DISABLED: 'true', ISSUER_NAME });
  generate = await import('../../functions/generate.ts');
  infoLog = vi.spyOn(logger, 'info');
});
afterAll(async () => {
  infoLog?.mockRestore();
  await generate?.printer.close();
  await t.cleanup();
  restoreEnv();
});

describe('generate handler', () => {
  it('rejects a malformed event without throwing (an async retry could not fix it)', async () => {
    expect(await generate.handler({ certificateId: 'nope' })).toEqual({
      status: 'rejected',
      reason: 'invalid event',
    });
    expect(await generate.handler(undefined)).toMatchObject({ status: 'rejected' });
  });

  // A kill during a print is pinned down in pipeline-generate.test.ts (the browser frozen, then
  // killed, while the print is in flight); here, the handler's own module-scope printer.
  it('keeps one warm browser across invocations and relaunches one that died between them', async () => {
    const keycloak = keycloakControl(t.keycloakUrl);
    const courseId = await createCourse(t.sql, { title: 'Resilience' });
    const issue = async (firstName: string, lastName: string) => {
      const user = await keycloak.addUser({ firstName, lastName });
      const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
      return { id, outcome: await generate.handler({ certificateId: id }) };
    };
    expect((await issue('Warm', 'Start')).outcome).toMatchObject({ status: 'issued' });
    const pid = browserPid();
    expect(pid).toBeTypeOf('number');
    const launches = () => infoLog.mock.calls.filter(([message]) => message === 'Chromium launched').length;
    const launched = launches();

    // Warm: the next invocation prints with the same browser.
    expect((await issue('Still', 'Warm')).outcome).toMatchObject({ status: 'issued' });
    expect(launches()).toBe(launched);
    expect(browserPid()).toBe(pid);

    process.kill(pid as number, 'SIGKILL');
    expect(await waitUntilGone([pid as number], 30_000)).toBe(true);
    const { id, outcome } = await issue('Killed', 'Browser');
    expect(outcome).toMatchObject({ status: 'issued' });
    expect(launches()).toBe(launched + 1);
    expect(browserPid()).toBeTypeOf('number');
    expect(browserPid()).not.toBe(pid);
    expect(await certificateRow(t.sql, id)).toMatchObject({
      status: 'issued',
      student_name: 'Killed Browser',
    });
  });

  it('takes an id as PostgreSQL does: any UUID version, either case, one object under the lower-case key', async () => {
    const keycloak = keycloakControl(t.keycloakUrl);
    const user = await keycloak.addUser({ firstName: 'Imported', lastName: 'Row' });
    const courseId = await createCourse(t.sql, { title: 'Imported' });
    const created = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
    // Version 0, variant c: a uuid column takes it (an imported row), RFC 9562 does not define it.
    const id = 'abcdef01-2345-0789-cabc-def012345678';
    await t.sql`UPDATE certificates SET id = ${id} WHERE id = ${created}`;
    const outcome = await generate.handler({ certificateId: id.toUpperCase() });
    expect(outcome).toMatchObject({ status: 'issued' });
    const row = await certificateRow(t.sql, id);
    expect(row).toMatchObject({ status: 'issued' });
    expect(row?.s3_key).toBe(`certificates/${courseId}/${user.id}/${id}.pdf`);
  });

  // The handler's own wiring: the course's locale (DEFAULT_LOCALE is 'en' here), the course's
  // stored template and ISSUER_NAME reach the PDF and the record.
  it("prints with the course's stored template, in the course's locale, naming ISSUER_NAME", async () => {
    const keycloak = keycloakControl(t.keycloakUrl);
    const user = await keycloak.addUser({ firstName: 'Greta', lastName: 'Verdrahtet' });
    const courseId = await createCourse(t.sql, { title: 'Verkabelung', locale: 'de' });
    const marker = 'Stored course template W7K';
    const template = await saveTemplate(t.sql, {
      courseId,
      name: 'Wiring',
      html: `<!doctype html><html lang="{{ locale }}" dir="{{ dir }}"><head><meta charset="utf-8"><title>{{ labels.title }}</title></head>
<body><p>${marker}</p><h1>{{ labels.title }}</h1><p>{{ student_name }}</p><p>{{ course_name }}</p>
<p>{{ issuer_name }}</p><p>{{ issued_on }}</p><img src="{{ qr_code }}" alt=""></body></html>`,
    });
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });

    expect(await generate.handler({ certificateId: id })).toMatchObject({ status: 'issued' });

    const row = await certificateRow(t.sql, id);
    expect(row).toMatchObject({
      status: 'issued',
      locale: 'de',
      template_id: template.id,
      template_version: '1',
      issuer_name: ISSUER_NAME,
    });
    const pdf = await readableStorage(createS3Client(s3ConfigFor(t)), t.bucket).getObject(String(row.s3_key));
    const lines = (await pdfTextLayer(pdf)).split('\n');
    expect(lines).toContain(marker);
    // The German title (templates/locales/de.json), not the English "Certificate of Achievement".
    expect(lines).toContain('Leistungszertifikat');
    expect(lines).toContain(ISSUER_NAME);
    expect(lines).toContain('Greta Verdrahtet');
  });

  it('logs how many characters no font draws and their scripts, never the characters (they would spell the name)', async () => {
    const warnLog = vi.spyOn(logger, 'warn');
    try {
      const keycloak = keycloakControl(t.keycloakUrl);
      const user = await keycloak.addUser({ firstName: 'ꆈꌠ', lastName: 'ꁱꂷ' });
      const courseId = await createCourse(t.sql, { title: 'Nuosu studies' });
      const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
      expect(await generate.handler({ certificateId: id })).toMatchObject({ status: 'issued' });
      const lines = warnLog.mock.calls.filter(
        ([message]) => message === 'Certificate text has characters no shipped font can draw',
      );
      expect(lines).toEqual([
        [
          'Certificate text has characters no shipped font can draw',
          { certificate_id: id, characters: 4, scripts: ['Yi'] },
        ],
      ]);
      expect(JSON.stringify(lines)).not.toMatch(/A188|A320|A071|A0B7|ꆈ/);
    } finally {
      warnLog.mockRestore();
    }
  });

  it('answers an unknown certificate id quietly', async () => {
    expect(await generate.handler({ certificateId: randomUUID() })).toMatchObject({ status: 'skipped' });
  });
});
