import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createPdfPrinter } from '../../lib/render/browser.ts';
import { createCertificateRenderer } from '../../lib/render/renderer.ts';
import { commandLine, descendantsOf, waitUntilGone } from '../../scripts/process-tree.ts';
import { pdfText } from '../support/pdf.ts';
import { content, squash } from './render-fixtures.ts';

// A page's renderer process dies (the OOM killer, a Chromium crash) while the browser lives on.
// The template page kept for the next certificate was dead with it: its DevTools calls were never
// answered, and the certificate waited puppeteer's 180 s protocol limit, past generate's own
// timeout, with its budget slot held. Now a crashed page is never used again, and a crash noticed
// only during a print sends that print to a fresh page.

const launched: number[] = [];
const printer = createPdfPrinter({
  executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH,
  maxPages: 1,
  events: { launched: (pid) => (pid === undefined ? undefined : void launched.push(pid)) },
});
const renderer = createCertificateRenderer(printer, { timeoutMs: 30_000 });
// The fresh-page way, on the same browser: it keeps its blank page between prints.
const fresh = createCertificateRenderer(printer, { timeoutMs: 30_000, reuseTemplatePages: false });
afterAll(async () => {
  await printer.close();
});

function renderers(browserPid: number): number[] {
  return descendantsOf(browserPid).filter((pid) => commandLine(pid).includes('--type=renderer'));
}

describe('a renderer process that dies between certificates', () => {
  it('costs the next certificate nothing: it prints on a fresh page of the same browser', async () => {
    await renderer.render(content({ studentName: 'Ada Lovelace' }));
    // Printed on the kept template page (template-once).
    await renderer.render(content({ studentName: 'Grace Hopper' }));
    expect(launched).toHaveLength(1);
    const browserPid = launched[0] as number;
    const dead = renderers(browserPid);
    expect(dead.length).toBeGreaterThan(0);
    for (const pid of dead) process.kill(pid, 'SIGKILL');
    expect(await waitUntilGone(dead, 60_000)).toBe(true);

    const { pdf } = await renderer.render(content({ studentName: 'Katherine Johnson' }));
    expect(squash(await pdfText(pdf))).toContain('KatherineJohnson');
    expect(launched).toEqual([browserPid]);
    // And the one after it prints on that new page again.
    const next = await renderer.render(content({ studentName: 'Dorothy Vaughan' }));
    expect(squash(await pdfText(next.pdf))).toContain('DorothyVaughan');
  }, 120_000);

  it('a crash Chromium reports only while the next certificate is already printing sends that print to a fresh page', async () => {
    await renderer.render(content({ studentName: 'Mary Jackson' }));
    const browserPid = launched.at(-1) as number;
    const stuck = renderers(browserPid);
    expect(stuck.length).toBeGreaterThan(0);
    // The kept page's renderer stops answering, then dies while the next print waits on it.
    for (const pid of stuck) process.kill(pid, 'SIGSTOP');
    const printing = renderer.render(content({ studentName: 'Annie Easley' }));
    // Time for the print to reach the page (a lower bound: on a slower machine the crash is
    // known before the print starts instead, which the test above covers).
    await sleep(500);
    for (const pid of stuck) process.kill(pid, 'SIGKILL');
    const { pdf } = await printing;
    expect(squash(await pdfText(pdf))).toContain('AnnieEasley');
    expect(launched).toEqual([browserPid]);
  }, 120_000);

  it('a fresh-page print does not take a blank page whose renderer died', async () => {
    await fresh.render(content({ studentName: 'Evelyn Boyd Granville' }));
    const browserPid = launched.at(-1) as number;
    const dead = renderers(browserPid);
    for (const pid of dead) process.kill(pid, 'SIGKILL');
    expect(await waitUntilGone(dead, 60_000)).toBe(true);
    const { pdf } = await fresh.render(content({ studentName: 'Gladys West' }));
    expect(squash(await pdfText(pdf))).toContain('GladysWest');
    expect(launched).toEqual([browserPid]);
  }, 120_000);
});
