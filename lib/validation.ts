import { z } from 'zod';
import { ValidationError } from './errors.ts';

/**
 * Parses `input` with a zod schema; the first problem becomes a ValidationError naming the
 * field ("limit must be between 1 and 100"), which the HTTP layer answers as a 400 with
 * `parameter`. One place, so every route and use-case words its 400s the same way.
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  fallbackField?: string,
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.map(String).join('.') || fallbackField;
  const message = issue?.message ?? 'is invalid';
  throw new ValidationError(field ? `${field} ${message}` : message, field);
}

// ---- dates and instants ----

/**
 * The instants every layer agrees on: years 0001 to 9999, UTC. Outside them the layers part
 * ways. The ISO patterns accept year 0000, which PostgreSQL refuses (it has no year 0: a 500
 * instead of a 400); `Date#toISOString()` writes year 10000 as `+010000-01-01`, which
 * PostgreSQL cannot parse back and which sorts before every 4-digit year as a string.
 * Every date or instant a request gives, or that the code derives from one (an exclusive end,
 * a default range), is checked against these before it reaches a query.
 */
export const FIRST_DAY = '0001-01-01';
export const LAST_DAY = '9999-12-31';
const EARLIEST_MS = Date.parse(`${FIRST_DAY}T00:00:00.000Z`);
const LATEST_MS = Date.parse(`${LAST_DAY}T23:59:59.999Z`);
const DAY_MS = 86_400_000;

export const OUT_OF_RANGE = `must be between ${FIRST_DAY} and ${LAST_DAY}`;

/** Whether an epoch-milliseconds instant lies within years 0001-9999 (NaN does not). */
export function isSupportedInstant(time: number): boolean {
  return time >= EARLIEST_MS && time <= LATEST_MS;
}

/** A YYYY-MM-DD day within years 0001-9999: the ISO pattern alone lets year 0000 through. */
export function isoDay(error = 'must be a date (YYYY-MM-DD)') {
  return z.iso
    .date({ error })
    .refine((value) => isSupportedInstant(Date.parse(`${value}T00:00:00.000Z`)), { error: OUT_OF_RANGE });
}

/**
 * An ISO 8601 date-time with offset whose instant lies within years 0001-9999 UTC
 * (`0001-01-01T00:00:00+01:00` is still year 0000 in UTC).
 */
export function isoInstant(error = 'must be an ISO 8601 date-time with offset') {
  return z.iso
    .datetime({ offset: true, error })
    .refine((value) => isSupportedInstant(Date.parse(value)), { error: OUT_OF_RANGE });
}

const BARE_DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A YYYY-MM-DD day (its UTC midnight) or an ISO date-time with offset, within years 0001-9999. */
export function isoDayOrInstant(error = 'must be a date (YYYY-MM-DD) or an ISO date-time') {
  return z
    .union([z.iso.date(), z.iso.datetime({ offset: true })], { error })
    .refine((value) => isSupportedInstant(startOf(value).getTime()), { error: OUT_OF_RANGE });
}

/** The instant a day or date-time starts at: a bare day is its UTC midnight. */
export function startOf(value: string): Date {
  return new Date(BARE_DAY.test(value) ? `${value}T00:00:00.000Z` : value);
}

/**
 * The exclusive end of a day or date-time used as an inclusive upper bound: a bare day includes
 * all of it (`2024-12-31` ends at 2025-01-01T00:00Z), an instant ends at itself.
 */
export function exclusiveEndOf(value: string): Date {
  return BARE_DAY.test(value) ? new Date(startOf(value).getTime() + DAY_MS) : startOf(value);
}

/** isoDayOrInstant() as an inclusive upper bound, whose exclusive end must also stay in range. */
export function isoDayOrInstantUntil(error = 'must be a date (YYYY-MM-DD) or an ISO date-time') {
  return isoDayOrInstant(error).refine((value) => isSupportedInstant(exclusiveEndOf(value).getTime()), {
    error: `must end by ${LAST_DAY}T23:59:59.999Z (a date includes its whole day, so at most 9999-12-30)`,
  });
}
