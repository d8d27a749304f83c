import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inflate } from '@sparticuz/chromium';
import { UNPACKED_CHROMIUM } from '../lib/render/chromium-binary.ts';
import { chromiumArchivesDir } from '../lib/render/paths.ts';

/**
 * `npm install` (postinstall) and packaging (serverless/chromium-unpack.cjs) run this: it
 * extracts @sparticuz/chromium's binary and SwiftShader into `bin/unpacked/`, the files and
 * layout its `executablePath()` extracts into /tmp, so that the render layer can ship them
 * ready to run and a cold `generate` container extracts nothing big (lib/render/chromium-binary.ts).
 * Skipped when the folder was made from the same chromium.br (its size and time are recorded).
 * Extracted with the library's own `inflate`, pointed at a staging folder through TMPDIR, then
 * renamed into place: a folder that exists is complete.
 */
export async function ensureUnpackedChromium(): Promise<string> {
  const dir = chromiumArchivesDir();
  if (!dir || !existsSync(join(dir, 'chromium.br')))
    throw new Error('@sparticuz/chromium/bin/chromium.br not found under node_modules');
  const source = join(dir, 'chromium.br');
  const target = join(dir, UNPACKED_CHROMIUM);
  const { size, mtimeMs } = await stat(source);
  const stamp = JSON.stringify({ source: 'chromium.br', size, mtimeMs });
  const stampFile = join(target, 'source.json');
  if (existsSync(stampFile) && (await readFile(stampFile, 'utf8')) === stamp) return target;

  const staging = `${target}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const tmpdir = process.env.TMPDIR;
  process.env.TMPDIR = staging;
  try {
    await Promise.all([inflate(source), inflate(join(dir, 'swiftshader.tar.br'))]);
  } finally {
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
  }
  // inflate writes the binary 0700; Lambda runs the function as a user that does not own the
  // layer's files, so it must be executable by all (serverless zips 0755 for an owner-executable file).
  await chmod(join(staging, 'chromium'), 0o755);
  await writeFile(join(staging, 'source.json'), stamp);
  await rm(target, { recursive: true, force: true });
  await rename(staging, target);
  return target;
}

if (process.argv[1]?.endsWith('chromium-unpack.ts')) {
  const started = performance.now();
  const target = await ensureUnpackedChromium();
  console.error(`${target} ready (${Math.round(performance.now() - started)} ms)`);
}
