import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import chromiumImport from '@sparticuz/chromium';
import { extract } from 'tar-fs';
import { chromiumArchivesDir } from './paths.ts';

// See browser.ts: in the CommonJS bundle require() yields the namespace, whose `default` is the class.
const chromium: typeof chromiumImport =
  (chromiumImport as unknown as { default?: typeof chromiumImport }).default ?? chromiumImport;

/**
 * The folder, next to @sparticuz/chromium's archives, that holds Chromium already extracted:
 * the binary and SwiftShader beside it, as `executablePath()` would extract them into /tmp.
 * `npm install` makes it (scripts/chromium-unpack.ts), and the render layer ships it instead of
 * chromium.br and swiftshader.tar.br.
 */
export const UNPACKED_CHROMIUM = 'unpacked';

/**
 * The Chromium binary for a launch. Measured by `npm run bench` (cold section) on the 2-core
 * machine, for a container's first certificate with an empty temp folder:
 * - When the unpacked folder is there (the render layer on Lambda, node_modules after
 *   `npm install`): Chromium runs from it, and only the two small archives are extracted into
 *   the temp folder (the fonts for fontconfig and, on Amazon Linux 2023, the libraries the
 *   binary links against, which @sparticuz/chromium's LD_LIBRARY_PATH and FONTCONFIG_PATH point
 *   at; ~0.2 MB and ~1.2 MB). No 209 MB are decompressed and written at cold start any more:
 *   that took ~0.7 s of a worker's CPU from a zstd archive, and finished ~1.1-1.4 s after the
 *   process started, well after module init, so it was the first certificate's critical path.
 * - Otherwise, @sparticuz/chromium's own extraction from its brotli archives (~1.6-3.6 s).
 * SwiftShader is needed although graphics mode is off: without it the --single-process browser
 * (Lambda) failed to start (ANGLE could not initialise; tried, 2026-12-02).
 */
export function chromiumExecutable(archives: string | undefined = chromiumArchivesDir()): Promise<string> {
  // One per process: the prestart (prestart.ts) and the first launch share it.
  preparing ??= prepare(archives);
  preparing.catch(() => {
    preparing = undefined;
  });
  return preparing;
}

let preparing: Promise<string> | undefined;

async function prepare(archives: string | undefined): Promise<string> {
  if (!archives) return chromium.executablePath();
  const unpacked = join(archives, UNPACKED_CHROMIUM, 'chromium');
  if (!existsSync(unpacked)) return chromium.executablePath(archives);
  const small = [join(archives, 'fonts.tar.br')];
  if (onAmazonLinux2023() && existsSync(join(archives, 'al2023.tar.br')))
    small.push(join(archives, 'al2023.tar.br'));
  await Promise.all(small.map((archive) => inflateOnce(archive)));
  return unpacked;
}

/**
 * @sparticuz/chromium's inflate() for a .tar.br archive, safe to interrupt: it extracts straight
 * into the temp folder's `<name>`, and any later call takes a folder there as complete
 * (Sparticuz/chromium#507), so a process killed mid-way left a partial folder (fonts, or the
 * libraries Chromium links against) for every later launch in that container to use. This one
 * extracts into a folder of its own and renames it into place once complete; a process that
 * finds the folder there, or loses the race to put it there, uses the complete one.
 */
export async function inflateOnce(archive: string): Promise<string> {
  const output = join(tmpdir(), basename(archive).replace(/\.tar\.br$/, ''));
  if (existsSync(output)) return output;
  const staging = `${output}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await pipeline(createReadStream(archive), createBrotliDecompress(), extract(staging));
    await rename(staging, output).catch((error: unknown) => {
      if (!existsSync(output)) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return output;
}

/** Same test as @sparticuz/chromium's (its helper is not exported): the Lambda Node runtimes run on AL2023. */
function onAmazonLinux2023(): boolean {
  const runtime = `${process.env.AWS_EXECUTION_ENV ?? ''} ${process.env.AWS_LAMBDA_JS_RUNTIME ?? ''}`;
  return /(20|22|24)\.x/.test(runtime);
}
