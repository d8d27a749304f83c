import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/**
 * Any 8-4-4-4-12 hex id: PostgreSQL's uuid type accepts every version, so the API does too, in
 * either case. Both cases are in the class rather than an `i` flag, which the OpenAPI document's
 * `pattern` (generated from it) would lose.
 */
export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}

export const uuidSchema = z.uuid();

/** Rejects anything that is not a UUID before it reaches SQL or a URL path. */
export function assertUuid(value: unknown, field: string): string {
  const parsed = uuidSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError(`${field} must be a UUID`, field);
  return parsed.data;
}
