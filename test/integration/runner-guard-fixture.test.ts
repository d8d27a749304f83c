import { writeFile } from 'node:fs/promises';
import puppeteer from 'puppeteer-core';
import { describe, expect, inject, it } from 'vitest';

/**
 * Run only by runner-exit-code.test.ts, in a child vitest with RUNNER_GUARD set; skipped in
 * every normal run. It sits in the integration layer so the child goes through the same global
 * setup (embedded PostgreSQL and the other stand-ins) as the real suite: that is where a
 * dependency's exit hook once replaced a failing run's exit code with 0.
 */
const mode = process.env.RUNNER_GUARD;

describe.runIf(mode !== undefined)('runner guard fixture', () => {
  it.runIf(mode === 'pass')('passes', () => {
    expect(1 + 1).toBe(2);
  });
  it.runIf(mode === 'fail')('fails', () => {
    expect(1 + 1).toBe(3);
  });
  it.runIf(mode === 'hang')('holds a browser open until the run is stopped by a signal', async () => {
    const browser = await puppeteer.launch({
      executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH,
      args: ['--no-sandbox'],
    });
    expect((await browser.pages()).length).toBeGreaterThan(0);
    await writeFile(process.env.RUNNER_GUARD_READY ?? '', 'ready');
    // Until the parent stops this run; the test's own timeout is the outer bound.
    await new Promise(() => undefined);
  });
  it.runIf(mode === 'unhandled')('leaves an unhandled rejection behind', async () => {
    void Promise.reject(new Error('unhandled on purpose'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(true).toBe(true);
  });
});
