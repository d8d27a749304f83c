import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PDFArray, PDFDict, PDFDocument, PDFHexString, PDFName, PDFString } from 'pdf-lib';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { CertificateContent } from '../../lib/certificates/ports.ts';
import { ConfigurationError } from '../../lib/errors.ts';
import { createPdfPrinter, RenderTimeoutError } from '../../lib/render/browser.ts';
import { createCertificateRenderer, loadDefaultTemplate } from '../../lib/render/renderer.ts';
import { createObservedPrinter } from '../support/observed-printer.ts';
import { pdfText } from '../support/pdf.ts';

const printer = createPdfPrinter({ executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH });
const renderer = createCertificateRenderer(printer, { timeoutMs: 30_000 });
afterAll(async () => {
  await renderer.close();
});

const sampleContent = (studentName: string): CertificateContent => ({
  certificateId: '3f1c1d9e-0000-4000-8000-000000000002',
  verificationCode: 'ABD',
  verifyUrl: 'https://example.org/verify/ABD',
  studentName,
  courseName: 'Intro to Testing',
  score: 90,
  maxScore: 100,
  percentage: 90,
  issuedOn: '2026-11-24',
  locale: 'en',
  issuerName: 'Example Academy',
});

describe('renderer smoke', () => {
  it('prints an escaped certificate to PDF', async () => {
    const { pdf } = await renderer.render(sampleContent('<script>alert(1)</script> Ada'));
    expect(Buffer.from(pdf.subarray(0, 5)).toString()).toBe('%PDF-');
    const text = await pdfText(pdf);
    expect(text).toContain('<script>alert(1)</script> Ada');
    expect(text).toContain('Intro to Testing');
  });

  it('tags the QR code and the seal as figures with a text alternative in the page language', async () => {
    const figures = async (content: CertificateContent) => {
      const document = await PDFDocument.load((await renderer.render(content)).pdf);
      const alts: string[] = [];
      const visit = (node: unknown, depth: number): void => {
        if (depth > 64) return;
        if (node instanceof PDFArray)
          for (const item of node.asArray()) visit(document.context.lookup(item), depth + 1);
        if (!(node instanceof PDFDict)) return;
        const alt = node.lookup(PDFName.of('Alt'));
        if (node.lookup(PDFName.of('S')) === PDFName.of('Figure'))
          alts.push(alt instanceof PDFString || alt instanceof PDFHexString ? alt.decodeText() : '');
        const kids = node.lookup(PDFName.of('K'));
        if (kids) visit(kids, depth + 1);
      };
      visit(document.catalog.lookup(PDFName.of('StructTreeRoot')), 0);
      return alts.sort();
    };
    expect(await figures(sampleContent('Ada Lovelace'))).toEqual(['Official seal', 'Scan to verify']);
    expect(await figures({ ...sampleContent('Ada Lovelace'), locale: 'de' })).toEqual([
      'Offizielles Siegel',
      'Zum Prüfen scannen',
    ]);
  });
});

describe('browser launch', () => {
  /**
   * An executable that runs the real Chromium, except that the first `failures` launches die the
   * way Chromium once did here while starting (a segfault, nothing on stderr). Each launch is
   * counted in a file beside it.
   */
  async function flakyChromium(failures: number): Promise<{ path: string; launches: () => Promise<number> }> {
    const folder = await mkdtemp(join(inject('stack').root, 'flaky-chromium-'));
    const count = join(folder, 'launches');
    const path = join(folder, 'chromium');
    const real = inject('stack').env.CHROMIUM_EXECUTABLE_PATH ?? '';
    await writeFile(
      path,
      [
        '#!/bin/sh',
        `echo launch >> '${count}'`,
        `if [ "$(wc -l < '${count}')" -le ${failures} ]; then kill -SEGV $$; fi`,
        `exec '${real}' "$@"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const launches = async () =>
      (await readFile(count, 'utf8').catch(() => '')).split('\n').filter((line) => line === 'launch').length;
    return { path, launches };
  }

  it('a browser that dies while starting is launched once more at once, and the print succeeds', async () => {
    const chromium = await flakyChromium(1);
    const retried: string[] = [];
    const launched: unknown[] = [];
    const flaky = createPdfPrinter({
      executablePath: chromium.path,
      events: { launchRetried: (reason) => retried.push(reason), launched: (pid) => launched.push(pid) },
    });
    try {
      const pdf = await flaky.print('<html><body><p>relaunched</p></body></html>', { timeoutMs: 60_000 });
      expect(Buffer.from(pdf.subarray(0, 5)).toString()).toBe('%PDF-');
      expect(await chromium.launches()).toBe(2);
      expect(retried).toHaveLength(1);
      expect(launched).toHaveLength(1);
    } finally {
      await flaky.close();
    }
  });

  it('no Chromium at the configured path is a configuration error, not retried (the certificate keeps its attempt)', async () => {
    const retried: string[] = [];
    const missing = createPdfPrinter({
      executablePath: '/nonexistent/chromium',
      events: { launchRetried: (reason) => retried.push(reason) },
    });
    try {
      const error = await missing
        .print('<p>never</p>', { timeoutMs: 60_000 })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(String(error)).toMatch(/no Chromium at \/nonexistent\/chromium/);
      expect(retried).toEqual([]);
    } finally {
      await missing.close();
    }
  });

  it('a browser that cannot start is tried twice, then reported as a browser failure', async () => {
    const chromium = await flakyChromium(Number.MAX_SAFE_INTEGER);
    const retried: string[] = [];
    const broken = createPdfPrinter({
      executablePath: chromium.path,
      events: { launchRetried: (reason) => retried.push(reason) },
    });
    try {
      await expect(broken.print('<p>never</p>', { timeoutMs: 60_000 })).rejects.toMatchObject({
        name: 'TransientError',
        dependency: 'browser',
        message: expect.stringMatching(/^browser launch failed/),
      });
      expect(await chromium.launches()).toBe(2);
      expect(retried).toHaveLength(1);
    } finally {
      await broken.close();
    }
  });
});

describe('a print that outlasts its time', () => {
  it('fails as a timeout without a second try, and the browser (single-process, as on Lambda) is replaced so the next certificate prints', async () => {
    const observed = createObservedPrinter({
      executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH,
      singleProcess: true,
      maxPages: 1,
    });
    const freshPages: string[] = [];
    const tight = createCertificateRenderer(observed, {
      timeoutMs: 1500,
      onFreshPage: (reason) => freshPages.push(reason),
    });
    const relaxed = createCertificateRenderer(observed, { timeoutMs: 120_000 });
    try {
      const template = await loadDefaultTemplate();
      // Thousands of full-page blurred layers: far more than 1.5 s of painting on any machine.
      const heavy = {
        ...template,
        version: 'heavy',
        html: template.html.replace(
          '</main>',
          '{% for i in (1..20000) %}<div style="filter:blur(8px) drop-shadow(0 0 30px red);position:absolute;top:0;left:0;width:2000px;height:2000px;opacity:0.01">{{ student_name }}</div>{% endfor %}</main>',
        ),
      };
      await relaxed.render(sampleContent('Ada Lovelace'));
      const first = observed.pid();
      await expect(tight.render(sampleContent('Grace Hopper'), heavy)).rejects.toBeInstanceOf(
        RenderTimeoutError,
      );
      // Not printed again on a fresh page: it would take as long again.
      expect(freshPages).toEqual([]);
      const { pdf } = await relaxed.render(sampleContent('Alan Turing'));
      expect(await pdfText(pdf)).toContain('Alan Turing');
      expect(observed.pid()).not.toBe(first);
    } finally {
      await observed.close();
    }
  });
});
