import { existsSync } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { CHROMIUM_ZSTD } from '../lib/render/chromium-binary.ts';
import { chromiumArchivesDir } from '../lib/render/paths.ts';

/**
 * Packaging runs this first (serverless/chromium-zstd.cjs, for package and deploy): writes
 * chromium.zst, the Chromium binary recompressed with zstd, next to @sparticuz/chromium's
 * chromium.br; the render layer ships chromium.zst instead of chromium.br, and a cold `generate`
 * container extracts the binary in ~0.7 s instead of 1.6-3.6 s (lib/render/chromium-binary.ts).
 * Skipped when the copy is newer than chromium.br. Level 3: with the 16 MB output steps chromium-binary.ts decompresses
 * in, it took ~0.5 s against ~0.75 s for level 9, for 88 MB instead of 79 MB (level 1: 99 MB at
 * the same speed as 3; level -3: 122 MB in ~0.4 s). Measured 2026-12-03 on the 2-core machine.
 */
export async function ensureChromiumZstd(): Promise<string> {
  const dir = chromiumArchivesDir();
  if (!dir) throw new Error('@sparticuz/chromium/bin not found under node_modules');
  const source = join(dir, 'chromium.br');
  const target = join(dir, CHROMIUM_ZSTD);
  if (existsSync(target) && (await stat(target)).mtimeMs >= (await stat(source)).mtimeMs) return target;
  if (!('zstdCompressSync' in zlib)) throw new Error('this Node has no zstd (needs 22.15+)');
  const binary = zlib.brotliDecompressSync(await readFile(source));
  const compressed = zlib.zstdCompressSync(binary, {
    params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 },
  });
  await writeFile(`${target}.partial`, compressed);
  await rename(`${target}.partial`, target);
  return target;
}

if (process.argv[1]?.endsWith('chromium-zstd.ts')) {
  const started = performance.now();
  const target = await ensureChromiumZstd();
  console.error(`${target} ready (${Math.round(performance.now() - started)} ms)`);
}
