import type { z } from 'zod';
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
