import { ValidationError } from '../errors.ts';

/**
 * Limits and clean-up for people-facing text printed on a certificate. Ingestion and generation
 * both call these, so an absurd value is refused early with a clear message and the renderer can
 * rely on what it gets.
 */
export const TEXT_LIMITS = {
  /** Student display name, in code points after NFC normalisation. */
  displayName: 200,
  courseName: 300,
  issuerName: 200,
} as const;

// Bidi embedding/override/isolate controls (U+202A-202E, U+2066-2069) could make a name render
// reversed or spoof surrounding text; LRM/RLM/ALM (U+200E, U+200F, U+061C) are kept out as well:
// the template sets direction per element with dir="auto". Other control and unassigned characters
// are removed; ZWJ/ZWNJ stay (emoji sequences, Indic and Persian shaping need them). A lone
// surrogate (\p{Cs}: half of an emoji, from a broken source) is removed too: it is not text, and
// the database would store it as U+FFFD while the signature kept it, so a genuine certificate
// would not match its own record.
export const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/gu;
// Every other format character (\p{Cf}: zero-width space, word joiner, soft hyphen, invisible
// operators...) is removed too, but ZWNJ/ZWJ and the tag characters of emoji flag sequences.
const OTHER_CONTROLS = /[\p{Cc}\p{Co}\p{Cs}\uFEFF]|(?!\u200C|\u200D|[\u{E0020}-\u{E007F}])\p{Cf}/gu;
// Tag characters (U+E0020-E007F) mirror ASCII and print as nothing: anywhere else they would carry
// hidden text ("Ada" + tags spelling HIRE ME + " Lovelace" prints as "Ada Lovelace") into the
// signed facts, the credential and the JSON. They stay only as an emoji flag of a subdivision
// (UTS #51 tag sequence: the black flag, a CLDR subdivision code such as "gbsct" in tag letters
// and digits, the cancel tag), the only tag sequences Unicode recommends (RGI).
const TAG_CHARACTERS =
  /(\u{1F3F4}[\u{E0061}-\u{E007A}]{2}[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{1,4}\u{E007F})|[\u{E0020}-\u{E007F}]/gu;

/** The text without tag characters, but those of a subdivision flag (see TAG_CHARACTERS). */
export function withoutStrayTags(value: string): string {
  return value.replace(TAG_CHARACTERS, (_, flag: string | undefined) => flag ?? '');
}
// Letters and symbols that print as nothing: Hangul fillers, the blank Braille pattern.
const BLANK_CHARACTERS = /[\u115F\u1160\u3164\uFFA0\u2800]/gu;
const VISIBLE = /[\p{L}\p{N}\p{S}\p{P}]/u;
/** More combining marks on one character than any script writes ("Zalgo" text). */
const MAX_STACKED_MARKS = 8;
const STACKED_MARKS = new RegExp(`\\p{M}{${MAX_STACKED_MARKS + 1},}`, 'u');

/**
 * No bidi/format controls, line breaks and other spaces as one space, trimmed, then NFC. Never
 * throws. NFC comes last: a character removed between a letter and its combining mark ("e", a
 * zero-width space, U+0301) would otherwise leave them uncomposed, and a second pass (the
 * renderer's) would compose them: the record and the signed facts would hold a name other than
 * the one printed. So the result is its own normal form.
 */
export function normalizeDisplayText(value: string): string {
  return withoutStrayTags(value)
    .replace(BIDI_CONTROLS, '')
    .replace(/[\t\n\r\f\v\u0085\u00A0\u2000-\u200A\u2028\u2029\u3000]/gu, ' ')
    .replace(OTHER_CONTROLS, '')
    .replace(/ {2,}/g, ' ')
    .trim()
    .normalize('NFC');
}

/** Whether the text, once normalised, prints anything: not only spaces, controls or blank letters. */
export function printsSomething(value: string): boolean {
  return VISIBLE.test(normalizeDisplayText(value).replace(BLANK_CHARACTERS, ''));
}

function validateText(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string') throw new ValidationError(`${field} must be a string`, field);
  const normalized = normalizeDisplayText(value);
  if (normalized === '') throw new ValidationError(`${field} must not be empty`, field);
  // Would print as an empty line on a signed certificate.
  if (!printsSomething(normalized)) throw new ValidationError(`${field} has no visible character`, field);
  // Counted with the format characters the name keeps (ZWJ, ZWNJ, emoji tags) left out: they
  // print nothing, and placed between marks they split a run that stacks on one character all the same.
  if (STACKED_MARKS.test(normalized.replace(/\p{Cf}/gu, '')))
    throw new ValidationError(
      `${field} stacks more than ${MAX_STACKED_MARKS} combining marks on one character`,
      field,
    );
  const length = [...normalized].length;
  if (length > max)
    throw new ValidationError(`${field} is too long (${length} characters, at most ${max})`, field);
  return normalized;
}

/** Returns the name as it will be printed, or throws ValidationError (empty, too long, not text). */
export function validateDisplayName(value: unknown, field = 'student_name'): string {
  return validateText(value, field, TEXT_LIMITS.displayName);
}

export function validateCourseName(value: unknown, field = 'course_name'): string {
  return validateText(value, field, TEXT_LIMITS.courseName);
}

export function validateIssuerName(value: unknown, field = 'issuer_name'): string {
  return validateText(value, field, TEXT_LIMITS.issuerName);
}

/**
 * The content exactly as it will be printed (normalised names), or ValidationError. The pipeline
 * can snapshot this result so the stored snapshot and the PDF always agree.
 */
export function printableContent<T extends { studentName: string; courseName: string; issuerName: string }>(
  content: T,
): T {
  return {
    ...content,
    studentName: validateDisplayName(content.studentName),
    courseName: validateCourseName(content.courseName),
    issuerName: validateIssuerName(content.issuerName),
  };
}
