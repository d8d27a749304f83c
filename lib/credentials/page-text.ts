import { fontStacks, scriptsOf, selectFontFaces } from '../render/fonts.ts';
import { type DateSeen, datesOnPage } from './page-dates.ts';

/**
 * The page of a certificate PDF against the signed facts, through its text layer (`npm run
 * verify`, lib/credentials/offline-check.ts): does the page's text name the signed student, the
 * course, the code, the score and the dates? The text is read by the caller (a PageTextReader:
 * scripts/verify-worker.ts uses pdf.js and a reader of the /ActualText Chromium writes,
 * scripts/pdf-page-text.ts), so lib/ ships no PDF text extractor. What is drawn can still differ from the text layer: this catches a page
 * edited in a PDF editor, not a forger who draws one thing and writes another.
 */

/**
 * The text of a page: as the viewers' own reader gives it (`text`), and, from a reader of the
 * /ActualText Chromium writes for shaped glyphs, the page again with those scripts' letters as
 * printed (`shaped`; SHAPED_SCRIPTS).
 */
export type PageText = string | { text: string; shaped: string };

/** The text of each page of a PDF; rejects when the PDF cannot be read. */
export type PageTextReader = (pdf: Uint8Array) => Promise<PageText[]>;

/**
 * Text as it is compared with a page's text layer, robust to what Chromium prints and pdf.js
 * extracts (both sides alike):
 * - NFKC: a ligature (ﬁ), a full-width or other compatibility form is the letters it stands for;
 * - upper case (after NFKC, then NFKC again: upper-casing can decompose): a template may print a
 *   name with CSS text-transform: uppercase (ß is then SS); the dotted capital İ of Turkish
 *   upper-casing counts as I;
 * - no whitespace: long names and courses wrap (overflow-wrap: anywhere breaks inside a word, and
 *   pdf.js ends the line there), and pdf.js puts spaces where glyphs stand apart;
 * - no punctuation: a hyphen where a template hyphenates, ’ against ', and where the bidi
 *   algorithm puts a hyphen or parenthesis between right-to-left and left-to-right text;
 * - no format characters, variation selectors or the combining grapheme joiner: soft hyphens (a
 *   break there draws a hyphen or nothing), zero-width (non-)joiners and spaces, U+FE0F (pdf.js
 *   gives ♀️ back as ♀), and the U+0000 pdf.js gives for a glyph that has no text.
 * Letters, marks, digits and symbols (emoji) are compared as they are. A cut claim ("…") is its
 * part before the "…": the ellipsis is punctuation.
 */
export function pageComparable(text: string): string {
  return comparableCase(text).replace(IGNORED_GLOBAL, '');
}

const IGNORED = /[\s\p{P}\p{Cc}\p{Cf}\p{Variation_Selector}]|\u034F/u;
const IGNORED_GLOBAL = new RegExp(IGNORED.source, 'gu');

function comparableCase(text: string): string {
  return text
    .normalize('NFKC')
    .toUpperCase()
    .normalize('NFKC')
    .replace(/\u0130/gu, 'I');
}

/**
 * A page's text as it is searched: the comparable text (pageComparable) and, for each of its
 * code units, where it stands in the page's case-folded text with spaces and punctuation, to
 * look at what surrounds a match.
 */
interface PageIndex {
  comparable: string;
  folded: string;
  origin: number[];
}

function pageIndex(text: string): PageIndex {
  const folded = comparableCase(text);
  let comparable = '';
  const origin: number[] = [];
  for (let at = 0; at < folded.length; ) {
    const character = String.fromCodePoint(folded.codePointAt(at) ?? 0);
    if (!IGNORED.test(character)) {
      comparable += character;
      for (let unit = 0; unit < character.length; unit += 1) origin.push(at + unit);
    }
    at += character.length;
  }
  return { comparable, folded, origin };
}

// Scripts written with spaces between words: a name in them must not be a piece of a longer word
// ("علي" is not found in "علياء", nor "राम" in "रामू").
const SPACED_SCRIPT =
  /[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}\p{Script=Armenian}\p{Script=Georgian}\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Devanagari}\p{N}]/u;
const WORD_PART = /[\p{L}\p{M}\p{N}]/u;
// Invisible in print: looked through when asking what stands next to a match.
const SEE_THROUGH = /[\p{Cf}\p{Variation_Selector}]|\u034F/u;

/** The first visible character of `folded` from `at` on, stepping by `step` (1 or -1). */
function neighbour(folded: string, at: number, step: 1 | -1): string | undefined {
  for (let index = at; index >= 0 && index < folded.length; index += step) {
    const unit = folded.charCodeAt(index);
    // Land on whole code points: a low surrogate going back, a high one going forward.
    if (step === -1 && unit >= 0xdc00 && unit <= 0xdfff) continue;
    const character = String.fromCodePoint(folded.codePointAt(index) ?? 0);
    if (!SEE_THROUGH.test(character)) return character;
    if (step === 1) index += character.length - 1;
  }
  return undefined;
}

/** Whether `neighbour`, next to `edge` (the end of a match), makes the match part of a longer word. */
type Joins = (edge: string, neighbour: string) => boolean;
const continuesWord: Joins = (_edge, neighbour) => WORD_PART.test(neighbour);

/**
 * Whether `needle` (comparable, UNDRAWN standing for a character no shipped font has) stands in
 * the page as a whole: "ANNLEE" is not found in "Ann Leeds", nor "ED" in "ISSUED". Only at an end
 * that is a letter or digit of a script written with spaces (Latin, Greek, Cyrillic...): Chinese
 * or Japanese text runs on without them; and only at the ends `ends` names (a cut claim's end is
 * not an end of the name, nor is a piece's end inside a word).
 */
function foundWhole(
  page: PageIndex,
  needle: string,
  ends: { start: boolean; end: boolean },
  joins: Joins = continuesWord,
): boolean {
  const characters = Array.from(needle);
  const first = characters[0] ?? '';
  const last = characters.at(-1) ?? '';
  const edge = (character: string) => character !== UNDRAWN && SPACED_SCRIPT.test(character);
  const checkBefore = ends.start && edge(first);
  const checkAfter = ends.end && edge(last);
  // Where no shipped font has the character, the page has nothing there, or a glyph some other
  // font on the issuing machine drew: one character or none.
  const pattern = new RegExp(
    characters
      .map((character) => (character === UNDRAWN ? '.?' : character.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')))
      .join(''),
    'gu',
  );
  for (const match of page.comparable.matchAll(pattern)) {
    if (match[0] === '') continue;
    const start = page.origin[match.index] ?? 0;
    const end = (page.origin[match.index + match[0].length - 1] ?? 0) + 1;
    const before = checkBefore ? neighbour(page.folded, start - 1, -1) : undefined;
    const after = checkAfter ? neighbour(page.folded, end, 1) : undefined;
    if (!(before && joins(first, before)) && !(after && joins(last, after))) return true;
  }
  return false;
}

/**
 * The scripts whose letters a certificate's text layer carries one by one, as pdf.js reads them
 * back (tried with the renderer's Chromium and fonts: Latin, Greek, Cyrillic, Armenian, Georgian,
 * Chinese, Japanese, Korean, Hebrew, emoji). Arabic and Devanagari are not among them: Chromium
 * shapes them into glyphs whose text is only in /ActualText spans, which pdf.js ignores (a genuine
 * "فاطمة الزهراء" comes back as presentation forms with letters missing); letters no shipped font
 * draws (Thai, Ethiopic...) are printed with no text at all. A name or course with characters of
 * other scripts is not compared, and the report says so; SHAPED_SCRIPTS are, when the reader
 * gives their /ActualText back.
 */
const READ_GLYPH_BY_GLYPH = [
  'Latin',
  'Greek',
  'Cyrillic',
  'Armenian',
  'Georgian',
  'Han',
  'Hiragana',
  'Katakana',
  'Hangul',
  'Hebrew',
  'Common',
  'Inherited',
] as const;

/**
 * The scripts whose letters a reader of the /ActualText Chromium writes gives back in full (the
 * `pageTextReadsShaped` port): tried with the renderer's Chromium and fonts, genuine names and
 * courses in them come back as signed, in Arabic, Hindi and English certificates. No shipped font
 * draws the other shaped scripts (Bengali, Tamil, Thai...): their letters are printed without text.
 */
export const SHAPED_SCRIPTS = ['Arabic', 'Devanagari'] as const;

const outside = (scripts: readonly string[]) =>
  new RegExp(`[^${scripts.map((script) => `\\p{Script=${script}}`).join('')}]`, 'u');
const UNREADABLE_CHARACTER = outside(READ_GLYPH_BY_GLYPH);
const UNREADABLE_UNLESS_SHAPED = outside([...READ_GLYPH_BY_GLYPH, ...SHAPED_SCRIPTS]);

/** What a name or course is written in that this check cannot read back, for the report. */
function unreadableWriting(character: string): string {
  const [named = 'other'] = scriptsOf([character.codePointAt(0) ?? 0]);
  if (named !== 'other') return `it is in ${named.replace(/_/gu, ' ')} script`;
  return `it has characters such as U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

type Sighting = { seen: 'found' | 'missing' } | { seen: 'not compared'; why: string };

/** Stands, in a comparable fact, for a character no shipped font has (a private-use code point). */
const UNDRAWN = '\uE000';

/**
 * A signed fact with each character no shipped font has replaced by UNDRAWN: Chromium prints such
 * a character as a box with no text (pdf.js reads nothing, or U+0000, there) unless a font of the
 * issuing machine has it: a rare Chinese name character, a musical symbol, Georgian.
 */
function markUndrawn(text: string): string {
  const missing = new Set(selectFontFaces(text, fontStacks('en')).missing);
  if (missing.size === 0) return text;
  return Array.from(text, (character) =>
    missing.has(character.codePointAt(0) ?? 0) ? UNDRAWN : character,
  ).join('');
}

/**
 * Whether `text` (a signed fact) is in the page's text, as a whole; `readsShaped`: the page's text
 * has SHAPED_SCRIPTS' letters as printed (CheckIo.pageTextReadsShaped).
 */
function sighting(
  text: string,
  pages: { text: PageIndex; shaped?: PageIndex },
  readsShaped: boolean,
): Sighting {
  // A fact with no letters of SHAPED_SCRIPTS is looked for in the viewers' reading of the page
  // alone: the second reader parses the file on its own, and a forger can make two parsers see
  // two pages (an object defined twice: pdf-lib keeps the last one, viewers the one the
  // cross-reference table names), one naming the student for the check and one naming someone
  // else for every eye. One with such letters is looked for in the second reading, and its other
  // letters and digits, run by run, in the viewers' too.
  const shaped = readsShaped && pages.shaped !== undefined && SHAPED_LETTER.test(text);
  if (!shaped) return sightingIn(text, pages.text, readsShaped);
  const seen = sightingIn(text, pages.shaped ?? pages.text, readsShaped);
  if (seen.seen !== 'found') return seen;
  // Run by run, digits apart from letters: the readers may put "3rd" beside an Arabic run as "3"
  // and "rd", as directionRuns allows for.
  const others = text
    .split(SHAPED_LETTERS)
    .flatMap((piece) => piece.split(DIGITS_EDGE))
    .map((piece) => pageComparable(markUndrawn(piece)).replaceAll(UNDRAWN, ''))
    .filter((piece) => piece !== '');
  return others.every((piece) => foundWhole(pages.text, piece, { start: false, end: false }))
    ? seen
    : { seen: 'missing' };
}

const SHAPED_LETTER = new RegExp(SHAPED_SCRIPTS.map((script) => `\\p{scx=${script}}`).join('|'), 'u');
const SHAPED_LETTERS = new RegExp(`(?:${SHAPED_LETTER.source})+`, 'u');

function sightingIn(text: string, page: PageIndex, readsShaped: boolean): Sighting {
  const unreadable = (readsShaped ? UNREADABLE_UNLESS_SHAPED : UNREADABLE_CHARACTER).exec(text)?.[0];
  if (unreadable !== undefined)
    return {
      seen: 'not compared',
      why: `${unreadableWriting(unreadable)}, which this check cannot read back from a certificate's text layer`,
    };
  const whole = pageComparable(markUndrawn(text));
  if (whole.replaceAll(UNDRAWN, '') === '')
    return { seen: 'not compared', why: 'it has no letters or digits a page shows as text' };
  const open = /…\s*$/u.test(text);
  if (foundWhole(page, whole, { start: true, end: !open })) return { seen: 'found' };
  if (!RIGHT_TO_LEFT.test(text)) return { seen: 'missing' };
  // The readers give right-to-left pieces in visual order put back, but can only guess where
  // digits, Latin words and punctuation sit inside a right-to-left line (that takes the whole bidi
  // algorithm and the paragraph's direction: "محمد بن سلمان 2" reads back as "2 محمد بن سلمان"
  // in an Arabic certificate): each run of one direction, and each run of digits, is looked for
  // on its own, still as a whole word where it begins or ends one.
  const runs = directionRuns(text, open);
  return {
    seen: runs.every((run) => foundWhole(page, run.text, run, continuesRun)) ? 'found' : 'missing',
  };
}

const RIGHT_TO_LEFT_LETTERS = '\\p{Script=Hebrew}\\p{Script=Arabic}';
const RIGHT_TO_LEFT = new RegExp(`[${RIGHT_TO_LEFT_LETTERS}]`, 'u');
// Where the direction changes, and where digits begin or end.
const DIGITS_EDGE = /(?<=\p{N})(?=\P{N})|(?<=\P{N})(?=\p{N})/u;
const RUN_BOUNDARY = new RegExp(
  `(?<=[${RIGHT_TO_LEFT_LETTERS}])(?=[^${RIGHT_TO_LEFT_LETTERS}])|(?<=[^${RIGHT_TO_LEFT_LETTERS}])(?=[${RIGHT_TO_LEFT_LETTERS}])|${DIGITS_EDGE.source}`,
  'u',
);

/**
 * The comparable runs of a right-to-left fact: its words cut where the direction changes, where
 * digits begin or end, and where a character no shipped font has stands; each with whether it
 * begins (`start`) or ends (`end`) a word of the fact. A cut claim's last word ends nowhere.
 */
function directionRuns(text: string, open: boolean): Array<{ text: string; start: boolean; end: boolean }> {
  const runs: Array<{ text: string; start: boolean; end: boolean }> = [];
  const words = text.split(/\s+/u).filter((word) => word !== '');
  for (const [wordAt, word] of words.entries()) {
    const pieces = word.split(RUN_BOUNDARY);
    for (const [pieceAt, piece] of pieces.entries()) {
      const parts = pageComparable(markUndrawn(piece)).split(UNDRAWN);
      for (const [partAt, part] of parts.entries())
        if (part !== '')
          runs.push({
            text: part,
            start: pieceAt === 0 && partAt === 0,
            end:
              pieceAt === pieces.length - 1 &&
              partAt === parts.length - 1 &&
              !(open && wordAt === words.length - 1),
          });
    }
  }
  return runs;
}

/**
 * Next to a run, the page may show what is its neighbour only in the drawing: "Omar عمر الفاروق
 * 3rd" reads back as "Omar 3 عمر الفاروقrd". Only across a change of direction is a letter or
 * digit not taken to continue the run: "علي" is not in "علياء", nor "2" in "K7Q2M9" or "2026".
 */
const continuesRun: Joins = (edge, neighbour) =>
  WORD_PART.test(neighbour) &&
  (/\p{M}/u.test(neighbour) || RIGHT_TO_LEFT.test(edge) === RIGHT_TO_LEFT.test(neighbour));

/** "a", "a and b", "a, b and c". */
function listed(items: readonly string[]): string {
  return items.length < 2 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

const BY_EYE = "(a check of the PDF's text layer: what is drawn can still differ, so compare by eye too)";

/**
 * The page's text layer against the facts it must print. Every template prints the student's
 * name and the course (validateTemplateSource refuses one that does not), so both must be in the
 * text; the code is reported when missing, not held against the page: a template may offer only
 * the QR code, which is no text (the default design prints the code in the verification address).
 * A page with no text at all cannot be tied to the credential.
 */
export async function pageFinding(
  pdf: Uint8Array,
  printed: {
    name: string;
    course: string;
    code: string;
    score?: string;
    /** The signed issue and expiry dates (yyyy-mm-dd; expires null: never), compared by page-dates.ts. */
    dates?: { issued: string; expires: string | null };
  },
  pageText: PageTextReader,
  readsShaped: boolean,
): Promise<{ verdict: 'consistent' | 'invalid' | 'unread'; line: string }> {
  let pages: PageText[];
  try {
    pages = await pageText(pdf);
  } catch (error) {
    return {
      verdict: 'unread',
      line: `Page text: COULD NOT READ the page (${error instanceof Error ? error.message : String(error)}). Compare the name, course, code, score and dates printed on it with the signed facts above.`,
    };
  }
  // The issuer's certificates have one page (the renderer refuses a second since 2026-12-04): a
  // page put in front of the genuine one, naming someone else, would pass a search of all pages'
  // text. Not a verdict either way: online, the file itself is compared with the issuer's record.
  if (pages.length > 1)
    return {
      verdict: 'unread',
      line: `Page text: COULD NOT CHECK — the PDF has ${pages.length} pages, and the issuer's certificates have one (pages may have been added to it). Check it online, where the file itself is compared with the issuer's record`,
    };
  const first = pages[0] ?? '';
  const reading = typeof first === 'string' ? { text: first, shaped: undefined } : first;
  const indexed = {
    text: pageIndex(reading.text),
    shaped: reading.shaped === undefined ? undefined : pageIndex(reading.shaped),
  };
  if (indexed.text.comparable === '' && (indexed.shaped === undefined || indexed.shaped.comparable === ''))
    return {
      verdict: 'invalid',
      line: "Page text: NONE — the page carries no text (an image of a certificate, or flattened), so nothing ties what it shows to the signed credential; the issuer's certificates always carry text",
    };
  const facts = [
    { what: 'student', sighting: sighting(printed.name, indexed, readsShaped) },
    { what: 'course', sighting: sighting(printed.course, indexed, readsShaped) },
    { what: 'code', sighting: sighting(printed.code, indexed, readsShaped) },
  ];
  for (const required of facts.slice(0, 2))
    if (required.sighting.seen === 'missing')
      return {
        verdict: 'invalid',
        line: `Page text: DOES NOT name the signed ${required.what} — the page was altered or is not this certificate`,
      };
  const score =
    printed.score === undefined
      ? undefined
      : scoreOnPage(printed.score, reading, [printed.course, printed.name]);
  if (score === 'other')
    return {
      verdict: 'invalid',
      line: `Page text: SHOWS ANOTHER SCORE than the signed ${printed.score} — the page was altered or is not this certificate`,
    };
  const dates = printed.dates && datesOf(reading, printed.dates, readsShaped);
  if (printed.dates && dates?.issued.seen === 'other')
    return {
      verdict: 'invalid',
      line: `Page text: SHOWS ANOTHER ISSUE DATE (${dates.issued.shown}) than the signed ${printed.dates.issued} — the page was altered or is not this certificate`,
    };
  if (printed.dates && dates?.expires.seen === 'other')
    return {
      verdict: 'invalid',
      line: printed.dates.expires
        ? `Page text: SHOWS ANOTHER EXPIRY DATE (${dates.expires.shown}) than the signed ${printed.dates.expires} — the page was altered or is not this certificate`
        : `Page text: SHOWS AN EXPIRY DATE (${dates.expires.shown}), and the signed facts have none — the page was altered or is not this certificate`,
    };
  const found = facts.filter((fact) => fact.sighting.seen === 'found').map((fact) => fact.what);
  const missing = facts.filter((fact) => fact.sighting.seen === 'missing').map((fact) => fact.what);
  const clauses: string[] = [];
  if (found.length > 0) clauses.push(`names the signed ${listed(found)}`);
  if (score === 'found') clauses.push(`shows the signed score ${printed.score}`);
  if (score === 'missing')
    clauses.push(`does not show the signed score ${printed.score} (templates may leave it out)`);
  if (printed.dates && dates) clauses.push(...dateClauses(printed.dates, dates));
  if (missing.length > 0) {
    const them = missing.length > 1 ? 'them' : 'it';
    clauses.push(
      `does not show the signed ${listed(missing)} (templates may show ${them} only in the QR code, but one the page shows is not the signed one)`,
    );
  }
  for (const fact of facts)
    if (fact.sighting.seen === 'not compared')
      clauses.push(
        `the ${fact.what === 'student' ? "student's name" : fact.what} was not compared: ${fact.sighting.why}`,
      );
  return { verdict: 'consistent', line: `Page text: ${clauses.join('; ')} ${BY_EYE}` };
}

// One object for every page: page-dates.ts builds its labels and shapes once per normalisation.
const DATE_NORMALISATION = { comparable: pageComparable, digits: asciiDigits };

/**
 * The dates the page shows (page-dates.ts), in the viewers' text (pdf.js) and, when the caller
 * reads /ActualText, by the Arabic and Devanagari labels of that reading: an Arabic or Hindi
 * certificate's labels and months are only there. That reading parses the file with pdf-lib,
 * which a forger can point at another page than the viewers see, so it counts only for those
 * labels (as for names, sighting): another date there is another date, and where the viewers'
 * text has no label of a date, it says which it is.
 */
function datesOf(
  reading: { text: string; shaped: string | undefined },
  signed: { issued: string; expires: string | null },
  readsShaped: boolean,
): { issued: DateSeen; expires: DateSeen } {
  const viewers = datesOnPage(reading.text, signed, DATE_NORMALISATION);
  if (!readsShaped || reading.shaped === undefined) return viewers;
  const shaped = datesOnPage(reading.shaped, signed, DATE_NORMALISATION, (label) =>
    SHAPED_LETTER.test(label),
  );
  const both = (seen: DateSeen, also: DateSeen): DateSeen =>
    seen.seen === 'other' ? seen : also.seen === 'other' || seen.seen === 'missing' ? also : seen;
  return { issued: both(viewers.issued, shaped.issued), expires: both(viewers.expires, shaped.expires) };
}

/** What the report says about the dates that were not found other than signed. */
function dateClauses(
  signed: { issued: string; expires: string | null },
  seen: { issued: DateSeen; expires: DateSeen },
): string[] {
  const clauses: string[] = [];
  const unread = (what: string) =>
    `the ${what} by its label was not compared (no date beside it in a form this check reads)`;
  if (seen.issued.seen === 'found') clauses.push(`shows the signed issue date ${signed.issued}`);
  if (seen.issued.seen === 'unread') clauses.push(unread('issue date'));
  if (seen.issued.seen === 'missing')
    clauses.push('did not find the issue date by a label it reads (templates may leave it out)');
  if (signed.expires) {
    if (seen.expires.seen === 'found') clauses.push(`shows the signed expiry date ${signed.expires}`);
    if (seen.expires.seen === 'unread') clauses.push(unread('expiry date'));
    if (seen.expires.seen === 'missing')
      clauses.push(
        `did not find the signed expiry date ${signed.expires} by a label it reads (templates may leave it out)`,
      );
  } else if (seen.expires.seen === 'unread') clauses.push(unread('expiry date'));
  return clauses;
}

// The decimal digits of the scripts certificates print numbers in (Arabic-Indic, Extended
// Arabic-Indic, Devanagari), as ASCII digits, and the Arabic decimal and thousands separators as
// "." and ",": a score printed ٨٧٫٥ / ١٠٠ is 87.5 / 100.
const LOCAL_DIGITS = /[\u0660-\u0669\u06F0-\u06F9\u0966-\u096F\u066B\u066C]/gu;
function asciiDigits(text: string): string {
  return text.replace(LOCAL_DIGITS, (digit) => {
    const code = digit.codePointAt(0) ?? 0;
    if (code === 0x066b) return '.';
    if (code === 0x066c) return ',';
    const zero = code >= 0x0966 ? 0x0966 : code >= 0x06f0 ? 0x06f0 : 0x0660;
    return String(code - zero);
  });
}

// A number as a page prints it: digit groups ("1,000", "1.000", "1 000", "1 000") and a decimal
// part after a point or a comma ("87,5" in German). Bounded, as scores are (numeric(10, 2): at
// most 8 digits before the point): unbounded, a forged page's "1.000.000…" with no slash made
// every start try the whole run, time in the square of its length (320,000 characters: 50 s;
// bounded, 13 ms).
export const SCORE_NUMBER = String.raw`\d{1,3}(?:[,.\u0020\u00A0\u202F]\d{3}){1,4}(?:[.,]\d{1,4})?|\d{1,12}(?:[.,]\d{1,4})?`;
// "N / M", not inside a date ("06/10/2026": no slash or digit right before or after).
const SCORE_SHOWN = new RegExp(
  String.raw`(?<![\d/\u2044\u2215][\s]*)(${SCORE_NUMBER})\s*[/\u2044\u2215]\s*(${SCORE_NUMBER})(?![\s]*[/\u2044\u2215]|\d)`,
  'gu',
);

/** The values a printed number may stand for: "1.000" is 1 (a decimal point) or 1000 (a group). */
function valuesOf(text: string): number[] {
  const values = [Number(text.replace(',', '.'))];
  const grouped = /^\d{1,3}(?:[,.\u0020\u00A0\u202F]\d{3})+/u.exec(text)?.[0];
  if (grouped !== undefined) {
    const rest = text.slice(grouped.length).replace(',', '.');
    values.push(Number(grouped.replace(/[^\d]/gu, '') + rest));
  }
  return values.filter((value) => !Number.isNaN(value));
}

type ScoreSeen = 'found' | 'other' | 'missing';

/**
 * Whether the page shows the signed score ("58/100", scoreLine): as "58 / 100", or "100 / 58" (a
 * right-to-left line read back in drawing order) (`found`); if not, another score out of the same
 * maximum ("98 / 100", a holder improving their certificate: `other`); or neither (`missing`:
 * templates may leave it out). The signed score shown anywhere wins: a course "Part 1/10" beside
 * a score of 8 / 10 is no other score. Read where the viewers' text is (pdf.js): the shaped
 * reading (pdf-lib) is one a forger can point at the genuine page while viewers show another, so
 * it counts only for numbers in Arabic-Indic or Devanagari digits, which only it reads.
 */
function scoreOnPage(
  signed: string,
  reading: { text: string; shaped: string | undefined },
  signedTexts: readonly string[],
): ScoreSeen {
  const [score, max] = signed.split('/').map(Number);
  if (score === undefined || max === undefined || Number.isNaN(score) || Number.isNaN(max)) return 'missing';
  const inText = scoreIn(reading.text, score, max, signedTexts, () => true);
  if (inText !== 'missing' || reading.shaped === undefined) return inText;
  return scoreIn(reading.shaped, score, max, signedTexts, (shown) => asciiDigits(shown) !== shown);
}

function scoreIn(
  reading: string,
  score: number,
  max: number,
  signedTexts: readonly string[],
  counts: (shown: string) => boolean,
): ScoreSeen {
  // The signed course and name are not scores, whatever they hold ("Week 1/10").
  let text = reading.replace(/\s+/gu, ' ');
  for (const signedText of signedTexts) {
    const plain = signedText.replace(/\s+/gu, ' ').trim();
    if (plain !== '') text = text.split(plain).join(' ');
  }
  let other = false;
  // asciiDigits turns each character into one, so a match's place is the same in `text`.
  for (const match of asciiDigits(text).matchAll(SCORE_SHOWN)) {
    if (!counts(text.slice(match.index, match.index + match[0].length))) continue;
    const [first, second] = [valuesOf(match[1] ?? ''), valuesOf(match[2] ?? '')];
    if ((first.includes(score) && second.includes(max)) || (first.includes(max) && second.includes(score)))
      return 'found';
    // Out of the same maximum, and no more than it: "10/2027" (a month) is no score out of 10.
    if (
      (second.includes(max) && first.some((value) => value <= max)) ||
      (first.includes(max) && second.some((value) => value <= max))
    )
      other = true;
  }
  return other ? 'other' : 'missing';
}
