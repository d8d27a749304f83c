import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/http/preview-template.ts';
import { createTokenVerifier } from '../../lib/auth/verifier.ts';
import { loadConfig } from '../../lib/config.ts';
import { logger } from '../../lib/observability/logger.ts';
import { loadDefaultTemplate } from '../../lib/render/renderer.ts';
import { saveTemplate } from '../../lib/render/template-store.ts';
import { apiEvent, lambdaContext } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { pdfInfo } from '../support/pdf.ts';
import { pdfTextLayer } from '../support/pdf-text-layer.ts';
import { createTestRenderer } from './render-fixtures.ts';

/** POST /api/v1/templates/preview in-process, against the real database, Keycloak stand-in and Chromium. */

let t: TestEnv;
let handler: ReturnType<typeof createHandler>;
const { printer, renderer } = createTestRenderer();
const tokens = { staff: '', student: '' };

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  t = await createTestEnv();
  const kc = keycloakControl(t.keycloakUrl);
  const staff = await kc.addUser({ firstName: 'Grace', realmRoles: ['certificate-admin'] });
  const student = await kc.addUser({ firstName: 'Alice' });
  tokens.staff = await kc.token(staff.id);
  tokens.student = await kc.token(student.id);
  handler = createHandler({
    sql: t.sql,
    verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth),
    corsOrigins: [],
    renderer,
    verifyBaseUrl: 'https://certificates.example.org/verify',
  });
});
afterAll(async () => {
  await renderer.close();
  await t.cleanup();
});

const call = (body: unknown, token = tokens.staff) =>
  handler(
    apiEvent('POST', '/api/v1/templates/preview', {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
    lambdaContext(),
  );

async function pdfOf(body: string): Promise<Uint8Array> {
  const parsed = JSON.parse(body) as { pdf: string; bytes: number };
  expect(parsed.pdf.startsWith('data:application/pdf;base64,')).toBe(true);
  const pdf = new Uint8Array(Buffer.from(parsed.pdf.split(',')[1] ?? '', 'base64'));
  expect(pdf.byteLength).toBe(parsed.bytes);
  return pdf;
}

describe('POST /api/v1/templates/preview', () => {
  it('renders the default template with the sample values asked for', async () => {
    const response = await call({
      locale: 'fr',
      studentName: 'Élodie Dupré',
      courseName: 'Chimie organique',
    });
    expect(response.statusCode).toBe(200);
    const pdf = await pdfOf(response.body);
    const lines = (await pdfTextLayer(pdf)).split('\n');
    expect(lines).toContain('Élodie Dupré');
    expect(lines).toContain('Certificat de réussite');
    expect((await pdfInfo(pdf)).pages).toBe(1);
    expect(JSON.parse(response.body).template).toEqual({
      id: null,
      version: (await loadDefaultTemplate()).version,
    });
  });

  it('renders a stored template by id', async () => {
    const [course] = await t.sql<
      { id: string }[]
    >`INSERT INTO courses (title) VALUES ('Physics') RETURNING id`;
    const saved = await saveTemplate(t.sql, {
      courseId: course?.id ?? null,
      name: 'Physics',
      html: '<html><head><title>x</title></head><body><h1>Physics certificate</h1><p>{{ student_name }}</p></body></html>',
    });
    const response = await call({ templateId: saved.id });
    expect(response.statusCode).toBe(200);
    expect(await pdfTextLayer(await pdfOf(response.body))).toContain('Physics certificate');
    expect(JSON.parse(response.body).template).toEqual({ id: saved.id, version: '1' });
  });

  it('refuses a draft with an unknown field (400 naming the problem), and a hostile sample name is printed as text', async () => {
    const bad = await call({ template: { html: '<html><head></head><body>{{ password }}</body></html>' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('unknown field');
    const before = printer.blockedRequests.length;
    const hostile = await call({ studentName: '<img src="http://evil.example/x.png">' });
    expect(hostile.statusCode).toBe(200);
    expect(await pdfTextLayer(await pdfOf(hostile.body))).toContain('<img src="http://evil.example/x.png">');
    expect(printer.blockedRequests.slice(before)).toEqual([]);
  });

  it('is staff only, validates the body, and 404s an unknown template id', async () => {
    expect((await call({}, tokens.student)).statusCode).toBe(403);
    expect((await call({ studentName: 'x'.repeat(500) })).statusCode).toBe(400);
    expect((await call({ unexpected: true })).statusCode).toBe(400);
    expect((await call({ templateId: '00000000-0000-4000-8000-00000000beef' })).statusCode).toBe(404);
  });
});
