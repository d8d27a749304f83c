import { resolveLocale, shippedLanguages } from '../render/i18n.ts';

/**
 * The dates a certificate's page prints against the signed ones (`npm run verify`, through
 * page-text.ts). A forger who edits a genuine PDF's "Expires on" date, or its issue date, leaves
 * the signature valid; the page must then say so. The check reads a date where the issuer's
 * templates print it: by its label ("Date of issue", "Expires on", in any shipped language),
 * after it on its line or on the line before or after it (datesOnPage), written as `issued_on` /
 * `expires_on` print it (the locale's long date, in that language's regional forms: "December 6,
 * 2026", "6 December 2026") or as the ISO date (`issued_on_iso`); in a right-to-left language,
 * also with its words in drawing order, as the viewers' text gives a right-to-left line back.
 * Such a date that is not the signed one makes the page invalid. A label beside anything else (a
 * custom template's own format) is reported as not compared, and a page with no label (a template
 * that leaves the date out; in the viewers' text, an Arabic or Hindi certificate, whose labels
 * page-text.ts reads from /ActualText) is reported as such: neither holds anything against the
 * page.
 *
 * Each line by a label costs the same whatever it holds: its words, numbers made "#", are looked
 * up among the shapes each form writes (Language.shapes), so a page of a million forged dates
 * costs a pass over it, not an Intl call per date and month.
 */

export type DateSeen =
  | { seen: 'found' }
  /** A date printed where the signed one belongs, and not it (ISO, yyyy-mm-dd). */
  | { seen: 'other'; shown: string }
  /** A label followed by something this check does not read as a date. */
  | { seen: 'unread' }
  /** No label of this date on the page. */
  | { seen: 'missing' };

type Which = 'issued' | 'expires';

type DatesOnPage = Record<Which, DateSeen>;

interface PageNormalisation {
  /** page-text.ts's comparable text: case folded, without spaces, punctuation or invisibles. */
  comparable: (text: string) => string;
  /** Local digits (Arabic-Indic, Devanagari) as ASCII ones. */
  digits: (text: string) => string;
}

type Field = 'year' | 'month' | 'day';

/** How a form writes the dates of one month: which field each of its numbers is, in order. */
interface Reading {
  fields: Field[];
  /** The month, when it is written as a word (not among `fields`). */
  month?: number;
}

interface Language {
  /** Each date's label as the locale file writes it, and its comparable text. */
  labels: Record<Which, { text: string; comparable: string }>;
  /** A date's shape (its words, each number "#") -> the ways to read its numbers. */
  shapes: Map<string, Reading[]>;
}

// Regions whose long dates differ from their language's default in order or words (en-GB: "6
// December 2026"); the world's other regions write one of these forms.
const REGIONS = [
  '',
  'GB',
  'US',
  'CA',
  'AU',
  'IN',
  'IE',
  'ZA',
  'CH',
  'AT',
  'BR',
  'PT',
  'MX',
  'ES',
  'TW',
  'HK',
  'SG',
];

/**
 * The words of `text`, case folded: its runs of digits and of other characters, split where there
 * is punctuation and, `spaced`, where there are spaces. Not `spaced`, spaces are dropped: a date
 * printed letter-spaced reads back from pdf.js as "M a r c h 1 4 , 2 0 2 9", which then gives the
 * words "March 14, 2029" gives (every long form puts letters or punctuation between two numbers).
 */
function words(text: string, { comparable, digits }: PageNormalisation, spaced: boolean): string[] {
  return digits(text)
    .replace(/\s+/gu, spaced ? ' ' : '')
    .split(spaced ? /[\s\p{P}\p{Cc}\p{Cf}]+/u : /[\p{P}\p{Cc}\p{Cf}]+/u)
    .flatMap((chunk) => chunk.match(/\d+|\D+/gu) ?? [])
    .map(comparable)
    .filter((word) => word !== '');
}

function shapeOf(wordList: readonly string[]): string {
  return wordList.map((word) => word.replace(/\d+/gu, '#')).join(' ');
}

function shapesOf(tag: string, rtl: boolean, normalisation: PageNormalisation, into: Map<string, Reading[]>) {
  const format = new Intl.DateTimeFormat(tag, { dateStyle: 'long', timeZone: 'UTC' });
  for (let month = 1; month <= 12; month += 1) {
    // A day of two digits and a year of four: every number stands apart from the others.
    const parts = format.formatToParts(Date.UTC(2026, month - 1, 14));
    const fields = parts.flatMap((part) =>
      (part.type === 'year' || part.type === 'day' || part.type === 'month') && /\d/u.test(part.value)
        ? [part.type]
        : [],
    );
    const reading: Reading = fields.includes('month') ? { fields } : { fields, month };
    const add = (shape: string, candidate: Reading) => {
      const known = into.get(shape) ?? [];
      if (!known.some((other) => JSON.stringify(other) === JSON.stringify(candidate))) known.push(candidate);
      into.set(shape, known);
    };
    for (const spaced of [true, false]) {
      const wordList = words(parts.map((part) => part.value).join(''), normalisation, spaced);
      add(shapeOf(wordList), reading);
      if (rtl) add(shapeOf([...wordList].reverse()), { ...reading, fields: [...fields].reverse() });
    }
  }
}

/** A label found on the page: the date after it on its line, or, alone, the dates beside it. */
type Caption =
  | { which: Which; alone: false; own: string | undefined }
  | { which: Which; alone: true; before: string | undefined; after: string | undefined };

// Built once per normalisation (the labels and shapes are in its terms): a few hundred Intl calls.
const languagesFor = new WeakMap<PageNormalisation, Language[]>();

function shipped(normalisation: PageNormalisation): Language[] {
  const known = languagesFor.get(normalisation);
  if (known) return known;
  const languages = shippedLanguages().map((language) => {
    const { labels, dir } = resolveLocale(language);
    const shapes = new Map<string, Reading[]>();
    for (const region of REGIONS)
      shapesOf(region === '' ? language : `${language}-${region}`, dir === 'rtl', normalisation, shapes);
    return {
      labels: {
        issued: { text: labels.date_of_issue, comparable: normalisation.comparable(labels.date_of_issue) },
        expires: { text: labels.expires_on, comparable: normalisation.comparable(labels.expires_on) },
      },
      shapes,
    };
  });
  languagesFor.set(normalisation, languages);
  return languages;
}

/**
 * The dates the page shows by their labels against the signed `issued` and `expires`
 * (yyyy-mm-dd; `expires` null when the certificate never expires), in `text`, one line of the
 * page a line. `readsLabel` (default: every one) picks the shipped labels looked for, by their
 * text.
 *
 * A date stands after its label on the label's line, or, the label alone on its line, on the line
 * after it (the caption above its value, as the built-in design prints it) or before it (a
 * caption below its value). Which side, the page's own captions say: one with its signed date on
 * one side only shows where values are (a date a template prints just before a caption above its
 * value, a workshop's, is then not taken for the caption's). With no such caption, the side is
 * the built-in design's, after. A page whose captions say both (not one a template prints: a
 * caption repeated or hidden by a forger) has every date beside a caption compared, bar the other
 * signed date.
 */
export function datesOnPage(
  text: string,
  signed: { issued: string; expires: string | null },
  normalisation: PageNormalisation,
  readsLabel: (label: string) => boolean = () => true,
): DatesOnPage {
  const raw = text.split('\n');
  const lines = raw.map(normalisation.comparable);
  const dateAt = (at: number, language: Language) => {
    const line = raw[at];
    return line === undefined ? undefined : dateIn(line, language, normalisation);
  };
  // Every label on the page: of which date, the date on its own line after it or, alone on its
  // line, the dates before and after it.
  const captions: Caption[] = shipped(normalisation).flatMap((language) =>
    (['issued', 'expires'] as const).flatMap((which) => {
      const label = language.labels[which];
      if (label.comparable === '' || !readsLabel(label.text)) return [];
      return lines.flatMap((line, at): Caption[] => {
        if (!line.startsWith(label.comparable)) return [];
        if (line.length > label.comparable.length) {
          const value = afterLabel(raw[at] ?? '', label.comparable.length, normalisation.comparable);
          return [{ which, alone: false, own: dateIn(value, language, normalisation) }];
        }
        return [{ which, alone: true, before: dateAt(at - 1, language), after: dateAt(at + 1, language) }];
      });
    }),
  );
  const sides = new Set(
    captions.flatMap((caption) => {
      const date = signed[caption.which];
      if (!caption.alone || date === null || (caption.before === date) === (caption.after === date))
        return [];
      return [caption.after === date ? ('after' as const) : ('before' as const)];
    }),
  );
  const side = sides.size > 1 ? 'either' : sides.has('before') ? 'before' : 'after';
  const read = (which: Which): DateSeen => {
    const date = signed[which];
    const theOther = signed[which === 'issued' ? 'expires' : 'issued'];
    let seen: DateSeen = { seen: 'missing' };
    for (const caption of captions) {
      if (caption.which !== which || seen.seen === 'other') continue;
      let shown: string | undefined;
      if (!caption.alone) shown = caption.own;
      else if (side !== 'either') shown = caption[side];
      else {
        const beside = [caption.after, caption.before];
        shown =
          beside.find((found) => found !== undefined && found !== date && found !== theOther) ??
          (date !== null && beside.includes(date) ? date : undefined);
      }
      // Another date by any label outweighs the signed one by another; the first is named.
      if (shown !== undefined) seen = shown === date ? { seen: 'found' } : { seen: 'other', shown };
      else if (seen.seen === 'missing') seen = { seen: 'unread' };
    }
    return seen;
  };
  return { issued: read('issued'), expires: read('expires') };
}

/** What follows, in `line`, the characters whose comparable text is the label's `length` first. */
function afterLabel(line: string, length: number, comparable: (text: string) => string): string {
  let taken = 0;
  let at = 0;
  for (const character of line) {
    if (taken >= length) break;
    taken += comparable(character).length;
    at += character.length;
  }
  return line.slice(at);
}

/** The date (yyyy-mm-dd) `value` writes, in one of `language`'s forms or as ISO; else undefined. */
function dateIn(value: string, language: Language, normalisation: PageNormalisation): string | undefined {
  const iso = /^\s*(\d{4})-(\d{2})-(\d{2})\s*$/u.exec(normalisation.digits(value));
  if (iso) return validDate(Number(iso[1]), Number(iso[2]), Number(iso[3]));
  // As written, then as letter-spaced (words()).
  for (const spaced of [true, false]) {
    const wordList = words(value, normalisation, spaced);
    const numbers = wordList.flatMap((word) => word.match(/\d+/gu) ?? []);
    const dates = new Set(
      (language.shapes.get(shapeOf(wordList)) ?? []).flatMap((reading) => {
        const field = (name: Field) => numbers[reading.fields.indexOf(name)];
        const year = field('year');
        if (year?.length !== 4 || reading.fields.length !== numbers.length) return [];
        const date = validDate(Number(year), reading.month ?? Number(field('month')), Number(field('day')));
        return date === undefined ? [] : [date];
      }),
    );
    // Two readings of one line that are different dates: it does not say which.
    if (dates.size > 1) return undefined;
    if (dates.size === 1) return [...dates][0];
  }
  return undefined;
}

/** The date when it is a day of the calendar (not 30 February), as yyyy-mm-dd. */
function validDate(year: number, month: number, day: number): string | undefined {
  const date = new Date(Date.UTC(year, month - 1, day));
  return year >= 1000 &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day
    ? date.toISOString().slice(0, 10)
    : undefined;
}
