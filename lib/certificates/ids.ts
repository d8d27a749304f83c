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

/**
 * A UUID as PostgreSQL takes it (any version, either case), lower-cased as PostgreSQL prints it.
 * Not z.uuid(), which refuses versions and variants outside RFC 9562: an id the database holds
 * (an imported row, say) must not be "not a UUID" to one layer and a certificate to another.
 */
export function uuidString(message = 'must be a UUID') {
  return z
    .string({ error: message })
    .regex(UUID_PATTERN, message)
    .transform((value) => value.toLowerCase());
}

export const uuidSchema = uuidString();

/** Rejects anything that is not a UUID before it reaches SQL or a URL path; the id lower-cased. */
export function assertUuid(value: unknown, field: string): string {
  const parsed = uuidSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError(`${field} must be a UUID`, field);
  return parsed.data;
}
