/**
 * Renders a certificate with sample data and writes a PDF and a PNG of page 1.
 *
 *   npm run preview -- --template default --locale de --name "Zoë Ångström" [--course "..."]
 *                      [--out preview/cert] [--template <uuid> (needs DATABASE_URL; and S3_BUCKET
 *                      when the template's assets are in the bucket)]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { createPdfPrinter } from '../lib/render/browser.ts';
import { previewTemplate } from '../lib/render/preview.ts';
import { createCertificateRenderer } from '../lib/render/renderer.ts';
import { loadTemplateById } from '../lib/render/template-store.ts';
import { createS3AssetLoader } from '../lib/storage/asset-loader.ts';
import { createS3Client } from '../lib/storage/s3.ts';
import { cliArgs } from './cli-args.ts';
import { pdfPageToPng } from './pdf-raster.ts';

const { values } = cliArgs(
  'usage: npm run preview -- [--template default|<uuid> (needs DATABASE_URL)] [--locale en] [--name "..."] [--course "..."] [--issuer "..."] [--out preview/certificate]',
  {
    template: { type: 'string', default: 'default' },
    locale: { type: 'string', default: 'en' },
    name: { type: 'string' },
    course: { type: 'string' },
    issuer: { type: 'string' },
    out: { type: 'string', default: 'preview/certificate' },
  },
);

let template: Awaited<ReturnType<typeof loadTemplateById>> | undefined;
if (values.template !== 'default') {
  if (!process.env.DATABASE_URL) throw new Error('--template <id> needs DATABASE_URL');
  const sql = createSql({
    DATABASE_URL: process.env.DATABASE_URL,
    DB_POOL_MAX: 1,
    DB_CONNECT_TIMEOUT_SECONDS: 10,
  });
  try {
    template = await loadTemplateById(sql, values.template);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
// A stored template's bucket assets are read from the bucket, as generate reads them.
let s3: ReturnType<typeof loadConfig<'s3'>>['s3'] | undefined;
try {
  if (Object.values(template?.assets ?? {}).some((ref) => ref.startsWith('s3://')))
    s3 = loadConfig(['s3']).s3;
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`Cannot preview: the template's assets are in the bucket. ${error.message}\n`);
  process.exit(1);
}
const client = s3 ? createS3Client(s3) : undefined;
const printer = createPdfPrinter({ executablePath: process.env.CHROMIUM_EXECUTABLE_PATH });
const renderer = createCertificateRenderer(printer, {
  timeoutMs: 30_000,
  ...(s3 && client ? { assetLoader: createS3AssetLoader(client, s3.S3_BUCKET) } : {}),
});
try {
  const started = performance.now();
  const { pdf } = await previewTemplate(renderer, {
    template,
    locale: values.locale,
    studentName: values.name,
    courseName: values.course,
    issuerName: values.issuer,
  });
  const elapsed = performance.now() - started;
  const base = resolve(values.out);
  await mkdir(dirname(base), { recursive: true });
  await writeFile(`${base}.pdf`, pdf);
  await writeFile(`${base}.png`, await pdfPageToPng(pdf, 1, 1.5));
  console.log(`wrote ${base}.pdf (${pdf.byteLength} bytes, ${elapsed.toFixed(0)} ms) and ${base}.png`);
} finally {
  await renderer.close();
  client?.destroy();
}
