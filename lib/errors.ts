/**
 * Domain errors. They know nothing about HTTP; lib/http/errors.ts maps them to status codes.
 */
export class DomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Input that can never be valid (malformed id, absurd length...). */
export class ValidationError extends DomainError {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** A request body past what the route takes: a 413 (RFC 9110 15.5.14), not a malformed one. */
export class TooLargeError extends ValidationError {
  constructor(
    readonly limitBytes: number,
    field = 'body',
  ) {
    super(`${field} must be at most ${limitBytes} bytes`, field);
  }
}

export class NotFoundError extends DomainError {
  constructor(readonly resource: string) {
    super(`${resource} not found`);
  }
}

export class UnauthenticatedError extends DomainError {}

export class ForbiddenError extends DomainError {}

/** The resource exists but is not in a state that allows the operation (e.g. not issued yet). */
export class ConflictError extends DomainError {
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The resource existed and is gone for good (revoked certificate). */
export class GoneError extends DomainError {
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A dependency failed in a way that may succeed later (network, 5xx, timeout). */
export class TransientError extends DomainError {
  constructor(
    message: string,
    readonly dependency: string,
    /** How long the dependency asked to be left alone (its Retry-After), when it said. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/**
 * A dependency refused us because of how we are set up (IAM denied, bucket missing, client
 * secret rejected). Retrying soon will not help and the certificate is not at fault: it waits
 * (an hour by default) without using up its attempts, and a metric tells an operator.
 * A kind of TransientError: the certificate is never given up because of it, and HTTP callers
 * see the same 503.
 */
export class ConfigurationError extends TransientError {}

/** A dependency answered definitively that this cannot succeed (student deleted, course missing). */
export class PermanentError extends DomainError {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** The message of anything thrown, for logs and error records. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
