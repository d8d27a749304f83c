import { UnauthenticatedError } from '../errors.ts';

/** No bearer token was sent: RFC 6750 says the challenge then carries no error code. */
export class MissingTokenError extends UnauthenticatedError {
  constructor() {
    super('A bearer token is required');
  }
}

/**
 * A token was sent but cannot be accepted. `message` is safe to show to the client
 * (RFC 6750 error_description); `reason` is for the logs only.
 */
export class InvalidTokenError extends UnauthenticatedError {
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}
