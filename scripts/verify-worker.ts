import { readFile, stat } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { checkCertificate } from '../lib/credentials/offline-check.ts';
import { userPath } from './cli-args.ts';
import { pdfPageTextWithActualText } from './pdf-page-text.ts';

/**
 * The check of `npm run verify`, run by scripts/verify.ts in a worker it stops at a memory or
 * time limit (scripts/capped-worker.ts): everything that touches the file (its attachments read
 * with pdf-lib, its page read with pdf.js, the page's text searched) happens here. Posts the
 * report ({ outcome, lines }).
 */
export interface VerifyOrder {
  target: string;
  jwks?: string;
  issuer?: string;
  /** No network at all: --offline, or a PDF with a key file and no --issuer. */
  localOnly: boolean;
}

const MAX_INPUT_BYTES = 64 * 1024 * 1024;

const order = workerData as VerifyOrder;
const report = await checkCertificate(
  order.target,
  order.jwks,
  {
    // A certificate PDF is well under a megabyte; a file of gigabytes is refused before it is read.
    readFile: async (path) => {
      const file = userPath(path, 'scripts/verify.ts');
      const { size } = await stat(file);
      if (size > MAX_INPUT_BYTES) throw new Error(`${path} is ${size} bytes, more than ${MAX_INPUT_BYTES}`);
      return new Uint8Array(await readFile(file));
    },
    pageText: pdfPageTextWithActualText,
    // Arabic and Devanagari come back from their /ActualText (and only from there): compared too.
    pageTextReadsShaped: true,
    ...(order.localOnly
      ? {}
      : { fetch: (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(10_000) }) }),
  },
  order.issuer === undefined ? {} : { issuer: order.issuer },
);
parentPort?.postMessage(report);
