import { z } from 'zod';
import { ValidationError } from '../errors.ts';

export const uuidSchema = z.uuid();

/** Rejects anything that is not a UUID before it reaches SQL or a URL path. */
export function assertUuid(value: unknown, field: string): string {
  const parsed = uuidSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError(`${field} must be a UUID`, field);
  return parsed.data;
}
