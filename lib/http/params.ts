import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { UUID_PATTERN } from '../certificates/ids.ts';
import { TooLargeError, ValidationError } from '../errors.ts';

/**
 * Zod schemas of path and query parameters. API Gateway hands every parameter over as a
 * string; the messages complete "<parameter> ..." in the 400 the route contract answers.
 */

/** A path parameter that must be a UUID (lower-cased, as PostgreSQL prints them). */
export function uuidParam(description: string) {
  return z
    .string({ error: 'is required' })
    .regex(UUID_PATTERN, 'must be a UUID')
    .transform((value) => value.toLowerCase())
    .meta({ description, override: { type: 'string', format: 'uuid' } });
}

/**
 * An optional integer query parameter within bounds. API Gateway passes it as a string, which
 * the schema checks digit by digit; the document shows what a client sends, an integer with its
 * bounds, and none of the string's keywords (a `pattern` beside `type: integer` applies to
 * nothing in JSON Schema 2020-12, and a reader would take it for a rule).
 */
export function intParam(bounds: { min: number; max?: number; default?: number; description: string }) {
  const range =
    bounds.max === undefined ? `at least ${bounds.min}` : `between ${bounds.min} and ${bounds.max}`;
  const documented = {
    type: 'integer' as const,
    minimum: bounds.min,
    ...(bounds.max === undefined ? {} : { maximum: bounds.max }),
    ...(bounds.default === undefined ? {} : { default: bounds.default }),
  };
  return (
    z
      .string()
      // Up to 15 digits, all exact as a double: a larger value than a bound allows is then refused
      // by the bound, or capped by the route (expiresIn), not called "not a positive integer".
      .regex(/^\d{1,15}$/, 'must be a whole number of at most 15 digits')
      .transform(Number)
      .refine(
        (value) => value >= bounds.min && (bounds.max === undefined || value <= bounds.max),
        `must be ${range}`,
      )
      .optional()
      .meta({
        description: bounds.description,
        override: ({ jsonSchema }) => {
          for (const key of Object.keys(jsonSchema)) delete jsonSchema[key];
          Object.assign(jsonSchema, documented);
        },
      })
  );
}

/** Every route's request body at most, unless its declaration allows more (RequestSchemas.maxBodyBytes). */
export const MAX_BODY_BYTES = 16 * 1024;

/**
 * The JSON request body; 400 naming `body` when it is missing or not JSON, or the field holding a
 * NUL; 413 when it is larger than the route takes.
 */
export function jsonBody(event: APIGatewayProxyEventV2, maxBytes = MAX_BODY_BYTES): unknown {
  if (event.body === undefined || event.body === null || event.body === '') {
    throw new ValidationError('body is required (JSON)', 'body');
  }
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(text) > maxBytes) {
    throw new TooLargeError(maxBytes);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('body must be valid JSON', 'body');
  }
  // JSON writes U+0000 only as the escape \u0000: without one in the text there is none to find.
  if (text.includes('\\u0000')) {
    const withNul = nulPath(parsed);
    if (withNul !== undefined) {
      const field = withNul.join('.') || 'body';
      throw new ValidationError(`${field} must not contain NUL characters (\\u0000)`, field);
    }
  }
  return parsed;
}

/**
 * Where the first string (value or key) holding U+0000 is: valid JSON, but PostgreSQL's text
 * cannot store it, so a reason or description with one would fail as a 500 at the INSERT.
 * Walked with its own stack: a body of thousands of nested brackets must not overflow the call stack.
 */
function nulPath(body: unknown): string[] | undefined {
  interface Step {
    value: unknown;
    key?: string;
    parent?: Step;
  }
  const pathOf = (step: Step | undefined, last?: string): string[] => {
    const path: string[] = last === undefined ? [] : [last];
    for (let at = step; at?.key !== undefined; at = at.parent) path.unshift(at.key);
    return path;
  };
  const pending: Step[] = [{ value: body }];
  for (let step = pending.pop(); step !== undefined; step = pending.pop()) {
    const { value } = step;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return pathOf(step);
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => {
        pending.push({ value: item, key: String(index), parent: step });
      });
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        if (key.includes('\u0000')) return pathOf(step, key.replaceAll('\u0000', '\\u0000'));
        pending.push({ value: item, key, parent: step });
      }
    }
  }
  return undefined;
}
