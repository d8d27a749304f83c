import { formatIssueDate, resolveLocale, shippedLanguages } from '../render/i18n.ts';

/**
 * The dates a certificate's page prints against the signed ones (`npm run verify`, through
 * page-text.ts). A forger who edits a genuine PDF's "Expires on" date, or its issue date, leaves
 * the signature valid; the page must then say so. The check reads a date where the issuer's
 * templates print it: right after its label ("Date of issue", "Expires on", in any shipped
 * language), on the same line or the next, written as `issued_on` / `expires_on` print it (the
 * locale's long date, in that language's regional forms: "December 6, 2026", "6 December 2026")
 * or as the ISO date (`issued_on_iso`); in a right-to-left language, also with its words in
 * drawing order, as the viewers' text gives a right-to-left line back. Such a date that is not the signed one makes the page
 * invalid. A label followed by anything else (a custom template's own format) is reported as not
 * compared, and a page with no label (a template that leaves the date out, or a language whose
 * letters the viewers' text does not carry: Arabic, Devanagari) is reported as such: neither
 * holds anything against the page.
 */

export type DateSeen =
  | { seen: 'found' }
  /** A date printed where the signed one belongs, and not it (ISO, yyyy-mm-dd). */
  | { seen: 'other'; shown: string }
  /** A label followed by something this check does not read as a date. */
  | { seen: 'unread' }
  /** No label of this date on the page. */
  | { seen: 'missing' };

export interface DatesOnPage {
  issued: DateSeen;
  expires: DateSeen;
}

type Comparable = (text: string) => string;

// Regions whose long dates differ from their language's default in order or words (en-GB: "6
// December 2026"); the rest of the world's regions write one of these forms. Variants that give
// the same form as another are dropped.
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
const PROBE_DATES = ['2026-12-06', '2026-01-23'];

interface Language {
  labels: { issued: string; expires: string };
  /** Locale tags whose long dates differ from each other. */
  forms: string[];
  /** Right to left: the viewers' text may give a date's words back in drawing order. */
  rtl: boolean;
}

let languages: Language[] | undefined;

function shipped(comparable: Comparable): Language[] {
  languages ??= shippedLanguages().map((language) => {
    const { labels, dir } = resolveLocale(language);
    const forms = new Map<string, string>();
    for (const region of REGIONS) {
      const tag = region === '' ? language : `${language}-${region}`;
      const key = PROBE_DATES.map((date) => formatIssueDate(date, tag)).join('|');
      if (!forms.has(key)) forms.set(key, tag);
    }
    return {
      labels: { issued: comparable(labels.date_of_issue), expires: comparable(labels.expires_on) },
      forms: [...forms.values()],
      rtl: dir === 'rtl',
    };
  });
  return languages;
}

/**
 * The dates the page shows after their labels against the signed `issued` and `expires`
 * (yyyy-mm-dd; `expires` null when the certificate never expires). `comparable` and `digits` are
 * page-text.ts's normalisation (case, spacing, punctuation) and its reading of local digits.
 */
export function datesOnPage(
  text: string,
  signed: { issued: string; expires: string | null },
  comparable: Comparable,
  digits: (text: string) => string,
): DatesOnPage {
  const raw = text.split('\n').map(digits);
  const lines = raw.map(comparable);
  const read = (which: 'issued' | 'expires', date: string | null): DateSeen => {
    let seen: DateSeen = { seen: 'missing' };
    for (const language of shipped(comparable)) {
      const label = language.labels[which];
      lines.forEach((line, at) => {
        if (label === '' || !line.startsWith(label)) return;
        // On the label's line after it, else the next line. Labels have no digits: the numbers of
        // the label's line are the date's.
        const next = line.length === label.length ? at + 1 : at;
        const value = {
          comparable: (lines[next] ?? '').slice(next === at ? label.length : 0),
          raw: raw[next] ?? '',
        };
        const shown = dateIn(value, language, comparable, digits);
        // The first reading of each kind stands; another date anywhere after a label outweighs all.
        if (shown === undefined) {
          if (seen.seen === 'missing') seen = { seen: 'unread' };
        } else if (shown !== date) seen = { seen: 'other', shown };
        else if (seen.seen !== 'other') seen = { seen: 'found' };
      });
    }
    return seen;
  };
  return { issued: read('issued', signed.issued), expires: read('expires', signed.expires) };
}

/**
 * The date `value` is (its comparable text, and its text with ASCII digits for the numbers) as a
 * long date of one of `forms`, or an ISO date; undefined when it is neither. Its numbers say which day and year to try, each month is tried: a long date
 * is matched whole, so "6 December 2026" is not 2026-12-06 in a form that writes "December 6,
 * 2026", and a Japanese 2026年6月12日 is not 2026年12月6日.
 */
function dateIn(
  value: { comparable: string; raw: string },
  { forms, rtl }: Language,
  comparable: Comparable,
  digits: (text: string) => string,
): string | undefined {
  const iso = /^(\d{4})(\d{2})(\d{2})$/.exec(value.comparable);
  if (iso && /\d{4}-\d{2}-\d{2}/.test(value.raw)) return validDate(`${iso[1]}-${iso[2]}-${iso[3]}`);
  const numbers = value.raw.match(/\d+/g) ?? [];
  const year = numbers.find((number) => number.length === 4);
  if (year === undefined || numbers.length > 3) return undefined;
  for (const day of new Set(numbers.filter((number) => number.length <= 2 && Number(number) >= 1))) {
    for (let month = 1; month <= 12; month += 1) {
      const date = validDate(`${year}-${String(month).padStart(2, '0')}-${day.padStart(2, '0')}`);
      if (date === undefined) continue;
      for (const form of forms) {
        const words = digits(formatIssueDate(date, form)).split(/\s+/u);
        // "14 במרץ 2026" reads back as "2026 במרץ 14": its words in the order they are drawn.
        const readings = rtl ? [words, [...words].reverse()] : [words];
        if (readings.some((reading) => comparable(reading.join(' ')) === value.comparable)) return date;
      }
    }
  }
  return undefined;
}

/** `date` (yyyy-mm-dd) when it names a day of the calendar (not 2026-02-30). */
function validDate(date: string): string | undefined {
  const parsed = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === date ? date : undefined;
}
