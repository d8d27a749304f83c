import { InvalidTokenError, MissingTokenError } from '../auth/errors.ts';
import { ConfigError } from '../config.ts';
import {
  ConflictError,
  ForbiddenError,
  GoneError,
  NotFoundError,
  PermanentError,
  TooLargeError,
  TransientError,
  UnauthenticatedError,
  ValidationError,
} from '../errors.ts';
import { type HttpResponse, json } from './response.ts';

/**
 * THE mapping from domain errors to HTTP. Every route goes through it (lib/http/route.ts), so
 * status codes, field names and the rule "no stack trace, no internal message" hold everywhere.
 *
 * Body: { "error": { "code", "message", "requestId", ...public details } }
 */

export const AUTH_REALM = 'course-certificates';

export interface MappedError {
  response: HttpResponse;
  /** 5xx: worth an error log with the original error; 4xx: the caller's problem. */
  serverFault: boolean;
  /** What the logs may say about the cause (never sent to the client). */
  logReason?: string;
}

// postgres.js / Node network failures and PostgreSQL answers that mean "the database cannot
// serve this right now, try again", not a bug.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '57014', // query_canceled: the statement timeout of an overloaded database
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  // A login refused: during a password rotation a warm container logs in with the password it
  // cached (for SECRETS_CACHE_SECONDS) until it reads the secret again; the request can be retried.
  '28P01', // invalid_password
  '28000', // invalid_authorization_specification
]);

function errorCode(error: unknown): string | undefined {
  if (error && typeof error === 'object' && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Only plain, JSON-safe detail values reach the client; the domain names them in camelCase. */
function publicDetails(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    if (key === 'code' || key === 'retryAfterSeconds') continue;
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) out[key] = value;
    else if (value instanceof Date) out[key] = value.toISOString();
  }
  return out;
}

function body(code: string, message: string, requestId: string, extra: Record<string, unknown> = {}) {
  return { error: { code, message, ...extra, requestId } };
}

function bearerChallenge(error: UnauthenticatedError): string {
  if (error instanceof MissingTokenError) return `Bearer realm="${AUTH_REALM}"`;
  const description = error.message.replace(/["\\]/g, '');
  return `Bearer realm="${AUTH_REALM}", error="invalid_token", error_description="${description}"`;
}

export function mapError(error: unknown, requestId: string): MappedError {
  if (error instanceof TooLargeError) {
    return {
      response: json(
        413,
        body('payload_too_large', error.message, requestId, { parameter: error.field ?? 'body' }),
      ),
      serverFault: false,
    };
  }
  if (error instanceof ValidationError) {
    return {
      response: json(
        400,
        body(
          error.field ? 'invalid_parameter' : 'validation_error',
          error.message,
          requestId,
          error.field ? { parameter: error.field } : {},
        ),
      ),
      serverFault: false,
    };
  }
  if (error instanceof UnauthenticatedError) {
    const message = error instanceof MissingTokenError ? error.message : error.message || 'Invalid token';
    return {
      response: json(401, body('unauthenticated', message, requestId), {
        'WWW-Authenticate': bearerChallenge(error),
      }),
      serverFault: false,
      ...(error instanceof InvalidTokenError
        ? { logReason: error.reason }
        : { logReason: 'no bearer token' }),
    };
  }
  if (error instanceof ForbiddenError) {
    return {
      response: json(403, body('forbidden', error.message, requestId), {
        'WWW-Authenticate': `Bearer realm="${AUTH_REALM}", error="insufficient_scope"`,
      }),
      serverFault: false,
    };
  }
  if (error instanceof NotFoundError) {
    return { response: json(404, body('not_found', error.message, requestId)), serverFault: false };
  }
  if (error instanceof ConflictError || error instanceof GoneError) {
    const status = error instanceof ConflictError ? 409 : 410;
    const code =
      typeof error.details.code === 'string' ? error.details.code : status === 409 ? 'conflict' : 'gone';
    const retryAfter = error.details.retryAfterSeconds;
    return {
      response: json(
        status,
        body(code, error.message, requestId, publicDetails(error.details)),
        typeof retryAfter === 'number' ? { 'Retry-After': String(retryAfter) } : {},
      ),
      serverFault: false,
    };
  }
  if (error instanceof PermanentError) {
    // The message is written for operators; the client gets the stable reason code only.
    return {
      response: json(422, body(error.reason, 'The request cannot be processed', requestId)),
      serverFault: false,
      logReason: error.message,
    };
  }
  if (error instanceof TransientError || UNAVAILABLE_CODES.has(errorCode(error) ?? '')) {
    return {
      response: json(
        503,
        body('service_unavailable', 'Service temporarily unavailable, try again', requestId),
        {
          'Retry-After': '5',
        },
      ),
      serverFault: true,
      logReason: error instanceof TransientError ? `${error.dependency}: ${error.message}` : errorCode(error),
    };
  }
  return {
    response: json(500, body('internal_error', 'Internal server error', requestId)),
    serverFault: true,
    ...(error instanceof ConfigError ? { logReason: error.message } : {}),
  };
}
