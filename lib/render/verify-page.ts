import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { PublicCertificateRecord } from '../certificates/read-model.ts';
import { formatIssueDate, formatNumber, resolveLocale } from './i18n.ts';
import { templatesDir } from './paths.ts';

/**
 * The public verification page (what a scanned QR code opens), as a pure function:
 * record + verdict + locale -> HTML and the Content-Security-Policy that must go with it.
 *
 * The facts and the verdict are rendered here, on the server, so the page works with JavaScript
 * off. The one inline script (templates/verify/verify.js) checks the JWS in the URL fragment
 * against the JWKS in the browser (WebCrypto) and can only lower the verdict to `tampered`.
 * Script and style are inline and allowed by their SHA-256 hashes: nothing else may run, load,
 * or be framed, and the page requests nothing but the issuer's own JWKS.
 */

/**
 * `unavailable`: the record could not be read (the database down): nothing said of the certificate.
 * `revoked-key`: issued and in its validity, but signed with a key reported compromised since
 * (its replacement is being issued): shown as the script shows a revoked key's signature.
 */
export type PageStatus =
  | 'valid'
  | 'revoked'
  | 'expired'
  | 'superseded'
  | 'not-found'
  | 'unavailable'
  | 'revoked-key';

/** The record as the read model gives it (the verdict comes separately). */
export type VerifyPageRecord = Omit<PublicCertificateRecord, 'status' | 'credentialJws'>;

export interface VerifyPageInput {
  status: PageStatus;
  /** The code from the URL (shown for an unknown code). */
  code: string;
  record: VerifyPageRecord | null;
  /** Language when there is no record (from Accept-Language). */
  fallbackLocale: string;
  /** Path or URL of the JWKS the script checks against (same origin: CSP connect-src 'self'). */
  jwksUrl: string;
  /** What the holder can do with a valid certificate; shown only when the status is `valid`. */
  actions?: VerifyPageActions | null;
}

export interface VerifyPageActions {
  /** Where the Open Badges credential downloads ("add to wallet"), relative to the page. */
  walletHref: string;
  /** LinkedIn's Add-to-Profile link, or null when not offered. */
  linkedInUrl: string | null;
}

export interface VerifyPage {
  html: string;
  contentSecurityPolicy: string;
  /** The language the page was rendered in. */
  language: string;
}

const LABEL_KEYS = [
  'title',
  'valid',
  'revoked',
  'expired',
  'superseded',
  'not_found',
  'tampered',
  'revoked_key',
  'revoked_key_help',
  'not_found_help',
  'unavailable',
  'unavailable_help',
  'superseded_link',
  'superseded_pending',
  'withdrawn',
  'name',
  'course',
  'score',
  'issued',
  'expires',
  'revoked_on',
  'reason',
  'issuer',
  'code',
  'signature',
  'sig_checking',
  'sig_valid',
  'sig_mismatch',
  'sig_revoked_key',
  'sig_unknown',
  'sig_foreign',
  'sig_none',
  'sig_nojs',
  'sig_withdrawn',
  'keep',
  'add_to_wallet',
  'add_to_linkedin',
  'reason_issued_in_error',
  'reason_requested_by_holder',
  'reason_withdrawn_by_issuer',
  'file_check',
  'file_help',
  'file_reading',
  'file_match',
  'file_differs',
  'file_unreadable',
] as const;
type PageLabels = Record<(typeof LABEL_KEYS)[number], string>;

const labelsFile = z.object(
  Object.fromEntries(LABEL_KEYS.map((key) => [key, z.string().min(1)])) as Record<
    (typeof LABEL_KEYS)[number],
    z.ZodString
  >,
);

const labelCache = new Map<string, PageLabels>();

/** The page's labels for a shipped language (templates/verify/locales/<language>.json). */
export function verifyPageLabels(language: string): PageLabels {
  const hit = labelCache.get(language);
  if (hit) return hit;
  const file = join(templatesDir(), 'verify', 'locales', `${language}.json`);
  const labels = labelsFile.parse(JSON.parse(readFileSync(file, 'utf8')));
  labelCache.set(language, labels);
  return labels;
}

interface Assets {
  script: string;
  css: string;
  csp: string;
}
let assets: Assets | undefined;

function sha256Source(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** Script and stylesheet, read once, and the CSP that allows exactly them (CSP3 hash sources). */
function pageAssets(): Assets {
  if (assets) return assets;
  const dir = join(templatesDir(), 'verify');
  const script = readFileSync(join(dir, 'verify.js'), 'utf8');
  const css = readFileSync(join(dir, 'verify.css'), 'utf8');
  const csp = [
    "default-src 'none'",
    `script-src ${sha256Source(script)}`,
    `style-src ${sha256Source(css)}`,
    "connect-src 'self'",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  assets = { script, css, csp };
  return assets;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}

/** JSON inside <script type="application/json">: "<" escaped so no text can close the element. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028|\u2029/g, (char) => (char === '\u2028' ? '\\u2028' : '\\u2029'));
}

function scoreDisplay(score: string, locale: string): string {
  const [value, max] = score.split('/').map(Number);
  if (value === undefined || max === undefined || Number.isNaN(value) || Number.isNaN(max)) return score;
  return `${formatNumber(value, locale)} / ${formatNumber(max, locale)}`;
}

/**
 * A fact. `isolate` wraps the value in <bdi> (its own direction, `auto` or fixed) instead of
 * setting `dir` on the <dd>: a <dd dir> takes its alignment from its own direction, so on an
 * Arabic page a Latin name stood at the far edge of its cell, 400-500 px from its label.
 */
function row(label: string, value: string, attributes = '', isolate?: 'auto' | 'ltr'): string {
  const text = escapeHtml(value);
  return `<dt>${escapeHtml(label)}</dt><dd${attributes}>${isolate ? `<bdi dir="${isolate}">${text}</bdi>` : text}</dd>`;
}

/**
 * What the script compares the signed facts with. An erased record has no name or score left:
 * `withdrawn` tells the script to say so instead of comparing (a genuine QR code would otherwise
 * be called altered), and the fields that are gone are not sent at all.
 */
function scriptFacts(record: VerifyPageRecord): Record<string, unknown> {
  if (!record.erased) return { ...record.facts };
  const { name: _name, score: _score, ...kept } = record.facts;
  return { ...kept, withdrawn: true };
}

export function renderVerifyPage(input: VerifyPageInput): VerifyPage {
  const { script, css, csp } = pageAssets();
  const localeData = resolveLocale(input.record?.locale ?? input.fallbackLocale);
  const intl = localeData.locale;
  const labels = verifyPageLabels(localeData.language);
  const record = input.status === 'not-found' || input.status === 'unavailable' ? null : input.record;
  const headingKey =
    input.status === 'not-found'
      ? 'not_found'
      : input.status === 'revoked-key'
        ? 'revoked_key'
        : input.status;
  // The script's own word for a copy it distrusts (verify.js `distrust`), so both agree.
  const dataStatus = input.status === 'revoked-key' ? 'tampered' : input.status;
  const date = (iso: string) => formatIssueDate(iso, intl);

  const details: string[] = [];
  if (input.status === 'unavailable') {
    details.push(`<p>${escapeHtml(labels.unavailable_help)}</p>`);
  } else if (!record) {
    details.push(`<p>${escapeHtml(labels.not_found_help)}</p>`);
    // Left to right in an Arabic or Hebrew page too: the bidi algorithm would move a typed
    // code's digit runs and punctuation ("1234 ABCD5" shown as "ABCD5 1234").
    if (input.code !== '') details.push(`<dl>${row(labels.code, input.code, ' class="code"', 'ltr')}</dl>`);
  } else {
    const facts = record.facts;
    if (input.status === 'revoked-key')
      details.push(`<p id="revoked-key">${escapeHtml(labels.revoked_key_help)}</p>`);
    if (input.status === 'revoked' && record.revokedAt) {
      // The documented reason in the page's language; staff's own words stay in the staff views.
      const reason = record.revocationReason
        ? labels[`reason_${record.revocationReason.replaceAll('-', '_')}` as keyof PageLabels]
        : null;
      details.push(
        `<dl>${row(labels.revoked_on, date(record.revokedAt))}${
          reason ? row(labels.reason, reason, ' dir="auto"') : ''
        }</dl>`,
      );
    }
    if (input.status === 'superseded' && record.supersededByCode)
      details.push(
        `<p><a href="${escapeHtml(encodeURIComponent(record.supersededByCode))}">${escapeHtml(labels.superseded_link)}</a></p>`,
      );
    else if (input.status === 'superseded' && record.replacementPending)
      details.push(`<p id="replacement-pending">${escapeHtml(labels.superseded_pending)}</p>`);
    // Erased (the holder's details withdrawn): no Name and no Score row at all, rather than an
    // empty name and "0 / 0", and a line saying why.
    if (record.erased) details.push(`<p id="withdrawn">${escapeHtml(labels.withdrawn)}</p>`);
    const rows = [
      ...(record.erased ? [] : [row(labels.name, facts.name, ' class="fact-name"', 'auto')]),
      row(labels.course, facts.course, ' class="fact-course"', 'auto'),
      ...(record.erased ? [] : [row(labels.score, scoreDisplay(facts.score, intl), '', 'ltr')]),
      row(labels.issued, date(facts.issued)),
      ...(facts.expires ? [row(labels.expires, date(facts.expires))] : []),
      row(labels.issuer, facts.issuer, '', 'auto'),
      row(labels.code, facts.code, ' class="code"', 'ltr'),
    ];
    details.push(
      `<h2 id="facts-heading">${escapeHtml(labels.title)}</h2><dl aria-labelledby="facts-heading">${rows.join('')}</dl>`,
    );
  }

  const signature = record
    ? `<section aria-labelledby="signature-heading">
<h2 id="signature-heading">${escapeHtml(labels.signature)}</h2>
<p id="signature-result" role="status" aria-live="polite"
 data-checking="${escapeHtml(labels.sig_checking)}" data-valid="${escapeHtml(labels.sig_valid)}"
 data-mismatch="${escapeHtml(labels.sig_mismatch)}" data-revoked_key="${escapeHtml(labels.sig_revoked_key)}"
 data-unknown="${escapeHtml(labels.sig_unknown)}" data-foreign="${escapeHtml(labels.sig_foreign)}"
 data-none="${escapeHtml(labels.sig_none)}"
 data-withdrawn="${escapeHtml(labels.sig_withdrawn)}"><noscript>${escapeHtml(labels.sig_nojs)}</noscript></p>
</section>`
    : '';

  // A verifier handed the PDF (by e-mail, say) can tell whether it is the file the issuer
  // issued, byte for byte: an edited page, or another certificate's attachments, change the
  // hash. The file is hashed in the browser and never leaves it. Hidden until the script shows
  // it: without JavaScript there is nothing to hash with.
  const fileCheck =
    record?.pdfSha256 && /^[0-9a-f]{64}$/.test(record.pdfSha256)
      ? `<section aria-labelledby="file-heading" id="file-check" data-sha256="${record.pdfSha256}" hidden>
<h2 id="file-heading">${escapeHtml(labels.file_check)}</h2>
<p id="file-help">${escapeHtml(labels.file_help)}</p>
<input type="file" id="file-input" accept="application/pdf,.pdf" aria-labelledby="file-heading" aria-describedby="file-help file-result">
<p id="file-result" role="status" aria-live="polite" data-reading="${escapeHtml(labels.file_reading)}"
 data-match="${escapeHtml(labels.file_match)}" data-differs="${escapeHtml(labels.file_differs)}"
 data-unreadable="${escapeHtml(labels.file_unreadable)}"></p>
</section>`
      : '';

  // Keeping and sharing make sense only for a certificate a verifier would accept: issued, not
  // revoked, superseded or expired.
  const actions =
    record && input.status === 'valid' && input.actions
      ? `<section aria-labelledby="keep-heading" class="actions">
<h2 id="keep-heading">${escapeHtml(labels.keep)}</h2>
<ul>
<li><a id="add-to-wallet" href="${escapeHtml(input.actions.walletHref)}" rel="nofollow" download>${escapeHtml(labels.add_to_wallet)}</a></li>
${
  input.actions.linkedInUrl
    ? `<li><a id="add-to-linkedin" href="${escapeHtml(input.actions.linkedInUrl)}" rel="noopener noreferrer" target="_blank">${escapeHtml(labels.add_to_linkedin)}</a></li>`
    : ''
}
</ul>
</section>`
      : '';

  const issuer = record ? `<p class="issuer"><bdi>${escapeHtml(record.facts.issuer)}</bdi></p>` : '';
  const html = `<!doctype html>
<html lang="${escapeHtml(localeData.language)}" dir="${localeData.dir}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>${escapeHtml(labels.title)} – ${escapeHtml(labels[headingKey])}</title>
<style>${css}</style>
</head>
<body>
<main data-status="${dataStatus}" data-jwks="${escapeHtml(input.jwksUrl)}">
${issuer}
<div class="verdict">
<h1 id="verdict-heading" data-title="${escapeHtml(labels.title)}" data-tampered="${escapeHtml(labels.tampered)}" data-revoked_key="${escapeHtml(labels.revoked_key)}">${escapeHtml(labels[headingKey])}</h1>
</div>
${details.join('\n')}
${signature}
${fileCheck}
${actions}
</main>
<script type="application/json" id="record-facts">${jsonForScript(record ? scriptFacts(record) : null)}</script>
<script>${script}</script>
</body>
</html>
`;
  return { html, contentSecurityPolicy: csp, language: localeData.language };
}
