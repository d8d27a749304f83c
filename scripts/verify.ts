import { readFile, stat } from 'node:fs/promises';
import { checkCertificate, EXIT_CODES } from '../lib/credentials/offline-check.ts';
import { cappedPageText, PAGE_TEXT_LIMITS } from './capped-page-text.ts';
import { cliArgs, usageError, userPath } from './cli-args.ts';

/**
 * npm run verify -- <certificate.pdf --jwks <file-or-url> | verification URL [--jwks ...]> [--issuer https://host] [--offline]
 * Exit 0 valid, 1 invalid, 2 could not check. A PDF needs --jwks: the issuer is named by whoever
 * checks, not by the PDF. With a JWKS file and a PDF nothing touches the network; --offline
 * forbids it outright. The live status is read from the issuer's host: --issuer, else the JWKS
 * URL's host (a URL checked with keys from a file needs --issuer for it). A PDF's page is read
 * with pdf.js and with a reader of the /ActualText Chromium writes for Arabic and Devanagari (its
 * text layer, compared with the signed name, course and code): a page that does not name the
 * signed student is invalid. The page is read in a worker stopped at --max-page-memory MiB of
 * growth or --max-page-seconds (scripts/capped-page-text.ts): then the check could not be made.
 */

const MAX_INPUT_BYTES = 64 * 1024 * 1024;

const USAGE =
  'usage: npm run verify -- <certificate.pdf --jwks <file-or-url> | https://.../verify/CODE#JWS [--jwks <file-or-url>]> [--issuer https://host] [--offline] [--max-page-memory MiB] [--max-page-seconds s]';

// An unknown option or a missing value: the reason and the usage, exit 2 (could not check), as
// cli-args.ts does for every script; `--help`: the usage, exit 0.
const { values, positionals } = cliArgs(
  USAGE,
  {
    jwks: { type: 'string' },
    issuer: { type: 'string' },
    offline: { type: 'boolean', default: false },
    'max-page-memory': { type: 'string', default: String(PAGE_TEXT_LIMITS.memoryBytes / 2 ** 20) },
    'max-page-seconds': { type: 'string', default: String(PAGE_TEXT_LIMITS.timeMs / 1000) },
  },
  true,
);
const [target, ...extra] = positionals;
if (!target || extra.length > 0 || values.jwks === '' || values.issuer === '') {
  process.stderr.write(`${USAGE}\n`);
  process.exit(EXIT_CODES.unchecked);
}
/** A whole number from `min` to `max`, or the usage. */
function limit(option: 'max-page-memory' | 'max-page-seconds', min: number, max: number): number {
  const text = values[option];
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    usageError(
      `--${option} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`,
      USAGE,
    );
  return value;
}
const pageLimits = {
  memoryBytes: limit('max-page-memory', 64, 65_536) * 2 ** 20,
  timeMs: limit('max-page-seconds', 1, 3600) * 1000,
};
const args = {
  target,
  ...(values.jwks ? { jwks: values.jwks } : {}),
  ...(values.issuer ? { issuer: values.issuer } : {}),
  offline: values.offline === true,
};
const localOnly =
  args.offline ||
  (!/^https?:/i.test(args.target) &&
    args.jwks !== undefined &&
    !/^https?:/i.test(args.jwks) &&
    args.issuer === undefined);
const report = await checkCertificate(
  args.target,
  args.jwks,
  {
    // A certificate PDF is well under a megabyte; a file of gigabytes is refused before it is read.
    readFile: async (path) => {
      const file = userPath(path, 'scripts/verify.ts');
      const { size } = await stat(file);
      if (size > MAX_INPUT_BYTES) throw new Error(`${path} is ${size} bytes, more than ${MAX_INPUT_BYTES}`);
      return new Uint8Array(await readFile(file));
    },
    pageText: cappedPageText(pageLimits),
    // Arabic and Devanagari come back from their /ActualText (and only from there): compared too.
    pageTextReadsShaped: true,
    ...(localOnly
      ? {}
      : { fetch: (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(10_000) }) }),
  },
  args.issuer === undefined ? {} : { issuer: args.issuer },
);
const verdict = { valid: 'VALID', invalid: 'INVALID', unchecked: 'COULD NOT CHECK' }[report.outcome];
process.stdout.write(`${report.lines.join('\n')}\nVerdict: ${verdict}\n`);
process.exit(EXIT_CODES[report.outcome]);
