import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { InvalidTokenError, MissingTokenError } from './errors.ts';
import type { Principal } from './principal.ts';
import type { TokenVerifier } from './verifier.ts';

/** The Lambda context once the auth middleware has run. */
export interface AuthenticatedContext extends Context {
  principal?: Principal;
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const headers = event.headers ?? {};
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

// RFC 6750 b64token, and a JWS compact serialisation has exactly three dot-separated parts.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Extracts the bearer token; never logs or echoes it. */
export function bearerToken(event: APIGatewayProxyEventV2): string {
  const value = header(event, 'authorization');
  if (value === undefined || value.trim() === '') throw new MissingTokenError();
  const match = BEARER.exec(value.trim());
  if (!match?.[1]) {
    // Another scheme (Basic...) carries no bearer token at all.
    if (!/^Bearer\b/i.test(value.trim())) throw new MissingTokenError();
    throw new InvalidTokenError('The access token is malformed', 'malformed header');
  }
  if (!COMPACT_JWS.test(match[1])) throw new InvalidTokenError('The access token is malformed', 'not a JWS');
  return match[1];
}

/**
 * Verifies the bearer token before the handler runs and puts the principal on the context.
 * Errors propagate to the error mapper (lib/http/errors.ts), which answers 401/503.
 */
export function authenticate(
  verifier: TokenVerifier,
): MiddlewareObj<APIGatewayProxyEventV2, unknown, Error, AuthenticatedContext> {
  return {
    name: 'authenticate',
    before: async (request) => {
      request.context.principal = await verifier.verify(bearerToken(request.event));
    },
  };
}

/** The principal set by `authenticate`; a route without it is a programming error. */
export function principalOf(context: AuthenticatedContext): Principal {
  if (!context.principal) throw new Error('route requires authentication but no principal was set');
  return context.principal;
}
