/**
 * Renders a certificate with sample data and writes a PDF and a PNG of page 1.
 *
 *   npm run preview -- --template default --locale de --name "Zoë Ångström" [--course "..."]
 *                      [--out preview/cert] [--template <uuid> (needs DATABASE_URL; and S3_BUCKET
 *                      when the template's assets are in the bucket)]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ConfigError } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { createPdfPrinter, type PdfPrinter } from '../lib/render/browser.ts';
import { previewTemplate } from '../lib/render/preview.ts';
import { createCertificateRenderer } from '../lib/render/renderer.ts';
import { loadTemplateById } from '../lib/render/template-store.ts';
import { bucketAssetReader } from './bucket-assets.ts';
import { cliArgs, userPath } from './cli-args.ts';
import { pdfPageToPng } from './pdf-raster.ts';

const { values } = cliArgs(
  'usage: npm run preview -- [--template default|<uuid> (needs DATABASE_URL)] [--locale de (default: the template locale, else en)] [--name "..."] [--course "..."] [--issuer "..."] [--out preview/certificate]',
  {
    template: { type: 'string', default: 'default' },
    // No default: a stored template previews in its own locale, as the preview route does.
    locale: { type: 'string' },
    name: { type: 'string' },
    course: { type: 'string' },
    issuer: { type: 'string' },
    out: { type: 'string', default: 'preview/certificate' },
  },
);

let template: Awaited<ReturnType<typeof loadTemplateById>> | undefined;
if (values.template !== 'default') {
  if (!process.env.DATABASE_URL)
    throw new ConfigError([
      { variable: 'DATABASE_URL', message: 'is required to read a stored template (--template <id>)' },
    ]);
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
// A stored template's bucket assets are read from the bucket, as generate reads them (a missing
// S3_BUCKET is a ConfigError, one line from cliArgs' handler).
const bucket = bucketAssetReader(template?.assets ?? {});
// One close, shared by the normal end and a signal: a signal that arrives while the normal end is
// closing must wait for that same close, not find the printer already emptied and exit while
// Chromium is still shutting down.
let closing: Promise<void> | undefined;
const chromium = createPdfPrinter({ executablePath: process.env.CHROMIUM_EXECUTABLE_PATH });
// Once closing has begun, no call reaches the printer: the renderer answers a print that failed
// (as one does when its browser is closed under it) by printing again on a fresh page, which
// would launch another Chromium behind the close, killed at exit with its profile folder left.
const refusedWhenClosing =
  <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
  (...args: A): Promise<R> =>
    closing ? Promise.reject(new Error('the preview is closing')) : call(...args);
const printer: PdfPrinter = {
  print: refusedWhenClosing(chromium.print),
  ...(chromium.printReusing ? { printReusing: refusedWhenClosing(chromium.printReusing) } : {}),
  ...(chromium.warm ? { warm: refusedWhenClosing(chromium.warm) } : {}),
  close: () => chromium.close(),
};
const renderer = createCertificateRenderer(printer, {
  timeoutMs: 30_000,
  ...(bucket ? { assetLoader: bucket.assetLoader } : {}),
});
const close = (): Promise<void> => {
  closing ??= renderer.close().finally(() => bucket?.close());
  return closing;
};

// Chromium is launched with its own signal handling off (lib/render/browser.ts, as generate needs
// on Lambda) and in a process group of its own, so neither a terminal's Ctrl-C nor `timeout` or
// `kill` reaches it: had this process simply died, Chromium (and its profile folder) would have
// stayed behind for good. So a signal closes the renderer, which closes Chromium, and exits with
// the signal's conventional code. Closing normally takes well under a second; should Chromium
// not answer, the exit still comes, and puppeteer's own exit hook SIGKILLs Chromium's group.
const CLOSE_GRACE_MS = 10_000;
let interrupted: Promise<never> | undefined;
for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(name, () => {
    const code = 128 + constants.signals[name];
    // A second Ctrl-C while closing: the operator does not want to wait (Chromium is still
    // SIGKILLed by puppeteer's exit hook; only its profile folder may stay).
    if (interrupted) process.exit(code);
    // After a hang-up the terminal is gone, and writing to it could fail.
    if (name !== 'SIGHUP') process.stderr.write(`${name}: closing Chromium\n`);
    interrupted = (async () => {
      await Promise.race([close().catch(() => undefined), delay(CLOSE_GRACE_MS)]);
      process.exit(code);
    })();
  });
}

try {
  const started = performance.now();
  const { pdf } = await previewTemplate(renderer, {
    template,
    ...(values.locale === undefined ? {} : { locale: values.locale }),
    studentName: values.name,
    courseName: values.course,
    issuerName: values.issuer,
  });
  const elapsed = performance.now() - started;
  const base = userPath(values.out, 'scripts/preview.ts');
  await mkdir(dirname(base), { recursive: true });
  await writeFile(`${base}.pdf`, pdf);
  await writeFile(`${base}.png`, await pdfPageToPng(pdf, 1, 1.5));
  console.log(`wrote ${base}.pdf (${pdf.byteLength} bytes, ${elapsed.toFixed(0)} ms) and ${base}.png`);
} catch (error) {
  // A signal closed Chromium under the render: the outcome is the signal's exit, not the failed
  // render's error (which would otherwise race it to print a failure and exit 1).
  if (interrupted) await interrupted;
  throw error;
} finally {
  await close();
}
