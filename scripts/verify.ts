import { EXIT_CODES } from '../lib/credentials/offline-check.ts';
import { runCapped, WorkerStopped } from './capped-worker.ts';
import { cliArgs, usageError } from './cli-args.ts';
import type { VerifyOrder } from './verify-worker.ts';

/**
 * npm run verify -- <certificate.pdf --jwks <file-or-url> | verification URL [--jwks ...]> [--issuer https://host] [--offline]
 * Exit 0 valid, 1 invalid, 2 could not check. A PDF needs --jwks: the issuer is named by whoever
 * checks, not by the PDF. With a JWKS file and a PDF nothing touches the network; --offline
 * forbids it outright. The live status is read from the issuer's host: --issuer, else the JWKS
 * URL's host (a URL checked with keys from a file needs --issuer for it). A PDF's page is read
 * with pdf.js and with a reader of the /ActualText Chromium writes for Arabic and Devanagari (its
 * text layer, compared with the signed name, course, code, score and dates): a page that does not
 * name the signed student is invalid. The check runs in a worker stopped at --max-memory MiB of
 * growth or --max-seconds (scripts/capped-worker.ts, scripts/verify-worker.ts): then it could not
 * be made.
 */

const USAGE =
  'usage: npm run verify -- <certificate.pdf --jwks <file-or-url> | https://.../verify/CODE#JWS [--jwks <file-or-url>]> [--issuer https://host] [--offline] [--max-memory MiB] [--max-seconds s]';

// Measured on a one-page certificate checked offline: the process grew by about 350 MiB (the
// worker loads pdf.js and pdf-lib itself) and the check took about 1.5 s on an idle machine. The
// limits leave a genuine check room on a busy machine and a slow network (each request waits up
// to 10 s), and stop a file that drives pdf.js or pdf-lib towards gigabytes (the files the audits
// built reached 1–4 GB from a few KB to a few MB) before it hurts.
const DEFAULT_MEMORY_MIB = 1024;
const DEFAULT_SECONDS = 120;

// An unknown option or a missing value: the reason and the usage, exit 2 (could not check), as
// cli-args.ts does for every script; `--help`: the usage, exit 0.
const { values, positionals } = cliArgs(
  USAGE,
  {
    jwks: { type: 'string' },
    issuer: { type: 'string' },
    offline: { type: 'boolean', default: false },
    'max-memory': { type: 'string', default: String(DEFAULT_MEMORY_MIB) },
    'max-seconds': { type: 'string', default: String(DEFAULT_SECONDS) },
  },
  true,
);
const [target, ...extra] = positionals;
if (!target || extra.length > 0 || values.jwks === '' || values.issuer === '') {
  process.stderr.write(`${USAGE}\n`);
  process.exit(EXIT_CODES.unchecked);
}

/** A whole number from `min` to `max`, or the usage. */
function limit(option: 'max-memory' | 'max-seconds', min: number, max: number): number {
  const text = values[option];
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    usageError(
      `--${option} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`,
      USAGE,
    );
  return value;
}
const limits = {
  memoryBytes: limit('max-memory', 64, 65_536) * 2 ** 20,
  timeMs: limit('max-seconds', 1, 3600) * 1000,
};

const order: VerifyOrder = {
  target,
  ...(values.jwks ? { jwks: values.jwks } : {}),
  ...(values.issuer ? { issuer: values.issuer } : {}),
  localOnly:
    values.offline === true ||
    (!/^https?:/i.test(target) &&
      values.jwks !== undefined &&
      !/^https?:/i.test(values.jwks) &&
      values.issuer === undefined),
};
let report: { outcome: keyof typeof EXIT_CODES; lines: string[] };
try {
  report = await runCapped(new URL('./verify-worker.ts', import.meta.url), order, limits);
} catch (error) {
  // Stopped at a limit, or failed: no verdict either way. An unexpected failure's stack goes to
  // stderr, for a bug report; the verdict stays "could not check" (exit 1 would say "invalid").
  if (!(error instanceof WorkerStopped))
    process.stderr.write(`${error instanceof Error && error.stack ? error.stack : String(error)}\n`);
  const why = error instanceof Error ? error.message : String(error);
  report = { outcome: 'unchecked', lines: [`Could not check: ${why}`] };
}
const verdict = { valid: 'VALID', invalid: 'INVALID', unchecked: 'COULD NOT CHECK' }[report.outcome];
process.stdout.write(`${report.lines.join('\n')}\nVerdict: ${verdict}\n`);
process.exit(EXIT_CODES[report.outcome]);
