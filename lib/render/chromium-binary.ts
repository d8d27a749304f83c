import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import chromiumImport, { inflate } from '@sparticuz/chromium';
import { chromiumArchivesDir } from './paths.ts';

// See browser.ts: in the CommonJS bundle require() yields the namespace, whose `default` is the class.
const chromium: typeof chromiumImport =
  (chromiumImport as unknown as { default?: typeof chromiumImport }).default ?? chromiumImport;

/** Name of the zstd copy of chromium.br that packaging puts next to it (scripts/chromium-zstd.ts). */
export const CHROMIUM_ZSTD = 'chromium.zst';

// The streaming decompressor the extraction uses (Node 22.15+).
const hasZstd = 'createZstdDecompress' in zlib;

/**
 * The Chromium binary, extracted into the temp folder on a container's first render (Lambda
 * starts with an empty /tmp). What this does instead of @sparticuz/chromium's executablePath(),
 * measured by `npm run bench` (cold section) on the 2-core machine:
 * - The binary (209 MB) from a zstd archive when one was packaged and this Node has zstd
 *   (22.15+): ~0.7 s to decompress and write in a worker thread, streamed, against ~1.6-3.6 s
 *   for brotli's streamed decompression.
 * - The small archives as executablePath() extracts them (fonts for fontconfig, SwiftShader,
 *   on Amazon Linux 2023 the libraries), concurrently with the binary. SwiftShader is needed
 *   although graphics mode is off: without it the --single-process browser (Lambda) failed to
 *   start (ANGLE could not initialise; tried, 2026-12-02).
 * Without a zstd archive (or zstd in Node) the brotli one is used as before.
 */
export function chromiumExecutable(archives: string | undefined = chromiumArchivesDir()): Promise<string> {
  // One extraction per process: the prestart (prestart.ts) and the first launch share it.
  extraction ??= extract(archives);
  extraction.catch(() => {
    extraction = undefined;
  });
  return extraction;
}

let extraction: Promise<string> | undefined;

async function extract(archives: string | undefined): Promise<string> {
  const target = join(tmpdir(), 'chromium');
  if (existsSync(target)) return target;
  if (!archives) return chromium.executablePath();
  const extras = [join(archives, 'fonts.tar.br'), join(archives, 'swiftshader.tar.br')];
  if (onAmazonLinux2023() && existsSync(join(archives, 'al2023.tar.br')))
    extras.push(join(archives, 'al2023.tar.br'));
  const zstd = join(archives, CHROMIUM_ZSTD);
  const binary =
    hasZstd && existsSync(zstd) ? extractZstd(zstd, target) : inflate(join(archives, 'chromium.br'));
  const [path] = await Promise.all([binary, ...extras.map((archive) => inflate(archive))]);
  return path;
}

// Runs in a worker thread: the main thread's event loop is busy during a cold start (loading the
// bundle, the claim, the Keycloak lookup), and fs.promises there moved the 209 MB in 512 KB steps
// that each waited for it (~3 s in the cold-start bench against ~0.9 s alone). Streamed, in
// 16 MB steps (zlib's default 16 KB was slower): the archive read, decompressed and written
// as it goes, which took 0.67-0.72 s here against 0.92-1.04 s for one zstdDecompressSync and
// one writeFileSync of the whole 209 MB (0.71-0.78 s against 0.99-1.14 s pinned to one core):
// the writes overlap decompression, and no 209 MB buffer is allocated and filled first. In the
// cold-start bench the gain is inside its noise, but the process's peak RSS fell from ~650 MB to
// ~290 MB. The rename makes the binary appear whole or not at all. (Cutting the binary into two
// frames decompressed by two workers was tried: ~15% faster alone, but slower in the cold-start
// bench, and much slower on one core.)
const EXTRACT_IN_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const zlib = require('node:zlib');
const { pipeline } = require('node:stream/promises');
const step = 16 * 1024 * 1024;
pipeline(
  fs.createReadStream(workerData.archive, { highWaterMark: step }),
  zlib.createZstdDecompress({ chunkSize: step }),
  fs.createWriteStream(workerData.partial, { mode: 0o700, highWaterMark: 2 * step }),
).then(() => {
  fs.chmodSync(workerData.partial, 0o700);
  fs.renameSync(workerData.partial, workerData.target);
  parentPort.postMessage('done');
}, (error) => {
  fs.rmSync(workerData.partial, { force: true });
  throw error;
});
`;

function extractZstd(archive: string, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(EXTRACT_IN_WORKER, {
      eval: true,
      workerData: { archive, target, partial: `${target}.partial-${process.pid}` },
    });
    worker.once('message', () => resolve(target));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`Chromium extraction stopped with exit code ${code}`));
    });
  });
}

/** Same test as @sparticuz/chromium's (its helper is not exported): the Lambda Node runtimes run on AL2023. */
function onAmazonLinux2023(): boolean {
  const runtime = `${process.env.AWS_EXECUTION_ENV ?? ''} ${process.env.AWS_LAMBDA_JS_RUNTIME ?? ''}`;
  return /(20|22|24)\.x/.test(runtime);
}
