import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fontPackagesRoot } from './paths.ts';

/**
 * Fonts for a machine that has none (Lambda). The @fontsource packages split each Noto family
 * into unicode-range subsets (woff2). For one certificate we emulate the browser's per-character
 * font fallback over our font stacks and embed, as data URIs, only the subsets that will actually
 * draw a character of that page: a Latin certificate carries a few Latin subsets (tens of KB), a
 * Chinese one the handful of Han subsets its characters fall into, never the 7 MB font.
 *
 * Packaging: the files are read from node_modules at run time (on Lambda from the render layer,
 * see fontPackagesRoot); serverless.yml's `layers.render` lists the exact CSS + woff2 globs, so
 * the layer holds only the weights used here and nothing needs generating or committing.
 */

export interface FontFaceEntry {
  family: string;
  weight: number;
  style: 'normal' | 'italic';
  file: string;
  ranges: ReadonlyArray<readonly [number, number]>;
}

interface FontPackage {
  /** Family name used in our CSS stacks. */
  family: string;
  /** Package folder under node_modules. */
  dir: string;
  /** Stylesheets with the @font-face rules of the weights/styles we ship. */
  css: string[];
}

/** Weights and styles the templates may use. Keep in sync with serverless.yml package patterns. */
export const FONT_PACKAGES: readonly FontPackage[] = [
  { family: 'Noto Serif', dir: '@fontsource/noto-serif', css: ['400.css', '700.css', '400-italic.css'] },
  { family: 'Noto Sans', dir: '@fontsource/noto-sans', css: ['400.css', '700.css'] },
  { family: 'Noto Color Emoji', dir: '@infolektuell/noto-color-emoji', css: ['index.css'] },
  // CJK in real bold too: synthetic bold looked heavier and made a Chinese PDF ~75% larger
  // (Skia embeds the emboldened outlines), for ~3.5 MB more per family in the zip.
  { family: 'Noto Sans SC', dir: '@fontsource/noto-sans-sc', css: ['400.css', '700.css'] },
  { family: 'Noto Sans JP', dir: '@fontsource/noto-sans-jp', css: ['400.css', '700.css'] },
  { family: 'Noto Sans KR', dir: '@fontsource/noto-sans-kr', css: ['400.css', '700.css'] },
  { family: 'Noto Sans Arabic', dir: '@fontsource/noto-sans-arabic', css: ['400.css', '700.css'] },
  { family: 'Noto Sans Hebrew', dir: '@fontsource/noto-sans-hebrew', css: ['400.css', '700.css'] },
  { family: 'Noto Sans Devanagari', dir: '@fontsource/noto-sans-devanagari', css: ['400.css', '700.css'] },
];

function parseRanges(value: string): Array<readonly [number, number]> {
  return value
    .split(',')
    .map((part) => part.trim().replace(/^U\+/i, ''))
    .filter((part) => part !== '')
    .map((part) => {
      const [start = '0', end] = part.split('-');
      const from = Number.parseInt(start.replace(/\?/g, '0'), 16);
      const to = end ? Number.parseInt(end, 16) : Number.parseInt(start.replace(/\?/g, 'f'), 16);
      return [from, to] as const;
    });
}

/** Parses the @font-face rules of a fontsource stylesheet (woff2 source only). */
export function parseFontFaceCss(css: string, family: string, baseDir: string): FontFaceEntry[] {
  const entries: FontFaceEntry[] = [];
  for (const match of css.matchAll(/@font-face\s*{([^}]*)}/g)) {
    const body = match[1] ?? '';
    const url = /url\(\s*['"]?([^'")]+\.woff2)['"]?\s*\)/.exec(body)?.[1];
    const range = /unicode-range:\s*([^;]+);?/.exec(body)?.[1];
    if (!url || !range) continue;
    const weight = Number(/font-weight:\s*(\d+)/.exec(body)?.[1] ?? '400');
    const style = /font-style:\s*italic/.test(body) ? 'italic' : 'normal';
    entries.push({ family, weight, style, file: join(baseDir, url), ranges: parseRanges(range) });
  }
  return entries;
}

let catalogue: Map<string, FontFaceEntry[]> | undefined;

export function fontCatalogue(): Map<string, FontFaceEntry[]> {
  if (catalogue) return catalogue;
  const result = new Map<string, FontFaceEntry[]>();
  for (const pkg of FONT_PACKAGES) {
    const base = join(fontPackagesRoot(), pkg.dir);
    const entries: FontFaceEntry[] = [];
    for (const sheet of pkg.css) {
      const path = join(base, sheet);
      entries.push(...parseFontFaceCss(readFileSync(path, 'utf8'), pkg.family, dirname(path)));
    }
    result.set(pkg.family, entries);
  }
  catalogue = result;
  return result;
}

const CJK_ORDER: Record<string, string[]> = {
  ja: ['Noto Sans JP', 'Noto Sans SC', 'Noto Sans KR'],
  ko: ['Noto Sans KR', 'Noto Sans SC', 'Noto Sans JP'],
  default: ['Noto Sans SC', 'Noto Sans JP', 'Noto Sans KR'],
};

export interface FontStacks {
  serif: string[];
  sans: string[];
}

/**
 * Font stacks for a locale. The emoji font comes before the CJK fonts (which contain a few
 * monochrome symbols), after the Latin primary (the emoji font maps digits and '#' too). The
 * Han glyph style follows the language (Japanese and Korean forms differ from Chinese).
 */
export function fontStacks(locale: string): FontStacks {
  const language = locale.toLowerCase().split(/[-_]/)[0] ?? 'en';
  const cjk = CJK_ORDER[language] ?? CJK_ORDER.default ?? [];
  const scripts = [
    'Noto Color Emoji',
    ...cjk,
    'Noto Sans Arabic',
    'Noto Sans Hebrew',
    'Noto Sans Devanagari',
  ];
  return { serif: ['Noto Serif', ...scripts, 'Noto Sans'], sans: ['Noto Sans', ...scripts] };
}

/**
 * unicode-range says what a subset may cover, not what it has: the SC subsets list some Hangul
 * and kana they lack glyphs for, and the browser then falls through to the next family. So for
 * these scripts we keep adding families until the one that really has them.
 */
const AUTHORITATIVE: Array<{ family: string; test: RegExp }> = [
  { family: 'Noto Sans KR', test: /\p{Script=Hangul}/u },
  { family: 'Noto Sans JP', test: /\p{Script=Hiragana}|\p{Script=Katakana}/u },
];

function fallsThrough(family: string, codePoint: number): boolean {
  const char = String.fromCodePoint(codePoint);
  const rule = AUTHORITATIVE.find((candidate) => candidate.test.test(char));
  return rule !== undefined && rule.family !== family;
}

function covers(entry: FontFaceEntry, codePoint: number): boolean {
  return entry.ranges.some(([from, to]) => codePoint >= from && codePoint <= to);
}

// Per family and code point, the subsets covering it: scanning every CJK subset's ranges for
// each character cost ~20 ms per certificate; a warm container answers from this memo.
const coverage = new Map<string, Map<number, FontFaceEntry[]>>();

function facesCovering(family: string, point: number, fonts: Map<string, FontFaceEntry[]>): FontFaceEntry[] {
  let byPoint = coverage.get(family);
  if (!byPoint) {
    byPoint = new Map();
    coverage.set(family, byPoint);
  }
  let matching = byPoint.get(point);
  if (!matching) {
    matching = (fonts.get(family) ?? []).filter((entry) => covers(entry, point));
    byPoint.set(point, matching);
  }
  return matching;
}

/**
 * Code points of rendered HTML, including characters written as numeric entities, in the order
 * they first occur. A page is mostly ASCII (markup, and a signed QR code's path is ~18 KB of it):
 * ASCII is marked in a table and added once, which took a 25 KB page from ~1.1–3 ms to ~0.2 ms
 * against adding every character to the set.
 */
export function codePointsOf(text: string): Set<number> {
  const points = new Set<number>();
  const ascii = new Uint8Array(128);
  for (let at = 0; at < text.length; at += 1) {
    const unit = text.charCodeAt(at);
    if (unit < 128) {
      if (ascii[unit] === 0) {
        ascii[unit] = 1;
        points.add(unit);
      }
      continue;
    }
    const point = text.codePointAt(at) ?? unit;
    points.add(point);
    if (point > 0xffff) at += 1; // the low surrogate of the pair just read
  }
  if (!text.includes('&#')) return points;
  for (const match of text.matchAll(/&#(x[0-9a-f]+|\d+);/gi)) {
    const raw = match[1] ?? '0';
    points.add(
      raw[0] === 'x' || raw[0] === 'X' ? Number.parseInt(raw.slice(1), 16) : Number.parseInt(raw, 10),
    );
  }
  return points;
}

export interface FontSelection {
  faces: FontFaceEntry[];
  /** Printable code points no shipped font covers (drawn as blanks): worth a warning. */
  missing: number[];
}

const EMOJI_FAMILY = 'Noto Color Emoji';
const sizeCache = new Map<string, number>();

function fileSize(file: string): number {
  let size = sizeCache.get(file);
  if (size === undefined) {
    size = statSync(file).size;
    sizeCache.set(file, size);
  }
  return size;
}

/** The smallest emoji subset holding every code point of the cluster (ZWJ sequences, flags). */
function emojiFacesFor(points: number[], entries: FontFaceEntry[]): FontFaceEntry[] {
  const bySize = [...entries].sort((a, b) => fileSize(a.file) - fileSize(b.file));
  const whole = bySize.find((entry) => points.every((point) => covers(entry, point)));
  if (whole) return [whole];
  return points.flatMap((point) => bySize.find((entry) => covers(entry, point)) ?? []);
}

/**
 * Picks the subsets the browser will use for this text, emulating its fallback. The emoji font's
 * subsets overlap (a component shows up in every subset holding a sequence that uses it), so for
 * emoji we take, per grapheme cluster, only the smallest subset holding the whole cluster.
 */
export function selectFontFaces(text: string, stacks: FontStacks): FontSelection {
  const fonts = fontCatalogue();
  const emojiEntries = fonts.get(EMOJI_FAMILY) ?? [];
  const chosen = new Set<FontFaceEntry>();
  const missing: number[] = [];
  const emojiPoints = new Set<number>();
  for (const point of codePointsOf(text)) {
    if (point < 0x20 || (point >= 0x7f && point < 0xa0)) continue;
    let found = false;
    for (const stack of [stacks.serif, stacks.sans]) {
      for (const family of stack) {
        const matching = facesCovering(family, point, fonts);
        if (matching.length === 0) continue;
        found = true;
        if (family === EMOJI_FAMILY) emojiPoints.add(point);
        else for (const entry of matching) chosen.add(entry);
        if (!fallsThrough(family, point)) break;
      }
    }
    // Invisible formatting characters need no glyph of their own.
    if (!found && !/[\p{Cf}\p{Zs}\p{M}]/u.test(String.fromCodePoint(point))) missing.push(point);
  }
  if (emojiPoints.size > 0) {
    const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });
    for (const { segment } of segmenter.segment(text)) {
      const points = [...segment].map((char) => char.codePointAt(0) ?? 0);
      if (!points.some((point) => emojiPoints.has(point))) continue;
      for (const entry of emojiFacesFor(points, emojiEntries)) chosen.add(entry);
    }
  }
  return { faces: [...chosen], missing };
}

const fileCache = new Map<string, string>();

function dataUri(file: string): string {
  let cached = fileCache.get(file);
  if (!cached) {
    cached = `data:font/woff2;base64,${readFileSync(file).toString('base64')}`;
    fileCache.set(file, cached);
  }
  return cached;
}

function hex(value: number): string {
  return value.toString(16).toUpperCase();
}

function quoteFamilies(stack: string[]): string {
  return stack.map((family) => `'${family}'`).join(', ');
}

/** @font-face rules (data URIs) for the selected faces plus the two stack variables. */
export function fontFaceCss(selection: FontSelection, stacks: FontStacks): string {
  const rules = selection.faces.map((face) => {
    const range = face.ranges.map(([from, to]) =>
      from === to ? `U+${hex(from)}` : `U+${hex(from)}-${hex(to)}`,
    );
    return `@font-face{font-family:'${face.family}';font-style:${face.style};font-weight:${face.weight};font-display:block;src:url(${dataUri(face.file)}) format('woff2');unicode-range:${range.join(',')};}`;
  });
  rules.push(
    `:root{--font-serif:${quoteFamilies(stacks.serif)}, serif;--font-sans:${quoteFamilies(stacks.sans)}, sans-serif;}`,
  );
  return rules.join('\n');
}

// Scripts a name or course may be written in that no shipped font draws, and a few that it does
// (a rare Han character, a Greek one outside the subset), by Unicode script name: what the
// missing-glyph log line and `npm run verify`'s report (page-text.ts) call them.
const SCRIPT_NAMES = [
  'Arabic',
  'Syriac',
  'Thaana',
  'Nko',
  'Devanagari',
  'Bengali',
  'Gurmukhi',
  'Gujarati',
  'Oriya',
  'Tamil',
  'Telugu',
  'Kannada',
  'Malayalam',
  'Sinhala',
  'Thai',
  'Lao',
  'Tibetan',
  'Myanmar',
  'Khmer',
  'Ethiopic',
  'Mongolian',
  'Yi',
  'Ol_Chiki',
  'Adlam',
  'Cherokee',
  'Canadian_Aboriginal',
  'Tifinagh',
  'Vai',
  'Javanese',
  'Balinese',
  'Armenian',
  'Georgian',
  'Greek',
  'Cyrillic',
  'Hebrew',
  'Han',
  'Hiragana',
  'Katakana',
  'Hangul',
  'Latin',
] as const;
const SCRIPT_TESTS = SCRIPT_NAMES.map((name) => ({ name, test: new RegExp(`^\\p{Script=${name}}$`, 'u') }));

/**
 * The Unicode scripts of `codePoints` (the renderer's missing glyphs), each once: "Yi", "Ethiopic";
 * "other" for symbols and scripts not listed. What a log line may say of characters no font has:
 * their code points, in a student's name, would spell the name out.
 */
export function scriptsOf(codePoints: readonly number[]): string[] {
  const scripts = new Set<string>();
  for (const point of codePoints) {
    const character = String.fromCodePoint(point);
    scripts.add(SCRIPT_TESTS.find(({ test }) => test.test(character))?.name ?? 'other');
  }
  return [...scripts];
}
