import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { isUuid } from '../certificates/ids.ts';
import { ValidationError } from '../errors.ts';

function rawPathParam(event: APIGatewayProxyEventV2, name: string): string {
  const value = event.pathParameters?.[name];
  if (value === undefined || value === '') throw new ValidationError(`${name} is required`, name);
  return value;
}

/** A path parameter that must be a UUID; 400 naming the parameter otherwise. */
export function uuidPathParam(event: APIGatewayProxyEventV2, name: string): string {
  const value = rawPathParam(event, name);
  if (!isUuid(value)) throw new ValidationError(`${name} must be a UUID`, name);
  return value.toLowerCase();
}

export function patternPathParam(
  event: APIGatewayProxyEventV2,
  name: string,
  pattern: RegExp,
  hint: string,
): string {
  const value = rawPathParam(event, name);
  if (!pattern.test(value)) throw new ValidationError(`${name} ${hint}`, name);
  return value;
}

export function queryParam(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const value = event.queryStringParameters?.[name];
  return value === undefined || value === '' ? undefined : value;
}

/** An optional integer query parameter within [min, max]; 400 naming it otherwise. */
export function intQueryParam(
  event: APIGatewayProxyEventV2,
  name: string,
  bounds: { min: number; max?: number },
): number | undefined {
  const value = queryParam(event, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw new ValidationError(`${name} must be a positive integer`, name);
  const number = Number(value);
  if (number < bounds.min || (bounds.max !== undefined && number > bounds.max)) {
    const range =
      bounds.max === undefined ? `at least ${bounds.min}` : `between ${bounds.min} and ${bounds.max}`;
    throw new ValidationError(`${name} must be ${range}`, name);
  }
  return number;
}

const MAX_BODY_BYTES = 16 * 1024;

/** The JSON request body; 400 naming `body` when it is missing, too large or not JSON. */
export function jsonBody(event: APIGatewayProxyEventV2): unknown {
  if (event.body === undefined || event.body === null || event.body === '') {
    throw new ValidationError('body is required (JSON)', 'body');
  }
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
    throw new ValidationError(`body must be at most ${MAX_BODY_BYTES} bytes`, 'body');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('body must be valid JSON', 'body');
  }
}
