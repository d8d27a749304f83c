import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PDFDocument } from 'pdf-lib';
import type { CertificateContent, CertificateRenderer, ResolvedTemplate } from '../certificates/ports.ts';
import {
  normalizeDisplayText,
  validateCourseName,
  validateDisplayName,
  validateIssuerName,
} from '../certificates/text.ts';
import { credentialUrl } from '../credentials/credential.ts';
import {
  CREDENTIAL_ATTACHMENT,
  FACTS_ATTACHMENT,
  OPEN_BADGE_ATTACHMENT,
} from '../credentials/offline-check.ts';
import { ValidationError } from '../errors.ts';
import { type AssetLoader, type AssetRefs, DEFAULT_ASSETS, inlineAssets, qrCodeDataUri } from './assets.ts';
import type { PdfPrinter } from './browser.ts';
import { fontFaceCss, fontStacks, selectFontFaces } from './fonts.ts';
import { formatIssueDate, formatNumber, formatPercent, resolveLocale, shippedLanguages } from './i18n.ts';
import { COURSE_FIT, fitFontSize, NAME_FIT, TITLE_FIT } from './layout.ts';
import { templatesDir } from './paths.ts';
import { engine } from './template-engine.ts';

let defaultTemplate: Promise<ResolvedTemplate> | undefined;

/**
 * The built-in design from templates/. Its version is "builtin-" + a hash of everything that
 * shapes the page (markup, CSS, assets, labels), so a certificate records exactly which design
 * printed it and a changed design can never pass for the old one.
 */
export function loadDefaultTemplate(): Promise<ResolvedTemplate> {
  defaultTemplate ??= (async () => {
    const dir = templatesDir();
    const html = await readFile(join(dir, 'default', 'template.liquid'), 'utf8');
    const css = await readFile(join(dir, 'default', 'style.css'), 'utf8');
    const hash = createHash('sha256').update(html).update('\0').update(css);
    for (const file of Object.values(DEFAULT_ASSETS))
      hash.update('\0').update(await readFile(join(dir, '..', file)));
    for (const language of shippedLanguages())
      hash.update('\0').update(await readFile(join(dir, 'locales', `${language}.json`)));
    return {
      id: null,
      version: `builtin-${hash.digest('hex').slice(0, 12)}`,
      html,
      css,
      assets: { ...DEFAULT_ASSETS },
    };
  })();
  defaultTemplate.catch(() => {
    defaultTemplate = undefined;
  });
  return defaultTemplate;
}

export interface RendererOptions {
  timeoutMs: number;
  /** Loads s3:// template assets (logo, signature...) — the worker wires it to S3. */
  assetLoader?: AssetLoader;
  /** Called with characters no shipped font can draw (printed blank), e.g. to log a warning. */
  onMissingGlyphs?: (codePoints: number[], content: CertificateContent) => void;
}

export interface PreparedCertificate {
  html: string;
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

/** Fills the template: everything but printing. Exposed for previews and tests. */
export async function prepareCertificate(
  content: CertificateContent,
  template: ResolvedTemplate,
  options: Partial<RendererOptions> = {},
): Promise<PreparedCertificate> {
  const studentName = validateDisplayName(content.studentName);
  const courseName = validateCourseName(content.courseName);
  const issuerName = validateIssuerName(content.issuerName);
  const locale = resolveLocale(template.locale && !content.locale ? template.locale : content.locale);
  const intl = locale.locale;
  const seal = sealText(issuerName, locale.labels.seal, intl);
  const score = formatNumber(content.score, intl);
  const maxScore = formatNumber(content.maxScore, intl);

  const [assets, qrCode] = await Promise.all([
    inlineAssets((template.assets ?? {}) as AssetRefs, options.assetLoader),
    qrCodeDataUri(
      content.credential ? credentialUrl(content.verifyUrl, content.credential.jws) : content.verifyUrl,
    ),
  ]);

  const filled = await engine.parseAndRender(template.html, {
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
    qr_code: qrCode,
    issuer_name: issuerName,
    assets,
    title_font_size: fitFontSize(locale.labels.title, TITLE_FIT),
    name_font_size: fitFontSize(studentName, NAME_FIT),
    course_font_size: fitFontSize(courseName, COURSE_FIT),
    seal_text: seal.text,
    seal_font_size: seal.size,
    seal_text_length: seal.length,
  });

  const stacks = fontStacks(intl);
  // Fonts are chosen from the filled page itself, so static text in a template counts too.
  const selection = selectFontFaces(filled, stacks);
  if (selection.missing.length > 0) options.onMissingGlyphs?.(selection.missing, content);
  const html = insertIntoHead(
    filled,
    `<style>${fontFaceCss(selection, stacks)}</style>\n<style>${safeCss(template.css)}</style>\n`,
  );
  return {
    html,
    title: `${normalizeDisplayText(locale.labels.title)} – ${studentName}`,
    subject: `${locale.labels.document}: ${courseName}`,
    keywords: [locale.labels.document, content.certificateId, content.verificationCode, courseName],
    author: issuerName,
  };
}

// Names of the files a signed certificate carries (read back by `npm run verify`).
export {
  CREDENTIAL_ATTACHMENT,
  FACTS_ATTACHMENT,
  OPEN_BADGE_ATTACHMENT,
} from '../credentials/offline-check.ts';

/**
 * Sets the document information the browser cannot (author, subject, keywords) and attaches
 * the signed credential, so a PDF mailed around can be checked without scanning anything.
 */
export async function applyPdfMetadata(
  pdf: Uint8Array,
  meta: Omit<PreparedCertificate, 'html'>,
  issuedOn: string,
  credential?: CertificateContent['credential'] & { verifyUrl: string },
): Promise<Uint8Array> {
  const document = await PDFDocument.load(pdf, { updateMetadata: false });
  document.setTitle(meta.title, { showInWindowTitleBar: true });
  document.setAuthor(meta.author);
  document.setSubject(meta.subject);
  document.setKeywords(meta.keywords);
  document.setCreator('course-certificates');
  // The issue date rather than "now": re-rendering the same snapshot gives the same metadata.
  const issued = new Date(`${issuedOn.slice(0, 10)}T00:00:00Z`);
  const dated = !Number.isNaN(issued.getTime());
  if (dated) {
    document.setCreationDate(issued);
    document.setModificationDate(issued);
  }
  if (credential) {
    const dates = dated ? { creationDate: issued, modificationDate: issued } : {};
    await document.attach(new TextEncoder().encode(credential.jws), CREDENTIAL_ATTACHMENT, {
      mimeType: 'application/jwt',
      description: 'Signed certificate credential (JWS ES256); check with the issuer JWKS',
      ...dates,
    });
    const factsFile = { verifyUrl: credential.verifyUrl, facts: credential.facts };
    await document.attach(new TextEncoder().encode(JSON.stringify(factsFile)), FACTS_ATTACHMENT, {
      mimeType: 'application/json',
      description: 'The certificate facts in full (committed to by the credential) and where to verify them',
      ...dates,
    });
    if (credential.openBadge) {
      await document.attach(new TextEncoder().encode(credential.openBadge), OPEN_BADGE_ATTACHMENT, {
        mimeType: 'application/vc+jwt',
        description: 'Open Badges 3.0 credential (VC-JWT, ES256); import it into a wallet',
        ...dates,
      });
    }
  }
  return document.save({ useObjectStreams: true });
}

export function createCertificateRenderer(
  printer: PdfPrinter,
  options: RendererOptions,
): CertificateRenderer {
  return {
    async render(content: CertificateContent, template?: ResolvedTemplate) {
      const chosen = template ?? (await loadDefaultTemplate());
      const prepared = await prepareCertificate(content, chosen, options);
      const printed = await printer.print(prepared.html, { timeoutMs: options.timeoutMs });
      const credential = content.credential && { ...content.credential, verifyUrl: content.verifyUrl };
      const pdf = await applyPdfMetadata(printed, prepared, content.issuedOn, credential);
      return { pdf, template: { id: chosen.id, version: chosen.version } };
    },
    close: () => printer.close(),
  };
}
