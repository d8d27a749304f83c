import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { UUID_PATTERN } from '../certificates/ids.ts';
import type { PageCursor, PageQuery } from '../certificates/read-model.ts';
import { ValidationError } from '../errors.ts';
import { intQueryParam, queryParam } from './params.ts';

/**
 * Keyset pagination over (created_at DESC, id DESC). The cursor is opaque to clients:
 * base64url JSON of the last row's key. `createdAt` keeps PostgreSQL's microseconds (a JS Date
 * would round them and skip or repeat rows created in the same millisecond).
 */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

const cursorSchema = z.strictObject({
  v: z.literal(1),
  t: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
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

/** Reads `limit` and `cursor` from the query string. */
export function pageQuery(event: APIGatewayProxyEventV2): PageQuery {
  const limit = intQueryParam(event, 'limit', { min: 1, max: MAX_PAGE_SIZE }) ?? DEFAULT_PAGE_SIZE;
  const cursor = queryParam(event, 'cursor');
  return cursor === undefined ? { limit } : { limit, after: decodeCursor(cursor) };
}

/** The JSON shape of every list: `{ items, nextCursor }` (null on the last page). */
export function pageBody<T>(page: { items: T[]; next: PageCursor | null }): {
  items: T[];
  nextCursor: string | null;
} {
  return { items: page.items, nextCursor: page.next ? encodeCursor(page.next) : null };
}
