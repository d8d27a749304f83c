import { afterAll, describe, expect, inject, it } from 'vitest';
import { createPdfPrinter, RenderTimeoutError } from '../../lib/render/browser.ts';
import { createCertificateRenderer } from '../../lib/render/renderer.ts';
import { descendantsOf, signal } from '../../scripts/process-tree.ts';
import { pdfText } from '../support/pdf.ts';
import { content, squash } from './render-fixtures.ts';

// Chromium stops answering altogether (stuck, starved, stopped) while a certificate needs a page
// made and loaded: the first of another locale or template in a container, any after a crash.
// Each DevTools call of that waited puppeteer's protocol limit (60 s), past generate's own
// timeout, and the error was not taken for a timeout, so the hung browser served the next
// certificate too. Now the print fails within RENDER_TIMEOUT_MS and the next one relaunches.

const launched: number[] = [];
const stopped: number[] = [];
const printer = createPdfPrinter({
  executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH,
  maxPages: 1,
  events: { launched: (pid) => (pid === undefined ? undefined : void launched.push(pid)) },
});
// Prints that must succeed get a limit no busy machine reaches; the one that must time out, a
// short one (it is met only because the browser never answers).
const patient = createCertificateRenderer(printer, { timeoutMs: 120_000 });
const hurried = createCertificateRenderer(printer, { timeoutMs: 3_000 });

afterAll(async () => {
  for (const pid of stopped) signal(pid, 'SIGKILL');
  await printer.close();
});

describe('a browser that stops answering', () => {
  it('fails a print that needs a new page within the render limit, and the next print relaunches Chromium', async () => {
    // The production start: the English template page loaded ahead (functions/generate.ts).
    await patient.warm('en');
    await patient.render(content({ studentName: 'Ada Lovelace' }));
    expect(launched).toHaveLength(1);
    const browserPid = launched[0] as number;
    for (const pid of [browserPid, ...descendantsOf(browserPid)]) {
      stopped.push(pid);
      signal(pid, 'SIGSTOP');
    }

    // French: no page of it loaded, so a new one is made and loaded for it.
    const failed = await hurried.render(content({ studentName: 'Grace Hopper', locale: 'fr' })).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failed).toBeInstanceOf(RenderTimeoutError);

    const next = await patient.render(content({ studentName: 'Katherine Johnson', locale: 'fr' }));
    expect(squash(await pdfText(next.pdf))).toContain('KatherineJohnson');
    expect(launched).toHaveLength(2);
    expect(launched[1]).not.toBe(browserPid);
  }, 300_000);
});
