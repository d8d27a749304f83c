import { Liquid } from 'liquidjs';
import { errorMessage, ValidationError } from '../errors.ts';
import { LABEL_KEYS } from './i18n.ts';

/**
 * Liquid for admin-authored templates: no code execution, every output HTML-escaped, unknown
 * variables and filters are errors, and no file system (no include/render/layout of files).
 * `raw` is redefined as a plain filter so output escaping still applies to it; `escape` and
 * `escape_once` pass their value through, since the output is escaped anyway: the standard
 * filters would escape it a second time and print "O&#39;Brien" on the certificate.
 */
export const engine = new Liquid({
  outputEscape: 'escape',
  strictFilters: true,
  strictVariables: true,
  ownPropertyOnly: true,
  // Liquid's `date` filter in UTC, as every printed date is (a template may re-format
  // issued_on_iso): in the process's zone `npm run preview`, the trial fill at save and
  // `npm start` west of UTC printed the day before the one stored, signed and shown.
  timezoneOffset: 0,
  cache: 100,
  templates: {},
  // Admin-authored loops cannot pin the worker: bounded template size, render time and memory.
  parseLimit: 512 * 1024,
  renderLimit: 2_000,
  memoryLimit: 32 * 1024 * 1024,
});
engine.registerFilter('raw', (value: unknown) => value);
engine.registerFilter('escape', (value: unknown) => value);
engine.registerFilter('escape_once', (value: unknown) => value);

type Parsed = ReturnType<Liquid['parse']>;
const parsedTemplates = new Map<string, Parsed>();
const MAX_PARSED_TEMPLATES = 32;

/**
 * Fills a template like engine.parseAndRender, parsing each distinct source once: every
 * certificate of a template is filled with it (twice with template-once printing), and the
 * parsed form of a template is never changed by rendering. Least recently used dropped first.
 */
export async function fillTemplate(html: string, context: Record<string, unknown>): Promise<string> {
  let parsed = parsedTemplates.get(html);
  if (parsed) {
    parsedTemplates.delete(html);
  } else {
    parsed = engine.parse(html);
    if (parsedTemplates.size >= MAX_PARSED_TEMPLATES) {
      const oldest = parsedTemplates.keys().next().value;
      if (oldest !== undefined) parsedTemplates.delete(oldest);
    }
  }
  parsedTemplates.set(html, parsed);
  return (await engine.render(parsed, context)) as string;
}

export const ASSET_KEYS = ['logo', 'signature', 'seal', 'background'] as const;
export type AssetKey = (typeof ASSET_KEYS)[number];

/** Every variable a template may use. Adding one here is a contract change for saved templates. */
export const TEMPLATE_FIELDS = {
  locale: 'BCP 47 locale of the certificate',
  dir: '"ltr" or "rtl"',
  labels: `translated labels: ${LABEL_KEYS.join(', ')}`,
  student_name: 'the student name as printed',
  course_name: 'the course title as printed',
  score: 'score, formatted for the locale',
  max_score: 'maximum score, formatted for the locale',
  score_display: '"score / max_score", formatted',
  percentage: 'percentage, formatted for the locale (e.g. "97 %")',
  issued_on: 'issue date, formatted for the locale',
  issued_on_iso: 'issue date, YYYY-MM-DD',
  expires_on: 'expiry date, formatted for the locale; nil when the course has no validity period',
  expires_on_iso: 'expiry date, YYYY-MM-DD (expired from that day on, UTC); nil when it never expires',
  certificate_id: 'certificate id',
  verification_code: 'verification code',
  verify_url: 'verification URL',
  qr_code: 'data URI of the QR code image (for <img src>)',
  qr_path: 'SVG path data of the QR code, one unit a module (for <path d> in an inline <svg>)',
  qr_modules: 'width and height of the QR code in modules, quiet zone included (the SVG viewBox)',
  qr_width: 'printed width and height of the QR code, e.g. "21.336mm" (the SVG width and height)',
  issuer_name: 'issuing organisation',
  assets: `data URIs of the template's images (or nil): ${ASSET_KEYS.join(', ')}`,
  title_font_size: 'font size (pt) that fits the translated title on one line',
  name_font_size: 'font size (pt) that fits the name on one or two lines',
  course_font_size: 'font size (pt) that fits the course title',
  seal_text: 'text around the default seal',
  seal_font_size: 'font size for the seal text (SVG units)',
  seal_text_length: 'length of the seal text path (SVG units)',
} as const;

const NESTED: Record<string, readonly string[]> = { labels: LABEL_KEYS, assets: ASSET_KEYS };
const FORBIDDEN_TAGS = /{%-?\s*(include|render|layout|block)\b/;
export const MAX_TEMPLATE_BYTES = 256 * 1024;

/**
 * What every certificate page must print, whatever its design: who it was issued to, for what,
 * and a way to check it. A verifier holding the PDF compares its page with the signed facts
 * (`npm run verify` requires the signed name and course in the page's text), and a page without
 * its verification address or QR code leaves a reader of the paper nothing to check.
 */
const REQUIRED_FIELDS: readonly (readonly (keyof typeof TEMPLATE_FIELDS)[])[] = [
  ['student_name'],
  ['course_name'],
  ['verify_url', 'verification_code', 'qr_path', 'qr_code'],
];

/**
 * Checks a template before it is saved: it parses, uses only known variables (and known keys of
 * `labels` and `assets`), prints what every certificate must (REQUIRED_FIELDS), no file tags,
 * sane size. Throws ValidationError naming the problem.
 */
export function validateTemplateSource(
  html: string,
  css = '',
  options: {
    /**
     * Default true. False for a template already stored (a preview of it): it passed the rules of
     * its save, and the required fields came later; refusing to show it would help nobody.
     */
    requireFields?: boolean;
  } = {},
): void {
  if (Buffer.byteLength(html) + Buffer.byteLength(css) > MAX_TEMPLATE_BYTES)
    throw new ValidationError(`template is larger than ${MAX_TEMPLATE_BYTES} bytes`, 'html');
  if (!/<\/head>/i.test(html)) throw new ValidationError('template must have a <head> element', 'html');
  if (FORBIDDEN_TAGS.test(html))
    throw new ValidationError('templates cannot include, render or lay out other files', 'html');
  let variables: string[][];
  try {
    const parsed = engine.parse(html);
    variables = engine.globalVariableSegmentsSync(parsed).map((segments) => segments.map(String));
  } catch (error) {
    throw new ValidationError(`template does not parse: ${errorMessage(error)}`, 'html');
  }
  for (const segments of variables) {
    const [root = '', child] = segments;
    if (!(root in TEMPLATE_FIELDS))
      throw new ValidationError(
        `template uses unknown field "${segments.join('.')}"; allowed: ${Object.keys(TEMPLATE_FIELDS).join(', ')}`,
        'html',
      );
    const allowed = NESTED[root];
    if (allowed && child !== undefined && !allowed.includes(child))
      throw new ValidationError(
        `template uses unknown field "${root}.${child}"; allowed: ${allowed.join(', ')}`,
        'html',
      );
  }
  if (options.requireFields === false) return;
  const used = new Set(variables.map(([root]) => root));
  for (const anyOf of REQUIRED_FIELDS)
    if (!anyOf.some((field) => used.has(field)))
      throw new ValidationError(
        anyOf.length === 1
          ? `template must print ${anyOf[0]}: every certificate names it, and verifiers compare the page with it`
          : `template must print a way to verify the certificate: one of ${anyOf.join(', ')}`,
        'html',
      );
}
