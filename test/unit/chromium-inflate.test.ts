import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { inflateOnce } from '../../lib/render/chromium-binary.ts';
import { chromiumArchivesDir } from '../../lib/render/paths.ts';

// The two small archives generate extracts into /tmp at cold start (fonts, and on Lambda the
// libraries Chromium links against). @sparticuz/chromium's inflate() takes any folder already
// there as complete (Sparticuz/chromium#507): one left half written by a process killed
// mid-way broke every later launch in that container.

const archives = chromiumArchivesDir() ?? '';
const fonts = join(archives, 'fonts.tar.br');
let temp: string;

beforeEach(async () => {
  temp = await mkdtemp(join(tmpdir(), 'inflate-'));
  vi.stubEnv('TMPDIR', temp);
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await rm(temp, { recursive: true, force: true });
});

/** Every file under `dir`, relative, sorted. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

describe('inflateOnce', () => {
  it('extracts an archive into the temp folder under its name, and leaves nothing else there', async () => {
    const output = await inflateOnce(fonts);
    expect(output).toBe(join(temp, 'fonts'));
    expect((await files(output)).length).toBeGreaterThan(0);
    expect(await readdir(temp)).toEqual(['fonts']);
  });

  it('an extraction cut off half way leaves no folder a later launch would take as complete', async () => {
    // A truncated archive fails half way through, as a process killed mid-extraction stops.
    const whole = await readFile(fonts);
    const truncated = join(temp, 'cut', 'fonts.tar.br');
    await mkdir(join(temp, 'cut'));
    await writeFile(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    await expect(inflateOnce(truncated)).rejects.toThrow();
    expect(await readdir(temp)).toEqual(['cut']);

    // The next launch extracts it whole.
    const complete = await files(await inflateOnce(fonts));
    await rm(join(temp, 'fonts'), { recursive: true });
    await inflateOnce(truncated).catch(() => undefined);
    expect(await readdir(temp)).toEqual(['cut']);
    expect(await files(await inflateOnce(fonts))).toEqual(complete);
  });

  it('processes extracting at once all get the complete folder', async () => {
    const outputs = await Promise.all([inflateOnce(fonts), inflateOnce(fonts), inflateOnce(fonts)]);
    expect(new Set(outputs)).toEqual(new Set([join(temp, 'fonts')]));
    expect(await readdir(temp)).toEqual(['fonts']);
    expect((await files(join(temp, 'fonts'))).length).toBeGreaterThan(0);
  });
});
