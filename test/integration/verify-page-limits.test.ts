import { existsSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { describe, expect, it } from 'vitest';
import { cappedPageText, PAGE_TEXT_LIMITS } from '../../scripts/capped-page-text.ts';
import { pdfPageTextWithActualText } from '../../scripts/pdf-page-text.ts';

/**
 * `npm run verify` reads a PDF's page in a worker it stops at a memory or time limit
 * (scripts/capped-page-text.ts). A file that gets past the decompression pre-scan cannot be
 * built on purpose here (each one found has been refused by the pre-scan since), so readers that
 * misbehave the same ways stand in for pdf.js (test/support/page-reader-stand-ins.ts).
 */
const STAND_IN = new URL('../support/page-reader-stand-ins.ts', import.meta.url);
const order = (value: object) => new TextEncoder().encode(JSON.stringify(value));
const MIB = 1024 * 1024;

describe('the page reader of npm run verify', () => {
  it('reads a page in its worker as it reads it in this thread', async () => {
    const document = await PDFDocument.create();
    const page = document.addPage([842, 595]);
    const font = await document.embedFont(StandardFonts.Helvetica);
    page.drawText('Ada Lovelace', { x: 60, y: 500, size: 20, font });
    page.drawText('Introduction to Analytical Engines', { x: 60, y: 460, size: 20, font });
    const pdf = await document.save();

    const pages = await cappedPageText()(pdf);
    expect(pages).toEqual(await pdfPageTextWithActualText(pdf));
    expect(JSON.stringify(pages)).toContain('Ada Lovelace');
  });

  it('stops a reader whose memory grows past the limit, and says so', async () => {
    const read = cappedPageText({ memoryBytes: 256 * MIB, timeMs: 10 * 60_000 }, STAND_IN);
    await expect(read(order({ hog: true }))).rejects.toThrow(
      'reading the page needed more than 256 MiB of memory; the file may be built to exhaust the checker',
    );
  });

  it('stops a reader that fills its heap without taking this process down', async () => {
    const read = cappedPageText({ memoryBytes: 64 * MIB, timeMs: 10 * 60_000 }, STAND_IN);
    await expect(read(order({ heap: true }))).rejects.toThrow(
      'reading the page needed more than 64 MiB of memory',
    );
  });

  it('stops a reader that runs past the time limit, and the worker stops computing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'page-limits-'));
    const beat = join(dir, 'beat');
    const read = cappedPageText({ memoryBytes: PAGE_TEXT_LIMITS.memoryBytes, timeMs: 2000 }, STAND_IN);
    await expect(read(order({ spin: beat }))).rejects.toThrow(
      'reading the page took longer than 2 s; the file may be built to exhaust the checker',
    );
    // A worker left running would go on appending to the file every few milliseconds.
    const size = () => (existsSync(beat) ? statSync(beat).size : 0);
    await sleep(500);
    const after = size();
    await sleep(1000);
    expect(size()).toBe(after);
  });

  it("rejects with the reader's own error when it fails", async () => {
    const read = cappedPageText(PAGE_TEXT_LIMITS, STAND_IN);
    await expect(read(order({ fail: 'No password given' }))).rejects.toThrow('No password given');
  });

  it('rejects at once when the reader ends without an answer, not at the time limit', async () => {
    const read = cappedPageText({ memoryBytes: PAGE_TEXT_LIMITS.memoryBytes, timeMs: 60 * 60_000 }, STAND_IN);
    await expect(read(order({}))).rejects.toThrow('the page reader stopped (exit code 0) without an answer');
  });
});
