import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import jsQR from 'jsqr';
import { afterAll, describe, expect, it } from 'vitest';
import type { CertificateRenderer } from '../../lib/certificates/ports.ts';
import { ValidationError } from '../../lib/errors.ts';
import { createCertificateRenderer, loadDefaultTemplate } from '../../lib/render/renderer.ts';
import { renderPdfPage } from '../../scripts/pdf-raster.ts';
import { isAlive, waitUntilGone } from '../../scripts/process-tree.ts';
import { pdfInfo } from '../support/pdf.ts';
import { pdfTextLayer } from '../support/pdf-text-layer.ts';
import { content, createTestRenderer, squash } from './render-fixtures.ts';

const { printer, renderer } = createTestRenderer();
afterAll(async () => {
  await renderer.close();
});

describe('hostile names', () => {
  const printedAsText = [
    '<script>document.title="pwned"</script>Ada',
    '<img src="https://evil.example/x.png" onerror="alert(1)">',
    '<img src="file:///etc/passwd">',
    'file:///etc/passwd',
    '<link rel="stylesheet" href="http://evil.example/x.css">',
    '<iframe src="file:///etc/shadow"></iframe>',
    '{{ certificate_id }} {% raw %}',
    '"><style>@import url(http://evil.example/a.css);</style>',
  ];
  for (const name of printedAsText) {
    it(`prints ${JSON.stringify(name).slice(0, 40)} as text and fetches nothing`, async () => {
      const before = printer.blockedRequests.length;
      const { pdf } = await renderer.render(content({ studentName: name, courseName: name }));
      const text = await pdfTextLayer(pdf);
      expect(squash(text)).toContain(squash(name));
      expect(printer.blockedRequests.slice(before)).toEqual([]);
      expect((await pdfInfo(pdf)).pages).toBe(1);
    });
  }

  it('drops bidi override and isolate controls so the name reads as written', async () => {
    const { pdf } = await renderer.render(
      content({ studentName: 'Eve \u202Egnp.exe\u202C Mallory\u2066x\u2069' }),
    );
    const lines = (await pdfTextLayer(pdf)).split('\n');
    expect(lines).toContain('Eve gnp.exe Malloryx');
    const { info } = await pdfInfo(pdf);
    expect(String(info.Title)).not.toMatch(/[\u202A-\u202E\u2066-\u2069]/u);
  });

  it('refuses a 10,000-character name with a ValidationError naming the field', async () => {
    const error = await renderer
      .render(content({ studentName: 'A'.repeat(10_000) }))
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('student_name');
    expect((error as Error).message).toMatch(/at most 200/);
  });

  it('refuses a name whose characters are too wide to fit, instead of issuing a certificate spilling onto more pages', async () => {
    // U+FDFD is one character several ems wide: the size estimate counts it as one Arabic letter.
    for (const count of [10, 30]) {
      await expect(renderer.render(content({ studentName: '\uFDFD'.repeat(count) }))).rejects.toThrow(
        /does not fit on one page/,
      );
    }
    // The renderer is fine afterwards.
    const { pdf } = await renderer.render(content());
    expect((await pdfInfo(pdf)).pages).toBe(1);
  });

  it('refuses an empty name (only controls and spaces)', async () => {
    await expect(renderer.render(content({ studentName: ' \u202E \u200F ' }))).rejects.toBeInstanceOf(
      ValidationError,
    );
  });

  it('the page really is isolated: a template that references the network is blocked and recorded', async () => {
    const template = await loadDefaultTemplate();
    const before = printer.blockedRequests.length;
    await renderer.render(content(), {
      ...template,
      html: template.html.replace('</main>', '<img src="http://127.0.0.1:9/tracker.png" alt=""></main>'),
    });
    expect(printer.blockedRequests.slice(before)).toEqual(['http://127.0.0.1:9/tracker.png']);
  });

  it('never runs a script in the template: on a fresh page, on a loaded template page, or on that page reused for the next certificate', async () => {
    // Templates are data, never code. A reused template-once page keeps its document between
    // certificates, so a script there could carry one certificate's data into the next PDF (this
    // one copies every replaced text, the previous student's name too), or change what is
    // printed after Liquid escaped it.
    const template = await loadDefaultTemplate();
    // In a function of its own: a page's global scope outlives setContent, and the pages are
    // shared between the paths, so a top-level `const` would fail the second time it is declared.
    const script = `<script>(() => {
      const note = document.createElement('p');
      note.style.cssText = 'position:absolute;top:0;left:0;margin:0;font-size:6px';
      note.textContent = 'SCRIPT RAN';
      document.body.appendChild(note);
      new MutationObserver((records) => {
        for (const record of records) note.textContent += ' CARRIED ' + record.oldValue;
      }).observe(document.body, { subtree: true, characterData: true, characterDataOldValue: true });
    })();</script>`;
    const scripted = { ...template, html: template.html.replace('</body>', `${script}</body>`) };
    const fresh = createCertificateRenderer(printer, { timeoutMs: 30_000, reuseTemplatePages: false });
    const printed: Record<string, string> = {};
    const print = async (path: string, by: CertificateRenderer, studentName: string) => {
      const { pdf } = await by.render(content({ studentName }), scripted);
      printed[path] = squash(await pdfTextLayer(pdf));
      expect(printed[path]).toContain(squash(studentName));
    };
    await print('fresh page', fresh, 'Ada Lovelace');
    await print('template page loaded', renderer, 'Ada Lovelace');
    await print('template page reused', renderer, 'Grace Hopper');
    const scriptRan = Object.keys(printed).filter((path) => printed[path]?.includes('SCRIPTRAN'));
    expect(scriptRan).toEqual([]);
    expect(printed['template page reused']).not.toContain('AdaLovelace');
  });

  it('refuses a template that sends its page elsewhere (a meta refresh, no script needed), on both paths, and prints the next certificate whole', async () => {
    // To about:blank the certificate would print blank and be issued; to a blocked URL the page
    // would hold Chromium's error page, and the next certificate printed on it would fail. Such a
    // page takes its browser with it (closing it can hang): every browser discarded on the way
    // must be gone, not only forgotten, and the one left must be the printer's current one.
    const template = await loadDefaultTemplate();
    const launchedBefore = printer.launchedPids.length;
    const fresh = createCertificateRenderer(printer, { timeoutMs: 30_000, reuseTemplatePages: false });
    for (const target of ['about:blank', 'http://127.0.0.1:9/']) {
      const away = {
        ...template,
        version: `refresh-${target}`,
        html: template.html.replace(
          '</head>',
          `<meta http-equiv="Refresh" content="0; url=${target}"></head>`,
        ),
      };
      for (const [path, by] of [
        ['fresh page', fresh],
        ['template page', renderer],
      ] as const) {
        const error = await by.render(content(), away).catch((caught: unknown) => caught);
        expect(error, `${path}, ${target}`).toBeInstanceOf(ValidationError);
        expect(String(error)).toContain('navigates away from its own page');
        const { pdf } = await by.render(content({ studentName: 'Grace Hopper' }));
        expect(squash(await pdfTextLayer(pdf)), `${path}, after ${target}`).toContain('GraceHopper');
      }
    }
    const launched = printer.launchedPids.slice(launchedBefore);
    expect(launched.length).toBeGreaterThanOrEqual(4);
    // A SIGKILLed browser is gone once Node reaps it; a forgotten one stays for good.
    const discarded = launched.filter((pid) => pid !== printer.pid());
    await waitUntilGone(discarded, 30_000);
    expect(discarded.filter(isAlive)).toEqual([]);
    expect(isAlive(printer.pid() ?? 0)).toBe(true);
  });

  it('reaches nothing through the loads request interception does not see (prefetch, prerender, the names in the URL)', async () => {
    // A live listener, not the `blocked` event: a speculative load never passes the interception.
    const hits: string[] = [];
    const server = createServer((request, response) => {
      hits.push(request.url ?? '');
      response.end('');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const template = await loadDefaultTemplate();
      const links = ['prefetch', 'prerender', 'preload" as="fetch', 'next']
        .map(
          (rel) =>
            `<link rel="${rel}" href="http://127.0.0.1:${port}/${rel.split('"')[0]}?n={{ student_name }}">`,
        )
        .join('');
      const leaky = { ...template, html: template.html.replace('</head>', `${links}</head>`) };
      // Both render paths: a fresh page, then the loaded template page reused.
      await renderer.render(content(), leaky);
      await renderer.render(content({ studentName: 'Grace Hopper' }), leaky);
      // A prefetch is sent as soon as the page is parsed; give a slow machine a second more.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(hits).toEqual([]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('long names shrink to fit', () => {
  const cases: Array<[string, string]> = [
    ['200 Latin characters', `${'Maximilian Alexander '.repeat(9)}Wolfgang Amadeus`.slice(0, 200)],
    ['200 CJK characters', '王小明欧阳娜娜'.repeat(29).slice(0, 200)],
    ['one 200-letter word', 'W'.repeat(200)],
    ['long course as well', 'Jean-Baptiste Emmanuel Zorg de la Montagne-Sainte-Geneviève'],
  ];
  for (const [label, name] of cases) {
    it(`${label}: stays on one page, printed in full`, async () => {
      const courseName = label.startsWith('long course') ? 'Advanced '.repeat(33).trim() : 'Short course';
      const { pdf } = await renderer.render(content({ studentName: name, courseName }));
      expect((await pdfInfo(pdf)).pages).toBe(1);
      const text = squash(await pdfTextLayer(pdf));
      expect(text).toContain(squash(name));
      expect(text).toContain(squash(courseName));
      // The footer (printed after the name) is still on the page.
      expect(text).toContain('CERTIFICATEID');
    });
  }
});

describe('QR code and metadata', () => {
  it('the QR code in the PDF decodes to the verification URL', async () => {
    const verifyUrl = 'https://certificates.example.org/verify/K7Q2M9X4T8B3N6PZ';
    const { pdf } = await renderer.render(content({ verifyUrl }));
    const { context, width, height } = await renderPdfPage(pdf, 1, 3);
    const image = context.getImageData(0, 0, width, height);
    const decoded = jsQR(new Uint8ClampedArray(image.data.buffer), width, height);
    expect(decoded?.data).toBe(verifyUrl);
  });

  it('Arabic lays the page out right to left: the QR code moves from the right edge to the left', async () => {
    const corners: Record<string, number> = {};
    for (const locale of ['en', 'ar']) {
      const { pdf } = await renderer.render(content({ locale, studentName: 'محمد عبد الله' }));
      const { context, width, height } = await renderPdfPage(pdf, 1, 3);
      const image = context.getImageData(0, 0, width, height);
      const decoded = jsQR(new Uint8ClampedArray(image.data.buffer), width, height);
      corners[locale] = (decoded?.location.topLeftCorner.x ?? Number.NaN) / width;
    }
    expect(corners.en).toBeGreaterThan(0.6);
    expect(corners.ar).toBeLessThan(0.4);
  });

  it('sets title, author (issuer), subject and keywords with the certificate id', async () => {
    const { pdf } = await renderer.render(
      content({ studentName: 'Grace Hopper', courseName: 'Compilers', issuerName: 'Navy Academy' }),
    );
    const { info } = await pdfInfo(pdf);
    expect(info.Title).toBe('Certificate of Achievement – Grace Hopper');
    expect(info.Author).toBe('Navy Academy');
    expect(info.Subject).toBe('Certificate: Compilers');
    expect(String(info.Keywords)).toContain('3f1c1d9e-5b7a-4c1e-9f00-0000000000a1');
    expect(String(info.Keywords)).toContain('K7Q2M9X4T8B3N6PZ');
  });

  it('a typical Latin certificate stays under 150 KB', async () => {
    const { pdf } = await renderer.render(
      content({ studentName: 'Zoë Ångström', courseName: 'Data Structures' }),
    );
    expect(pdf.byteLength).toBeLessThan(150 * 1024);
  });
});
