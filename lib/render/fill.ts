import type { CertificateContent, ResolvedTemplate } from '../certificates/ports.ts';
import {
  normalizeDisplayText,
  validateCourseName,
  validateDisplayName,
  validateIssuerName,
} from '../certificates/text.ts';
import { credentialUrl } from '../credentials/credential.ts';
import { ValidationError } from '../errors.ts';
import { type AssetLoader, type AssetRefs, inlineAssets, qrCode } from './assets.ts';
import { type FontStacks, fontStacks } from './fonts.ts';
import { formatIssueDate, formatNumber, formatPercent, type LocaleData, resolveLocale } from './i18n.ts';
import { COURSE_FIT, fitFontSize, NAME_FIT, TITLE_FIT } from './layout.ts';

/**
 * What one certificate puts into a template: the Liquid variables (TEMPLATE_FIELDS) and the
 * document information. Shared by the fresh-page path (renderer.ts) and template-once printing
 * (template-once.ts), so both fill a template from exactly the same values.
 */

export interface FillOptions {
  /** Loads s3:// template assets (logo, signature...) — the worker wires it to S3. */
  assetLoader?: AssetLoader;
  /** Called with characters no shipped font can draw (printed blank), e.g. to log a warning. */
  onMissingGlyphs?: (codePoints: number[], content: CertificateContent) => void;
}

/** Document information of a certificate PDF (written by applyPdfMetadata). */
export interface CertificateMeta {
  title: string;
  subject: string;
  keywords: string[];
  author: string;
}

function sealText(
  issuer: string,
  sealLabel: string,
  locale: string,
): { text: string; size: number; length: number } {
  // Text on a path is laid out glyph by glyph: conjunct-forming Indic scripts fall apart there.
  const label = /\p{Script=Devanagari}|\p{Script=Bengali}|\p{Script=Tamil}/u.test(sealLabel)
    ? '★'
    : sealLabel;
  const text = `${issuer.toLocaleUpperCase(locale)} • ${label.toLocaleUpperCase(locale)} •`;
  // Circle of radius 49 (SVG units): the text fills the circumference, smaller when long.
  const circumference = 2 * Math.PI * 49;
  const chars = [...text].length;
  const size = Math.max(5, Math.min(11, circumference / (chars * 0.72)));
  return { text, size: Math.round(size * 10) / 10, length: Math.round(circumference - 6) };
}

/** `</style` inside template CSS would end our style element early. */
function safeCss(css: string): string {
  return css.replace(/<\/(style)/gi, '<\\/$1');
}

function insertIntoHead(html: string, extra: string): string {
  const at = html.search(/<\/head>/i);
  if (at < 0) throw new ValidationError('template must have a <head> element', 'html');
  return html.slice(0, at) + extra + html.slice(at);
}

/** What a certificate puts into its template, and the document information that goes with it. */
export interface CertificateFill {
  locale: LocaleData;
  /** Every template variable (TEMPLATE_FIELDS) with this certificate's value. */
  context: Record<string, unknown>;
  stacks: FontStacks;
  meta: CertificateMeta;
}

/**
 * The template variables for one certificate. `assets` may be passed in already inlined (a
 * template page built once keeps them); otherwise they are loaded here.
 */
export async function certificateFill(
  content: CertificateContent,
  template: ResolvedTemplate,
  options: FillOptions = {},
  inlinedAssets?: Record<string, string | null>,
): Promise<CertificateFill> {
  const studentName = validateDisplayName(content.studentName);
  const courseName = validateCourseName(content.courseName);
  const issuerName = validateIssuerName(content.issuerName);
  const locale = certificateLocale(content, template);
  const intl = locale.locale;
  const seal = sealText(issuerName, locale.labels.seal, intl);
  const score = formatNumber(content.score, intl);
  const maxScore = formatNumber(content.maxScore, intl);

  const assets =
    inlinedAssets ?? (await inlineAssets((template.assets ?? {}) as AssetRefs, options.assetLoader));
  const qr = qrCode(
    content.credential ? credentialUrl(content.verifyUrl, content.credential.jws) : content.verifyUrl,
  );

  const context = {
    locale: intl,
    dir: locale.dir,
    labels: locale.labels,
    student_name: studentName,
    course_name: courseName,
    score,
    max_score: maxScore,
    score_display: `${score} / ${maxScore}`,
    percentage: formatPercent(content.percentage, intl),
    issued_on: formatIssueDate(content.issuedOn, intl),
    issued_on_iso: content.issuedOn.slice(0, 10),
    // nil without a validity period, so a template prints the line only `{% if expires_on %}`.
    expires_on: content.expiresOn ? formatIssueDate(content.expiresOn, intl) : null,
    expires_on_iso: content.expiresOn?.slice(0, 10) ?? null,
    certificate_id: content.certificateId,
    verification_code: content.verificationCode,
    verify_url: content.verifyUrl,
    qr_code: qr.dataUri,
    qr_path: qr.path,
    qr_modules: qr.modules,
    qr_width: qr.width,
    issuer_name: issuerName,
    assets,
    title_font_size: fitFontSize(locale.labels.title, TITLE_FIT),
    name_font_size: fitFontSize(studentName, NAME_FIT),
    course_font_size: fitFontSize(courseName, COURSE_FIT),
    seal_text: seal.text,
    seal_font_size: seal.size,
    seal_text_length: seal.length,
  };
  return {
    locale,
    context,
    stacks: fontStacks(intl),
    meta: {
      title: `${normalizeDisplayText(locale.labels.title)} – ${studentName}`,
      subject: `${locale.labels.document}: ${courseName}`,
      keywords: [locale.labels.document, content.certificateId, content.verificationCode, courseName],
      author: issuerName,
    },
  };
}

/** The locale a certificate prints in: the certificate's, else the template's own. */
export function certificateLocale(content: CertificateContent, template: ResolvedTemplate): LocaleData {
  return resolveLocale(template.locale && !content.locale ? template.locale : content.locale);
}

/** The head a filled template gets: the font faces, then the template's CSS. */
export function pageHtml(filled: string, fontCss: string, css: string): string {
  return insertIntoHead(filled, `<style>${fontCss}</style>\n<style>${safeCss(css)}</style>\n`);
}
