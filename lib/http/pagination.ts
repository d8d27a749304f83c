import { z } from 'zod';
import { UUID_PATTERN } from '../certificates/ids.ts';
import type { PageCursor, PageQuery } from '../certificates/read-model.ts';
import { ValidationError } from '../errors.ts';
import { isSupportedInstant } from '../validation.ts';
import { intParam } from './params.ts';

/**
 * Keyset pagination over (created_at DESC, id DESC). The cursor is opaque to clients:
 * base64url JSON of the last row's key. `createdAt` keeps PostgreSQL's microseconds (a JS Date
 * would round them and skip or repeat rows created in the same millisecond).
 */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/**
 * A timestamp of the exact shape encodeCursor writes that is also a real instant: the shape alone
 * lets month 13 or hour 99 through to PostgreSQL's `::timestamptz`, which fails the query (a 500
 * for a forged cursor instead of a 400). Year 0000 is a date for JavaScript, not for PostgreSQL
 * (isSupportedInstant, shared with every date a request gives).
 */
const cursorTimestamp = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
  .refine((value) => {
    const milliseconds = `${value.slice(0, 23)}Z`;
    const time = Date.parse(milliseconds);
    return isSupportedInstant(time) && new Date(time).toISOString() === milliseconds;
  });

const cursorSchema = z.strictObject({
  v: z.literal(1),
  t: cursorTimestamp,
  i: z.string().regex(UUID_PATTERN),
});

export function encodeCursor(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, t: cursor.createdAt, i: cursor.id })).toString('base64url');
}

export function decodeCursor(value: string): PageCursor {
  const invalid = new ValidationError('cursor is not a valid pagination cursor', 'cursor');
  if (value.length > 200 || !/^[A-Za-z0-9_-]+$/.test(value)) throw invalid;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success) throw invalid;
  return { createdAt: parsed.data.t, id: parsed.data.i.toLowerCase() };
}

/** `limit` and `cursor` of every list route, validated and documented from this one schema. */
export const pageQuerySchema = z.object({
  limit: intParam({
    min: 1,
    max: MAX_PAGE_SIZE,
    default: DEFAULT_PAGE_SIZE,
    description: `Page size, 1-${MAX_PAGE_SIZE} (default ${DEFAULT_PAGE_SIZE})`,
  }),
  cursor: z
    .string()
    .transform(decodeCursor)
    .optional()
    .meta({ description: '`nextCursor` of the previous page (opaque)', override: { type: 'string' } }),
});

/** The page a validated query asks for. */
export function pageQuery(query: z.output<typeof pageQuerySchema>): PageQuery {
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  return query.cursor === undefined ? { limit } : { limit, after: query.cursor };
}

/** The JSON shape of every list: `{ items, nextCursor }` (null on the last page). */
export function pageBody<T>(page: { items: T[]; next: PageCursor | null }): {
  items: T[];
  nextCursor: string | null;
} {
  return { items: page.items, nextCursor: page.next ? encodeCursor(page.next) : null };
}
