import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ParseSpeeds, PDFDocument } from 'pdf-lib';
import type { CertificateContent, CertificateRenderer, ResolvedTemplate } from '../certificates/ports.ts';
import {
  CREDENTIAL_ATTACHMENT,
  FACTS_ATTACHMENT,
  OPEN_BADGE_ATTACHMENT,
} from '../credentials/offline-check.ts';
import { TransientError, ValidationError } from '../errors.ts';
import { DEFAULT_ASSETS } from './assets.ts';
import { type PdfPrinter, RenderTimeoutError } from './browser.ts';
import { type CertificateMeta, certificateFill, type FillOptions, pageHtml } from './fill.ts';
import { fontFaceCss, selectFontFaces } from './fonts.ts';
import { shippedLanguages } from './i18n.ts';
import { templatesDir } from './paths.ts';
import { appendPdfUpdate, chromiumPdfPageCount, type PdfAttachment, type PdfInfo } from './pdf-update.ts';
import { SAMPLE_CONTENT } from './sample.ts';
import { fillTemplate } from './template-engine.ts';
import { createTemplateOncePrinter } from './template-once.ts';

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

export interface RendererOptions extends FillOptions {
  timeoutMs: number;
  /**
   * Template-once printing (template-once.ts): keep a loaded page per template and locale and
   * only change each certificate's text in it. Default true; false prints every certificate on
   * a freshly loaded page (the reference the equivalence test and the benchmark compare with).
   */
  reuseTemplatePages?: boolean;
  /** Called when a certificate is printed on a fresh page although template-once was asked for, with why. */
  onFreshPage?: (reason: string, content: CertificateContent) => void;
}

export interface PreparedCertificate extends CertificateMeta {
  html: string;
}

/** Fills the template: everything but printing. Exposed for previews and tests. */
export async function prepareCertificate(
  content: CertificateContent,
  template: ResolvedTemplate,
  options: FillOptions = {},
): Promise<PreparedCertificate> {
  const fill = await certificateFill(content, template, options);
  const filled = await fillTemplate(template.html, fill.context);
  // Fonts are chosen from the filled page itself, so static text in a template counts too.
  const selection = selectFontFaces(filled, fill.stacks);
  if (selection.missing.length > 0) options.onMissingGlyphs?.(selection.missing, content);
  return { html: pageHtml(filled, fontFaceCss(selection, fill.stacks), template.css), ...fill.meta };
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
 * This is the only post-processing pass. The title is set here too although Chromium writes
 * one from <title>: a template's <title> is its own (the default's carries the certificate id),
 * while the document title is always "<title label> – <name>".
 *
 * Written as an incremental update after Chromium's bytes (pdf-update.ts, ~0.2 ms); a PDF not
 * laid out as Chromium writes it goes through one pdf-lib load and save instead (~5.6 ms).
 */
export async function applyPdfMetadata(
  pdf: Uint8Array,
  meta: Omit<PreparedCertificate, 'html'>,
  issuedOn: string,
  credential?: CertificateContent['credential'] & { verifyUrl: string },
): Promise<Uint8Array> {
  // The issue date rather than "now": re-rendering the same snapshot gives the same metadata.
  const issued = new Date(`${issuedOn.slice(0, 10)}T00:00:00Z`);
  const date = Number.isNaN(issued.getTime()) ? undefined : issued;
  const info: PdfInfo = { ...meta, creator: 'course-certificates', ...(date ? { date } : {}) };
  const attachments: PdfAttachment[] = [];
  if (credential) {
    const encode = (text: string) => new TextEncoder().encode(text);
    attachments.push(
      {
        name: CREDENTIAL_ATTACHMENT,
        mimeType: 'application/jwt',
        description: 'Signed certificate credential (JWS ES256); check with the issuer JWKS',
        data: encode(credential.jws),
      },
      {
        name: FACTS_ATTACHMENT,
        mimeType: 'application/json',
        description:
          'The certificate facts in full (committed to by the credential) and where to verify them',
        data: encode(JSON.stringify({ verifyUrl: credential.verifyUrl, facts: credential.facts })),
      },
    );
    if (credential.openBadge)
      attachments.push({
        name: OPEN_BADGE_ATTACHMENT,
        // A JWT (its `typ`), as Open Badges 3.0 signs it; not a VC-JOSE-COSE `vc+jwt`.
        mimeType: 'application/jwt',
        description: 'Open Badges 3.0 credential (VC-JWT, RS256); import it into a wallet',
        data: encode(credential.openBadge),
      });
  }
  return appendPdfUpdate(pdf, info, attachments) ?? (await rewriteWithPdfLib(pdf, info, attachments));
}

/** The same changes through pdf-lib: one load, every change, one save. */
async function rewriteWithPdfLib(
  pdf: Uint8Array,
  info: PdfInfo,
  attachments: readonly PdfAttachment[],
): Promise<Uint8Array> {
  // No yielding to the event loop every 50-100 objects (pdf-lib's default, for huge files).
  const document = await PDFDocument.load(pdf, { updateMetadata: false, parseSpeed: ParseSpeeds.Fastest });
  document.setTitle(info.title, { showInWindowTitleBar: true });
  document.setAuthor(info.author);
  document.setSubject(info.subject);
  document.setKeywords(info.keywords);
  document.setCreator(info.creator);
  if (info.date) {
    document.setCreationDate(info.date);
    document.setModificationDate(info.date);
  }
  const dates = info.date ? { creationDate: info.date, modificationDate: info.date } : {};
  for (const file of attachments)
    await document.attach(file.data, file.name, {
      mimeType: file.mimeType,
      description: file.description,
      ...dates,
    });
  // Certificates have no form fields: skipping pdf-lib's appearance refresh halves the save.
  return document.save({
    useObjectStreams: true,
    updateFieldAppearances: false,
    objectsPerTick: Number.POSITIVE_INFINITY,
  });
}

/** The renderer the functions wire in: the domain's port, plus a warm-up for cold starts. */
export interface WarmableRenderer extends CertificateRenderer {
  /**
   * Starts the browser and, with template-once printing, loads the built-in template's page for
   * `locale`, so a container's first certificate (usually of that template) only fills and prints.
   */
  warm(locale: string): Promise<void>;
}

export function createCertificateRenderer(printer: PdfPrinter, options: RendererOptions): WarmableRenderer {
  const printReusing = printer.printReusing?.bind(printer);
  const templateOnce =
    options.reuseTemplatePages !== false && printReusing
      ? createTemplateOncePrinter({ printReusing }, options)
      : undefined;

  const printFresh = async (content: CertificateContent, template: ResolvedTemplate) => {
    const prepared = await prepareCertificate(content, template, options);
    const printed = await printer.print(prepared.html, { timeoutMs: options.timeoutMs });
    return { printed, meta: prepared as CertificateMeta };
  };

  const print = async (content: CertificateContent, template: ResolvedTemplate) => {
    if (!templateOnce) return printFresh(content, template);
    let outcome: Awaited<ReturnType<typeof templateOnce.print>>;
    try {
      outcome = await templateOnce.print(content, template);
    } catch (error) {
      // A print that timed out would take as long again on a fresh page: the certificate fails
      // now (transient: it is retried later, on the browser launched in its place).
      if (!(error instanceof TransientError) || error instanceof RenderTimeoutError) throw error;
      // The page misbehaved (it is closed, never reused): this certificate prints on a fresh page,
      // which also relaunches a crashed browser.
      outcome = { status: 'fresh', reason: error.message };
    }
    if (outcome.status === 'printed') return { printed: outcome.pdf, meta: outcome.fill.meta };
    options.onFreshPage?.(outcome.reason, content);
    return printFresh(content, template);
  };

  return {
    async warm(locale) {
      const [template] = await Promise.all([loadDefaultTemplate(), printer.warm?.()]);
      await templateOnce?.preload({ ...SAMPLE_CONTENT, locale }, template);
    },
    async render(content: CertificateContent, template?: ResolvedTemplate) {
      const chosen = template ?? (await loadDefaultTemplate());
      const { printed, meta } = await print(content, chosen);
      // A certificate is one page. More means something did not fit (a name of very wide
      // characters the size estimate underrated, a template that overflows): issuing it would put
      // the course, the QR code or the signature on a second page, outside the design.
      const pages =
        chromiumPdfPageCount(printed) ??
        (
          await PDFDocument.load(printed, { updateMetadata: false, parseSpeed: ParseSpeeds.Fastest })
        ).getPageCount();
      if (pages !== 1)
        throw new ValidationError(
          `the certificate does not fit on one page (it printed ${pages}): the name or the course is too wide for the template, or the template overflows its page`,
        );
      const credential = content.credential && { ...content.credential, verifyUrl: content.verifyUrl };
      const pdf = await applyPdfMetadata(printed, meta, content.issuedOn, credential);
      return { pdf, template: { id: chosen.id, version: chosen.version } };
    },
    close: () => printer.close(),
  };
}
