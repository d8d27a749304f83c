import { createHash, randomBytes } from 'node:crypto';
import type { CertificateContent, ResolvedTemplate } from '../certificates/ports.ts';
import { type AssetRefs, inlineAssets } from './assets.ts';
import type { PdfOptions, PdfPrinter, ReusedPageJob } from './browser.ts';
import {
  type CertificateFill,
  certificateFill,
  certificateLocale,
  type FillOptions,
  pageHtml,
} from './fill.ts';
import {
  type FontFaceEntry,
  type FontSelection,
  type FontStacks,
  fontFaceCss,
  selectFontFaces,
} from './fonts.ts';
import { fillTemplate } from './template-engine.ts';

/**
 * Template-once rendering: a template is filled and loaded into a browser page once per
 * (template content, locale, with or without expiry date); each certificate then only changes
 * the text it differs in, through the DevTools protocol, and prints. The page's own JavaScript
 * stays disabled throughout.
 *
 * The template's Liquid output stays the source of truth. The page is built from the template
 * filled with a marker string in place of every per-certificate value (VARIABLE_FIELDS); the
 * browser finds each marker in the page's text nodes and attribute values. For each
 * certificate the template is filled with its real values as before, and the page is used only
 * if that output equals the marker output with each marker replaced by its (HTML-escaped)
 * value. Setting the same values as text into the nodes that held the markers then yields the
 * same document the fresh page would have parsed. When the output differs (a value goes through
 * a filter, a condition tests it) the certificate is printed on a fresh page; when a marker sits
 * where it cannot be set as text (a <style> or <script> element, a comment, a tag or attribute
 * name, an unquoted attribute, an image value outside <img src>), the page is discarded and
 * every certificate of that template prints fresh.
 *
 * Fonts: the page carries the faces its static text needs; a certificate whose text needs more
 * (a name in another script) adds them in a style element that the next certificate replaces.
 */

/** Template variables that differ between certificates of one template and locale. */
const VARIABLE_FIELDS = [
  'student_name',
  'course_name',
  'score',
  'max_score',
  'score_display',
  'percentage',
  'issued_on',
  'issued_on_iso',
  'expires_on',
  'expires_on_iso',
  'certificate_id',
  'verification_code',
  'verify_url',
  'qr_code',
  'qr_path',
  'qr_modules',
  'qr_width',
  'issuer_name',
  'name_font_size',
  'course_font_size',
  'seal_text',
  'seal_font_size',
  'seal_text_length',
] as const;
type VariableField = (typeof VARIABLE_FIELDS)[number];

const IMAGE_FIELDS: ReadonlySet<VariableField> = new Set(['qr_code']);

/** After this many certificates whose output did not match the markers, the template always prints fresh. */
const MAX_MISMATCHES = 3;

interface TemplatePlan {
  key: string;
  /** The page: the template filled with markers, with fonts and CSS. */
  html: string;
  /** The template filled with markers (what each certificate's own output is compared with). */
  skeleton: string;
  fields: VariableField[];
  markers: string[];
  expectedCounts: number[];
  imageMarkers: number[];
  pattern: RegExp;
  pageFaces: ReadonlySet<FontFaceEntry>;
  assets: Record<string, string | null>;
  unmappable?: string;
  mismatches: number;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&#34;',
  "'": '&#39;',
};

/** The Liquid engine's output escape (outputEscape: 'escape' in template-engine.ts). */
function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);
}

function stringValue(value: unknown): string {
  return typeof value === 'string' ? value : String(value);
}

export type TemplateOnceOutcome =
  | { status: 'printed'; pdf: Uint8Array; fill: CertificateFill }
  | { status: 'fresh'; reason: string };

export interface TemplateOncePrinter {
  /** Prints on a loaded template page, or says why this certificate must be printed fresh. */
  print(content: CertificateContent, template: ResolvedTemplate): Promise<TemplateOnceOutcome>;
  /** Loads the page that certificates like `content` will use (cold start: before the first one arrives). */
  preload(content: CertificateContent, template: ResolvedTemplate): Promise<void>;
}

export function createTemplateOncePrinter(
  printer: Required<Pick<PdfPrinter, 'printReusing'>>,
  options: FillOptions & { timeoutMs: number; maxPlans?: number },
): TemplateOncePrinter {
  const plans = new Map<string, Promise<TemplatePlan>>();
  const maxPlans = options.maxPlans ?? 32;
  const pdfOptions: PdfOptions = { timeoutMs: options.timeoutMs };

  const planFor = (key: string, fill: CertificateFill, template: ResolvedTemplate): Promise<TemplatePlan> => {
    let plan = plans.get(key);
    if (plan) {
      plans.delete(key); // most recently used last
      plans.set(key, plan);
      return plan;
    }
    plan = buildPlan(key, fill, template);
    plans.set(key, plan);
    plan.catch(() => plans.delete(key));
    while (plans.size > maxPlans) {
      const oldest = plans.keys().next().value;
      if (oldest === undefined) break;
      plans.delete(oldest);
    }
    return plan;
  };

  const planOf = async (content: CertificateContent, template: ResolvedTemplate) => {
    const locale = certificateLocale(content, template);
    const key = planKey(
      template,
      locale.locale,
      content.expiresOn !== undefined && content.expiresOn !== null,
    );
    // Assets are inlined once per page: a template version's assets do not change.
    const assets = (await plans.get(key)?.catch(() => undefined))?.assets;
    const fill = await certificateFill(content, template, options, assets);
    return { fill, plan: await planFor(key, fill, template) };
  };

  return {
    async preload(content, template) {
      const { plan } = await planOf(content, template);
      if (plan.unmappable) return;
      await printer.printReusing(
        {
          key: plan.key,
          html: plan.html,
          markers: plan.markers,
          expectedCounts: plan.expectedCounts,
          imageMarkers: plan.imageMarkers,
          values: [],
          extraFontCss: '',
          loadOnly: true,
        },
        pdfOptions,
      );
    },

    async print(content, template) {
      const { fill, plan } = await planOf(content, template);
      if (plan.unmappable) return { status: 'fresh', reason: plan.unmappable };

      const values = plan.fields.map((field) => stringValue(fill.context[field]));
      // The HTML parser turns CR and NUL into something else; text set through the DOM would not.
      if (values.some((value) => /[\r\0]/.test(value)))
        return { status: 'fresh', reason: 'a value holds CR or NUL' };
      const job = (extraFontCss: string): ReusedPageJob => ({
        key: plan.key,
        html: plan.html,
        markers: plan.markers,
        expectedCounts: plan.expectedCounts,
        imageMarkers: plan.imageMarkers,
        values,
        extraFontCss,
      });
      // Print first, check while Chromium prints: the fonts the values' own characters need (the
      // page has those of its static text) are what the whole filled page needs but for the rare
      // template whose output the values do not follow, and the checks below catch exactly that.
      // Measured: ~1.5 ms of Node's work a certificate (the Liquid fill, the comparison, font
      // selection over the whole page) moved off the path of a sequential print.
      const guessed = extraFontCss(plan, selectFontFaces(values.join('\n'), fill.stacks), fill.stacks);
      const printing = printer.printReusing(job(guessed), pdfOptions);
      const settled = printing.then(
        () => undefined,
        () => undefined,
      );
      let filled: string;
      try {
        filled = await fillTemplate(template.html, { ...fill.context, assets: plan.assets });
      } catch (error) {
        await settled;
        throw error;
      }
      const substituted = plan.skeleton.replace(plan.pattern, (marker) =>
        escapeHtml(values[plan.markers.indexOf(marker)] ?? ''),
      );
      if (filled !== substituted) {
        // The page printed something other than this certificate: that PDF is dropped.
        await settled;
        plan.mismatches += 1;
        if (plan.mismatches >= MAX_MISMATCHES)
          plan.unmappable = 'the template output did not follow the markers for several certificates';
        return {
          status: 'fresh',
          reason: 'the template output differs from the marker page with this certificate',
        };
      }
      // The fonts the fresh page would carry (chosen from the whole filled page), less those the
      // loaded page already has; if the guess was not exactly that, the page prints again with it.
      const selection = selectFontFaces(filled, fill.stacks);
      const exact = extraFontCss(plan, selection, fill.stacks);
      let result = await printing;
      if (result.status === 'printed' && exact !== guessed)
        result = await printer.printReusing(job(exact), pdfOptions);
      if (result.status === 'unmappable') {
        plan.unmappable = result.reason;
        return { status: 'fresh', reason: result.reason };
      }
      if (result.status !== 'printed') throw new Error('the page was loaded but not printed');
      // Only now: a certificate that falls back to a fresh page is reported there, once.
      if (selection.missing.length > 0) options.onMissingGlyphs?.(selection.missing, content);
      return { status: 'printed', pdf: result.pdf, fill };
    },
  };

  async function buildPlan(
    key: string,
    fill: CertificateFill,
    template: ResolvedTemplate,
  ): Promise<TemplatePlan> {
    const assets =
      (fill.context.assets as Record<string, string | null> | undefined) ??
      (await inlineAssets((template.assets ?? {}) as AssetRefs, options.assetLoader));
    // Letters, digits and a space: unchanged by HTML escaping, and the space shows a value used
    // as an unquoted attribute (the parser splits it there, so the marker is not found whole).
    const nonce = randomBytes(6).toString('hex');
    const candidates = VARIABLE_FIELDS.filter(
      (field) => fill.context[field] !== null && fill.context[field] !== undefined,
    );
    const candidateMarkers = candidates.map((_, index) => `Zq${nonce}v${index} qZ`);
    const context: Record<string, unknown> = { ...fill.context, assets };
    candidates.forEach((field, index) => {
      context[field] = candidateMarkers[index];
    });
    const failed = (reason: string): TemplatePlan => ({
      key,
      fields: [],
      markers: [],
      pattern: /$^/,
      assets,
      mismatches: 0,
      imageMarkers: [],
      html: '',
      skeleton: '',
      expectedCounts: [],
      pageFaces: new Set(),
      unmappable: reason,
    });
    let skeleton: string;
    try {
      skeleton = await fillTemplate(template.html, context);
    } catch (error) {
      // e.g. a filter that refuses a marker where it expects a number: such a template prints fresh.
      return failed(
        `the template does not fill with markers: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    // Only the values the template prints are sent to the page with each certificate (the default
    // template draws the QR code inline from qr_path, so qr_code's data URI stays in Node).
    const counts = candidateMarkers.map((marker) => skeleton.split(marker).length - 1);
    const used = counts.flatMap((count, index) => (count > 0 ? [index] : []));
    const fields = used.map((index) => candidates[index] as VariableField);
    const markers = used.map((index) => candidateMarkers[index] as string);
    const expectedCounts = used.map((index) => counts[index] ?? 0);
    // A value right after a bare "&" (or inside an unfinished character reference, "&#", "&am")
    // would join it on a fresh page: "R&{{ name }}" with the name "amp;D" reads "R&D" there, but
    // "R&amp;D" once set as text. Such a template prints fresh.
    for (const marker of markers) {
      for (let at = skeleton.indexOf(marker); at >= 0; at = skeleton.indexOf(marker, at + marker.length)) {
        if (/&[#a-zA-Z0-9]*$/.test(skeleton.slice(Math.max(0, at - 40), at)))
          return failed(
            'a value follows a bare "&" in the markup, where a fresh page would read them together',
          );
      }
    }
    const base = {
      key,
      fields,
      markers,
      // A pattern that matches nothing when no value is printed (a certificate with no variables).
      pattern: markers.length > 0 ? new RegExp(markers.join('|'), 'g') : /$^/g,
      assets,
      mismatches: 0,
      imageMarkers: fields.flatMap((field, index) => (IMAGE_FIELDS.has(field) ? [index] : [])),
    };
    // The page's own fonts: those of its static text (the markers are not printed).
    const staticText = skeleton.replace(base.pattern, '');
    const selection = selectFontFaces(staticText, fill.stacks);
    return {
      ...base,
      skeleton,
      expectedCounts,
      html: pageHtml(skeleton, fontFaceCss(selection, fill.stacks), template.css),
      pageFaces: new Set(selection.faces),
    };
  }
}

/**
 * The @font-face rules a certificate adds to its loaded page: the faces `selection` holds that
 * the page lacks, in a fixed order (the style element's text is compared between a guess and
 * the exact choice, and a change of it makes the page reload fonts).
 */
function extraFontCss(plan: TemplatePlan, selection: FontSelection, stacks: FontStacks): string {
  const extra = selection.faces
    .filter((face) => !plan.pageFaces.has(face))
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return extra.length > 0 ? fontFaceCss({ faces: extra, missing: [] }, stacks) : '';
}

/**
 * Which loaded page a certificate can use: the template's content (not only its id and version:
 * drafts in previews share both), the locale, and whether an expiry date is printed (a template
 * tests `{% if expires_on %}`).
 */
function planKey(template: ResolvedTemplate, locale: string, expires: boolean): string {
  const hash = createHash('sha256')
    .update(template.html)
    .update('\0')
    .update(template.css)
    .update('\0')
    .update(JSON.stringify(template.assets ?? {}))
    .digest('hex')
    .slice(0, 16);
  return `${template.id ?? 'builtin'}@${template.version}:${hash}:${locale}:${expires ? 'expires' : 'open'}`;
}
