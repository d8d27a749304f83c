import { PDFDict, PDFDocument, PDFName } from 'pdf-lib';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { CertificateContent, ResolvedTemplate } from '../../lib/certificates/ports.ts';
import { qrCode } from '../../lib/render/assets.ts';
import type { PdfPrinter, ReusedPageJob } from '../../lib/render/browser.ts';
import { createCertificateRenderer, loadDefaultTemplate } from '../../lib/render/renderer.ts';
import { renderPdfPage } from '../../scripts/pdf-raster.ts';
import { createObservedPrinter } from '../support/observed-printer.ts';
import { pdfTextLayer } from '../support/pdf-text-layer.ts';
import { content, qrImageTemplate } from './render-fixtures.ts';

/**
 * Template-once printing (lib/render/template-once.ts) must print the same certificate as a
 * freshly loaded page. One browser, one page at a time: the template-once renderer reuses its
 * page across the five names, so each one replaces the previous certificate's text, fonts and QR.
 */
const printer = createObservedPrinter({
  executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH,
  maxPages: 1,
});
const freshPages: string[] = [];
const missingGlyphs: number[][] = [];
const once = createCertificateRenderer(printer, {
  timeoutMs: 30_000,
  onFreshPage: (reason) => freshPages.push(reason),
  onMissingGlyphs: (codePoints) => missingGlyphs.push(codePoints),
});
const fresh = createCertificateRenderer(printer, { timeoutMs: 30_000, reuseTemplatePages: false });
afterAll(async () => {
  await printer.close();
});

/** Page rasterised at 100 dpi (pdf.js), RGBA. */
async function raster(pdf: Uint8Array): Promise<{ data: Uint8ClampedArray; width: number; height: number }> {
  const { context, width, height } = await renderPdfPage(pdf, 1, 100 / 72);
  return { data: context.getImageData(0, 0, width, height).data, width, height };
}

/**
 * Share of pixels whose colour differs by more than 48 (of 255) in any channel: anti-aliasing
 * noise stays below that, a changed glyph does not.
 */
async function pixelDifference(a: Uint8Array, b: Uint8Array): Promise<number> {
  const [left, right] = await Promise.all([raster(a), raster(b)]);
  expect([left.width, left.height]).toEqual([right.width, right.height]);
  let differing = 0;
  for (let at = 0; at < left.data.length; at += 4) {
    for (let channel = 0; channel < 3; channel += 1) {
      if (Math.abs((left.data[at + channel] ?? 0) - (right.data[at + channel] ?? 0)) > 48) {
        differing += 1;
        break;
      }
    }
  }
  return differing / (left.width * left.height);
}

/** The stated threshold: at most 0.1% of the page's pixels may differ. */
const MAX_PIXEL_DIFFERENCE = 0.001;

/** BaseFont of every embedded font: Skia's subset tag (ABCDEF+) on a shipped Noto face, or Type3 (colour emoji). */
async function embeddedFonts(pdf: Uint8Array): Promise<string[]> {
  const document = await PDFDocument.load(pdf, { updateMetadata: false });
  const names: string[] = [];
  for (const [, object] of document.context.enumerateIndirectObjects()) {
    if (!(object instanceof PDFDict) || object.get(PDFName.of('Type')) !== PDFName.of('Font')) continue;
    const subtype = object.get(PDFName.of('Subtype'));
    if (subtype === PDFName.of('Type3')) names.push('Type3');
    else if (subtype !== PDFName.of('CIDFontType2') && subtype !== PDFName.of('CIDFontType0')) {
      const base = object.get(PDFName.of('BaseFont'));
      if (base instanceof PDFName) names.push(base.decodeText());
    }
  }
  return names.sort();
}

const NAMES: Array<[string, string]> = [
  ['Latin', 'Zoë Ångström-Nørgaard'],
  ['Cyrillic', 'Ёлкин Григорий Щукин'],
  ['CJK', '欧阳娜娜'],
  ['Arabic', 'فاطمة الزهراء'],
  ['emoji', 'Sam 🎓✨ Lee 👩🏽‍💻'],
];

function certificate(index: number, studentName: string): CertificateContent {
  const code = `TPLONCE${index}`;
  return content({
    certificateId: `3f1c1d9e-5b7a-4c1e-9f00-00000000010${index}`,
    verificationCode: code,
    verifyUrl: `https://certificates.example.org/verify/${code}`,
    studentName,
    score: 70 + index * 7,
  });
}

describe('template-once printing', () => {
  const printed: Array<{ once: Uint8Array; fresh: Uint8Array }> = [];

  NAMES.forEach(([script, name], index) => {
    it(`${script}: same text, same picture (≤ ${MAX_PIXEL_DIFFERENCE * 100}% pixels), same font subsets as a fresh page`, async () => {
      const onceResult = await once.render(certificate(index, name));
      const freshResult = await fresh.render(certificate(index, name));
      printed.push({ once: onceResult.pdf, fresh: freshResult.pdf });
      expect(freshPages).toEqual([]);

      const onceText = await pdfTextLayer(onceResult.pdf);
      expect(onceText.split('\n')).toContain(name);
      expect(onceText).toBe(await pdfTextLayer(freshResult.pdf));

      expect(await pixelDifference(onceResult.pdf, freshResult.pdf)).toBeLessThanOrEqual(
        MAX_PIXEL_DIFFERENCE,
      );

      const fonts = await embeddedFonts(onceResult.pdf);
      expect(fonts.length).toBeGreaterThan(0);
      for (const font of fonts) expect(font).toMatch(/^([A-Z]{6}\+Noto|Type3$)/);
      const untagged = (names: string[]) => names.map((font) => font.replace(/^[A-Z]{6}\+/, ''));
      expect(untagged(fonts)).toEqual(untagged(await embeddedFonts(freshResult.pdf)));
      expect(printer.blockedRequests).toEqual([]);
    });
  });

  it('the comparison sees a different certificate: another name differs beyond the threshold', async () => {
    const [latin, cyrillic] = printed;
    if (!latin || !cyrillic) throw new Error('the five certificates were not printed');
    expect(await pixelDifference(latin.once, cyrillic.fresh)).toBeGreaterThan(MAX_PIXEL_DIFFERENCE);
  });
});

describe('what a certificate sends to its loaded page', () => {
  it('one print with the values the template prints: the inline QR path, not the unused qr_code image', async () => {
    const jobs: ReusedPageJob[] = [];
    const recording: PdfPrinter = {
      print: (html, options) => printer.print(html, options),
      close: async () => undefined,
      printReusing: (job, options) => {
        jobs.push(job);
        return printer.printReusing?.(job, options) ?? Promise.reject(new Error('no printReusing'));
      },
    };
    const renderer = createCertificateRenderer(recording, { timeoutMs: 30_000 });
    const sent = certificate(6, 'Mary Somerville');
    const { pdf } = await renderer.render(sent);
    expect(await pdfTextLayer(pdf)).toContain('Mary Somerville');
    const printing = jobs.filter((job) => !job.loadOnly);
    expect(printing).toHaveLength(1);
    const values = printing[0]?.values ?? [];
    expect(values).toContain('Mary Somerville');
    expect(values).toContain(qrCode(sent.verifyUrl).path);
    expect(values.some((value) => value.startsWith('data:'))).toBe(false);
    expect(printing[0]?.markers).toHaveLength(values.length);
  });
});

describe('templates whose output does not follow the markers print on a fresh page', () => {
  async function custom(html: string): Promise<ResolvedTemplate> {
    const base = await loadDefaultTemplate();
    return { id: null, version: 'test', html, css: base.css, assets: {} };
  }

  it('a value inside <style> makes the page unmappable; the certificate is still right', async () => {
    const template = await custom(
      '<html><head><style>.n::after { content: "{{ student_name }}"; }</style></head><body><p class="n">{{ student_name }}</p></body></html>',
    );
    freshPages.length = 0;
    const { pdf } = await once.render(certificate(1, 'Ada <b>Lovelace</b>'), template);
    expect(freshPages).toEqual([expect.stringMatching(/inside <style>/)]);
    expect(await pdfTextLayer(pdf)).toContain('Ada <b>Lovelace</b>');
  });

  it('a page that embeds a document prints fresh: the frame would load after the print, blank or with the previous values', async () => {
    const template = await custom(
      '<html><head></head><body><p>{{ student_name }}</p>' +
        '<iframe src="data:text/html,<p>Awarded to {{ student_name }}</p>"></iframe></body></html>',
    );
    for (const [index, name] of ['Ada Lovelace', 'Barbara Liskov', 'Donald Knuth'].entries()) {
      freshPages.length = 0;
      const { pdf } = await once.render(certificate(index + 1, name), template);
      expect(freshPages, name).toEqual([expect.stringMatching(/embeds a document \(<iframe>\)/)]);
      // The frame's own text is this certificate's, never the one printed before it.
      expect(await pdfTextLayer(pdf), name).toContain(`Awarded to ${name}`);
    }
  });

  it('a value through a filter: the filled output differs from the marker page, so it prints fresh', async () => {
    const template = await custom(
      '<html><head></head><body><p>{{ student_name | upcase }}</p></body></html>',
    );
    freshPages.length = 0;
    const { pdf } = await once.render(certificate(2, 'Grace Hopper'), template);
    expect(freshPages).toEqual([expect.stringMatching(/differs from the marker page/)]);
    expect(await pdfTextLayer(pdf)).toContain('GRACE HOPPER');
  });

  it('a value right after a bare "&" prints fresh, where the parser reads them together', async () => {
    const template = await custom('<html><head></head><body><p>R&{{ student_name }}</p></body></html>');
    freshPages.length = 0;
    // On a fresh page "R&amp;D" is the text "R&D"; set into a loaded page it would stay "R&amp;D".
    const { pdf } = await once.render(certificate(3, 'amp;D'), template);
    expect(freshPages).toEqual([expect.stringMatching(/follows a bare "&"/)]);
    expect((await pdfTextLayer(pdf)).split('\n')).toContain('R&D');
  });

  it('characters no shipped font has are reported once per certificate', async () => {
    missingGlyphs.length = 0;
    freshPages.length = 0;
    await once.render(certificate(5, 'Abebe ሰላም'));
    expect(freshPages).toEqual([]);
    expect(missingGlyphs).toEqual([[0x1230, 0x120b, 0x121d]]);
  });

  it('hostile text set into a reused page stays text', async () => {
    const hostile = '<img src=x onerror=alert(1)> & "Ada" \'L\'';
    freshPages.length = 0;
    await once.render(certificate(3, 'Warm Page'));
    const { pdf } = await once.render(certificate(4, hostile));
    expect(freshPages).toEqual([]);
    expect((await pdfTextLayer(pdf)).split('\n')).toContain(hostile);
    expect(printer.blockedRequests).toEqual([]);
  });
});

describe('a QR code drawn as an image (<img src="{{ qr_code }}">)', () => {
  it('an image value that does not load fails the loaded page: the certificate prints on a fresh page, with its code', async () => {
    // The page is sent an SVG that cannot be decoded in place of the certificate's QR code, as
    // an image that never arrived would look: the print must not go out without the code.
    const broken = `data:image/svg+xml;base64,${Buffer.from('<svg').toString('base64')}`;
    const reasons: string[] = [];
    const breaking: PdfPrinter = {
      print: (html, options) => printer.print(html, options),
      close: async () => undefined,
      printReusing: (job, options) =>
        printer.printReusing?.(
          { ...job, values: job.values.map((value) => (value.startsWith('data:') ? broken : value)) },
          options,
        ) ?? Promise.reject(new Error('no printReusing')),
    };
    const renderer = createCertificateRenderer(breaking, {
      timeoutMs: 30_000,
      onFreshPage: (reason) => reasons.push(reason),
    });
    const template = await qrImageTemplate();
    const sent = certificate(7, 'Emmy Noether');
    const { pdf } = await renderer.render(sent, template);
    expect(reasons).toEqual([expect.stringMatching(/an image value did not load/)]);
    const freshResult = await fresh.render(sent, template);
    expect(await pixelDifference(pdf, freshResult.pdf)).toBeLessThanOrEqual(MAX_PIXEL_DIFFERENCE);
  });
});
