import { readFileSync } from 'node:fs';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { createCanvas } from '@napi-rs/canvas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHandler } from '../../functions/http/preview-template.ts';
import { createTokenVerifier } from '../../lib/auth/verifier.ts';
import { loadConfig } from '../../lib/config.ts';
import { ConfigurationError } from '../../lib/errors.ts';
import { errorSchema } from '../../lib/http/schemas.ts';
import { logger } from '../../lib/observability/logger.ts';
import type { AssetLoader } from '../../lib/render/assets.ts';
import { MAX_PREVIEW_PDF_BYTES, PREVIEW_STAMP } from '../../lib/render/preview.ts';
import { createCertificateRenderer, loadDefaultTemplate } from '../../lib/render/renderer.ts';
import { saveTemplate } from '../../lib/render/template-store.ts';
import { createS3AssetLoader } from '../../lib/storage/asset-loader.ts';
import { pdfPageText } from '../../scripts/pdf-page-text.ts';
import { apiEvent, lambdaContext } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { pdfInfo } from '../support/pdf.ts';
import { pdfTextLayer } from '../support/pdf-text-layer.ts';
import { TINY_PNG } from './pipeline-fixtures.ts';
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
    // Any name, course and score a caller types, in the official design: stamped across the page.
    expect((await pdfPageText(pdf)).join('\n')).toContain(PREVIEW_STAMP);
    expect((await pdfInfo(pdf)).pages).toBe(1);
    expect(JSON.parse(response.body).template).toEqual({
      id: null,
      version: (await loadDefaultTemplate()).version,
    });
  });

  it('previews a draft as large as a template may be (past the 16 KiB other bodies are held to)', async () => {
    // ~170 KB of CSS rules: a real template with its fonts' @font-face ranges or inline SVG is
    // easily past 16 KiB; the limit is the template's own (MAX_TEMPLATE_BYTES).
    const css = Array.from(
      { length: 6000 },
      (_, i) => `.rule-${i} { color: #${(i % 4096).toString(16).padStart(3, '0')}; }`,
    ).join('\n');
    const html =
      '<!doctype html><html><head><title>x</title></head><body><h1>Large draft</h1><p>{{ student_name }}</p><p>{{ course_name }}</p><p>{{ verify_url }}</p></body></html>';
    expect(Buffer.byteLength(JSON.stringify({ template: { html, css } }))).toBeGreaterThan(150 * 1024);
    const response = await call({ template: { html, css } });
    expect(response.statusCode, response.body).toBe(200);
    expect(await pdfTextLayer(await pdfOf(response.body))).toContain('Large draft');

    // A draft past what a template may be is still refused by name, before any rendering.
    const tooLarge = await call({ template: { html, css: css.repeat(4) } });
    // Content Too Large (RFC 9110 15.5.14), not a malformed body.
    expect(tooLarge.statusCode).toBe(413);
    expect(errorSchema.parse(JSON.parse(tooLarge.body)).error).toMatchObject({
      code: 'payload_too_large',
      parameter: 'body',
    });
  });

  it('renders a stored template by id', async () => {
    const [course] = await t.sql<
      { id: string }[]
    >`INSERT INTO courses (title) VALUES ('Physics') RETURNING id`;
    const saved = await saveTemplate(t.sql, {
      courseId: course?.id ?? null,
      name: 'Physics',
      html: '<html><head><title>x</title></head><body><h1>Physics certificate</h1><p>{{ student_name }}</p><p>{{ course_name }}</p><p>{{ verify_url }}</p></body></html>',
    });
    const response = await call({ templateId: saved.id });
    expect(response.statusCode).toBe(200);
    expect(await pdfTextLayer(await pdfOf(response.body))).toContain('Physics certificate');
    expect(JSON.parse(response.body).template).toEqual({ id: saved.id, version: '1' });

    // A template stored before templates had to print the course still previews (its save
    // followed the rules of its day); a draft like it is refused, as saving it would be.
    const legacyHtml = '<html><head><title>x</title></head><body><p>{{ student_name }}</p></body></html>';
    const [legacy] = await t.sql<{ id: string }[]>`
      INSERT INTO certificate_templates (course_id, version, name, html, css, assets)
      VALUES (${course?.id ?? null}, 2, 'Physics (old)', ${legacyHtml}, '', '{}'::jsonb) RETURNING id`;
    const old = await call({ templateId: legacy?.id });
    expect(old.statusCode).toBe(200);
    const draft = await call({ template: { html: legacyHtml } });
    expect(draft.statusCode).toBe(400);
    expect(draft.body).toContain('must print course_name');
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

  it("a draft whose loop hits Liquid's memory limit is a 400 on html, as a save answers, not a 500", async () => {
    const html =
      '<!doctype html><html><head><title>x</title></head><body><p>{{ student_name }}</p><p>{{ course_name }}</p>' +
      '<p>{{ verify_url }}</p>{% for i in (1..100000000) %}{% endfor %}</body></html>';
    const response = await call({ template: { html } });
    expect(response.statusCode, response.body).toBe(400);
    const { error } = errorSchema.parse(JSON.parse(response.body));
    expect(error.parameter).toBe('template.html');
    expect(error.message).toMatch(/^template fails with sample data: .*limit/);
  });

  it('is staff only, validates the body, and 404s an unknown template id', async () => {
    expect((await call({}, tokens.student)).statusCode).toBe(403);
    expect((await call({ studentName: 'x'.repeat(500) })).statusCode).toBe(400);
    expect((await call({ unexpected: true })).statusCode).toBe(400);
    expect((await call({ templateId: '00000000-0000-4000-8000-00000000beef' })).statusCode).toBe(404);
  });
});

describe('POST /api/v1/templates/preview with bucket assets', () => {
  const html =
    '<!doctype html><html><head><title>x</title></head><body><img src="{{ assets.logo }}"><p>{{ student_name }}</p><p>{{ course_name }} {{ verification_code }}</p></body></html>';
  let s3: S3Client;

  beforeAll(async () => {
    s3 = new S3Client({
      endpoint: t.env.S3_ENDPOINT_URL,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    await s3.send(
      new PutObjectCommand({
        Bucket: t.bucket,
        Key: 'template-assets/logo.png',
        Body: Buffer.from(TINY_PNG, 'base64'),
        ContentType: 'image/png',
      }),
    );
  });
  afterAll(() => s3?.destroy());

  /** The preview handler with the production S3 asset loader (the shared test printer). */
  const previewWith = (assetLoader: AssetLoader) => (logo: string) =>
    createHandler({
      sql: t.sql,
      verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth),
      corsOrigins: [],
      renderer: createCertificateRenderer(printer, { timeoutMs: 30_000, assetLoader }),
    })(
      apiEvent('POST', '/api/v1/templates/preview', {
        headers: { authorization: `Bearer ${tokens.staff}`, 'content-type': 'application/json' },
        body: JSON.stringify({ template: { html, assets: { logo } } }),
      }),
      lambdaContext(),
    );

  /** A client whose every request S3 refuses with 403 (the stand-in checks no permissions). */
  function forbiddenClient(): S3Client {
    const client = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    client.send = (async () => {
      throw new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
      });
    }) as S3Client['send'];
    return client;
  }

  it('renders a draft whose logo is in the bucket', async () => {
    const response = await previewWith(createS3AssetLoader(s3, t.bucket))(
      `s3://${t.bucket}/template-assets/logo.png`,
    );
    expect(response.statusCode).toBe(200);
  });

  it("a 400 names the part of the body at fault: a draft's own parts under `template`, a stored template by `templateId`", async () => {
    const parameterOf = async (
      request: Record<string, unknown>,
      loader = createS3AssetLoader(s3, t.bucket),
    ) => {
      const response = await createHandler({
        sql: t.sql,
        verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth),
        corsOrigins: [],
        renderer: createCertificateRenderer(printer, { timeoutMs: 30_000, assetLoader: loader }),
      })(
        apiEvent('POST', '/api/v1/templates/preview', {
          headers: { authorization: `Bearer ${tokens.staff}`, 'content-type': 'application/json' },
          body: JSON.stringify(request),
        }),
        lambdaContext(),
      );
      expect(response.statusCode, response.body).toBe(400);
      return errorSchema.parse(JSON.parse(response.body)).error.parameter;
    };
    const html =
      '<html><head><title>x</title></head><body><p>{{ student_name }}</p><p>{{ course_name }}</p><p>{{ verify_url }}</p></body></html>';
    // As the schema names a draft's fields (its html missing), so the template checks.
    expect(await parameterOf({ template: {} })).toBe('template.html');
    expect(await parameterOf({ template: { html: '<p>{{ student_name }}</p>' } })).toBe('template.html');
    expect(await parameterOf({ template: { html, assets: { banner: 'x.png' } } })).toBe('template.assets');
    const missing = `s3://${t.bucket}/template-assets/gone.png`;
    expect(await parameterOf({ template: { html, assets: { logo: missing } } })).toBe('template.assets');
    // A stored template's missing logo is the fault of the id that picked it.
    // Stored while it was there (saving checks it), deleted from the bucket since.
    const [saved] = await t.sql<{ id: string }[]>`
      INSERT INTO certificate_templates (course_id, version, name, html, css, assets)
      VALUES (NULL, 1, 'Logo gone', ${html}, '', ${t.sql.json({ logo: missing })}) RETURNING id`;
    expect(await parameterOf({ templateId: saved?.id })).toBe('templateId');
  });

  it('a missing or unreadable asset is the caller’s 400 on `assets` naming their reference, not a 503', async () => {
    const missingRef = `s3://${t.bucket}/template-assets/nope.png`;
    const cases: [AssetLoader, string][] = [
      [createS3AssetLoader(s3, t.bucket), missingRef],
      [createS3AssetLoader(forbiddenClient(), t.bucket), `s3://${t.bucket}/template-assets/logo.png`],
    ];
    for (const [loader, ref] of cases) {
      const response = await previewWith(loader)(ref);
      expect(response.statusCode, ref).toBe(400);
      expect(response.headers['Retry-After']).toBeUndefined();
      expect(errorSchema.parse(JSON.parse(response.body)).error).toMatchObject({
        code: 'invalid_parameter',
        parameter: 'template.assets',
        message: `asset not found or not readable: ${ref}`,
      });
    }
    // generate keeps treating it as configuration: the certificate waits for an operator.
    await expect(createS3AssetLoader(s3, t.bucket)(missingRef)).rejects.toBeInstanceOf(ConfigurationError);
    await expect(
      createS3AssetLoader(forbiddenClient(), t.bucket)(`s3://${t.bucket}/template-assets/logo.png`),
    ).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('a preview too large for a Lambda response is a 400 on `assets`, not API Gateway’s bare 502', async () => {
    // Four images of noise just under the 2 MiB an asset may be: Chromium embeds their pixels
    // as they are, so the PDF is larger than a 6 MiB response can carry once base64-encoded.
    const noise = (): Buffer => {
      const canvas = createCanvas(740, 740);
      const context = canvas.getContext('2d');
      const image = context.createImageData(740, 740);
      for (let i = 0; i < image.data.length; i++)
        image.data[i] = i % 4 === 3 ? 255 : (Math.random() * 256) | 0;
      context.putImageData(image, 0, 0);
      return canvas.toBuffer('image/png');
    };
    const keys = ['logo', 'signature', 'seal', 'background'] as const;
    const assets: Record<string, string> = {};
    for (const key of keys) {
      await s3.send(
        new PutObjectCommand({
          Bucket: t.bucket,
          Key: `template-assets/noise-${key}.png`,
          Body: noise(),
          ContentType: 'image/png',
        }),
      );
      assets[key] = `s3://${t.bucket}/template-assets/noise-${key}.png`;
    }
    const images = keys.map((key) => `<img src="{{ assets.${key} }}" width="100">`).join('');
    const preview = (draft: { html: string; assets: Record<string, string> }) =>
      createHandler({
        sql: t.sql,
        verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth),
        corsOrigins: [],
        renderer: createCertificateRenderer(printer, {
          timeoutMs: 30_000,
          assetLoader: createS3AssetLoader(s3, t.bucket),
        }),
      })(
        apiEvent('POST', '/api/v1/templates/preview', {
          headers: { authorization: `Bearer ${tokens.staff}`, 'content-type': 'application/json' },
          body: JSON.stringify({ template: draft }),
        }),
        lambdaContext(),
      );

    const response = await preview({ html: html.replace('<body>', `<body>${images}`), assets });
    expect(response.statusCode).toBe(400);
    const error = errorSchema.parse(JSON.parse(response.body)).error;
    expect(error).toMatchObject({ code: 'invalid_parameter', parameter: 'template.assets' });
    const bytes = Number(/the preview PDF is (\d+) bytes/.exec(error.message)?.[1]);
    expect(bytes).toBeGreaterThan(MAX_PREVIEW_PDF_BYTES);
    expect(error.message).toContain(`more than the ${MAX_PREVIEW_PDF_BYTES}`);
    // The README states the limit in bytes.
    expect(readFileSync('README.md', 'utf8')).toContain(MAX_PREVIEW_PDF_BYTES.toLocaleString('en-US'));

    // One of the same images previews, and its answer is within the limit it was refused by.
    const one = await preview({ html, assets: { logo: assets.logo ?? '' } });
    expect(one.statusCode).toBe(200);
    const body = z.object({ bytes: z.number() }).parse(JSON.parse(one.body));
    expect(body.bytes).toBeGreaterThan(1_500_000);
    expect(body.bytes).toBeLessThanOrEqual(MAX_PREVIEW_PDF_BYTES);
    expect(Buffer.byteLength(one.body)).toBeLessThan(6 * 1024 * 1024);
  });

  it('a bucket asset that is not an image is a 400 on `assets` saying so (generate would wait for an operator)', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: t.bucket,
        Key: 'template-assets/logo.txt',
        Body: Buffer.from(TINY_PNG, 'base64'),
        ContentType: 'text/plain',
      }),
    );
    const ref = `s3://${t.bucket}/template-assets/logo.txt`;
    const response = await previewWith(createS3AssetLoader(s3, t.bucket))(ref);
    expect(response.statusCode).toBe(400);
    expect(errorSchema.parse(JSON.parse(response.body)).error).toMatchObject({
      parameter: 'template.assets',
      message: expect.stringContaining(`asset ${ref} has type text/plain, not an image`),
    });
  });

  it('an asset in another bucket is a 400 that does not name the certificates bucket', async () => {
    const response = await previewWith(createS3AssetLoader(s3, t.bucket))(
      's3://other-bucket/template-assets/x.png',
    );
    expect(response.statusCode).toBe(400);
    expect(errorSchema.parse(JSON.parse(response.body)).error).toMatchObject({
      parameter: 'template.assets',
    });
    expect(response.body).toContain('s3://other-bucket/template-assets/x.png');
    expect(response.body).not.toContain(t.bucket);
  });
});
