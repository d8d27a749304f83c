import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { templatesDir } from './paths.ts';

/**
 * Certificate labels per language (templates/locales/<language>.json) and Intl formatting of
 * dates and numbers for the full locale (de-CH keeps German labels and Swiss number format).
 */

export const LABEL_KEYS = [
  'title',
  'presented_to',
  'completed',
  'score',
  'date_of_issue',
  'expires_on',
  'certificate_id',
  'signature',
  'verify',
  'seal',
  'document',
] as const;

export type LabelKey = (typeof LABEL_KEYS)[number];

const localeFile = z.object({
  dir: z.enum(['ltr', 'rtl']),
  labels: z.object(
    Object.fromEntries(LABEL_KEYS.map((key) => [key, z.string().min(1)])) as Record<LabelKey, z.ZodString>,
  ),
});

export interface LocaleData {
  /** The locale used for Intl formatting (canonical BCP 47). */
  locale: string;
  /** The language whose labels are used. */
  language: string;
  dir: 'ltr' | 'rtl';
  labels: Record<LabelKey, string>;
}

const cache = new Map<string, Omit<LocaleData, 'locale'>>();

export function shippedLanguages(): string[] {
  return readdirSync(join(templatesDir(), 'locales'))
    .filter((file) => file.endsWith('.json'))
    .map((file) => file.slice(0, -5))
    .sort();
}

function loadLanguage(language: string): Omit<LocaleData, 'locale'> | undefined {
  const hit = cache.get(language);
  if (hit) return hit;
  if (!/^[a-z]{2,3}$/.test(language) || !shippedLanguages().includes(language)) return undefined;
  const parsed = localeFile.parse(
    JSON.parse(readFileSync(join(templatesDir(), 'locales', `${language}.json`), 'utf8')),
  );
  const data = { language, dir: parsed.dir, labels: parsed.labels };
  cache.set(language, data);
  return data;
}

/**
 * Labels and direction for a locale; an unknown language falls back to `fallback` (then English)
 * rather than failing an issued certificate. A malformed tag is a ValidationError.
 */
export function resolveLocale(locale: string, fallback = 'en'): LocaleData {
  let canonical: string;
  try {
    canonical = Intl.getCanonicalLocales(locale)[0] ?? fallback;
  } catch {
    throw new ValidationError(`locale "${locale}" is not a valid BCP 47 language tag`, 'locale');
  }
  const language = canonical.split('-')[0]?.toLowerCase() ?? fallback;
  const data = loadLanguage(language) ?? loadLanguage(fallback) ?? loadLanguage('en');
  if (!data) throw new Error('templates/locales/en.json is missing');
  return { ...data, locale: data.language === language ? canonical : data.language };
}

// Intl formatters are costly to build (~0.3 ms each, several per certificate; a CPU profile of
// the benchmark put them ahead of the template engine): one per locale, reused.
const dateFormats = new Map<string, Intl.DateTimeFormat>();
const numberFormats = new Map<string, Intl.NumberFormat>();
const percentFormats = new Map<string, Intl.NumberFormat>();

function cached<T>(cache: Map<string, T>, locale: string, create: () => T): T {
  let format = cache.get(locale);
  if (!format) {
    format = create();
    // Locale tags can come from requests (the verification page): the cache stays bounded.
    if (cache.size >= 200) cache.clear();
    cache.set(locale, format);
  }
  return format;
}

export function formatIssueDate(isoDate: string, locale: string): string {
  const date = new Date(`${isoDate.slice(0, 10)}T00:00:00Z`);
  if (Number.isNaN(date.getTime()))
    throw new ValidationError(`issue date "${isoDate}" is not a date`, 'issuedOn');
  return cached(
    dateFormats,
    locale,
    () => new Intl.DateTimeFormat(locale, { dateStyle: 'long', timeZone: 'UTC' }),
  ).format(date);
}

export function formatNumber(value: number, locale: string): string {
  return cached(
    numberFormats,
    locale,
    () => new Intl.NumberFormat(locale, { maximumFractionDigits: 2 }),
  ).format(value);
}

export function formatPercent(percentage: number, locale: string): string {
  return cached(
    percentFormats,
    locale,
    () => new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 2 }),
  ).format(percentage / 100);
}
