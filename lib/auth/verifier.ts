import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { Config } from '../config.ts';
import { TransientError } from '../errors.ts';
import { InvalidTokenError } from './errors.ts';
import { permissionsFor } from './policies.ts';
import type { Principal } from './principal.ts';
import { rolesFromClaims } from './roles.ts';

export type AuthConfig = Config<'auth'>['auth'];

export interface TokenVerifier {
  /** Verifies a compact JWS access token; throws InvalidTokenError or TransientError. */
  verify(token: string): Promise<Principal>;
}

/** Keycloak's JWKS endpoint for a realm issuer URL. */
export function jwksUrlFor(config: Pick<AuthConfig, 'AUTH_ISSUER' | 'AUTH_JWKS_URL'>): URL {
  return new URL(config.AUTH_JWKS_URL ?? `${config.AUTH_ISSUER}/protocol/openid-connect/certs`);
}

/**
 * How long keys fetched before may stand in while the identity provider cannot be reached:
 * a Keycloak restart or a network blip must not turn every signed-in request into a 503 while
 * the keys that signed its token are known. Bounded, so a key Keycloak has since withdrawn is
 * not trusted indefinitely by a container that cannot hear about it.
 */
export const STALE_KEYS_MAX_MS = 60 * 60 * 1000;

/**
 * Failures that say the key set could not be fetched (or what came back is not one), not that
 * the token is wrong: toAuthError answers them 503, and createJwks falls back on them.
 */
function isUnreachable(error: unknown): boolean {
  return (
    error instanceof joseErrors.JWKSTimeout ||
    error instanceof joseErrors.JWKSInvalid ||
    error instanceof TypeError ||
    (error instanceof joseErrors.JOSEError && error.code === 'ERR_JOSE_GENERIC')
  );
}

/**
 * The remote key set, created once per container so keys are cached across requests. When a
 * refetch fails, the keys last fetched still verify tokens they signed, for STALE_KEYS_MAX_MS; a
 * token whose key they do not hold still fails as unreachable (503), since the key may be new.
 */
export function createJwks(config: AuthConfig, now: () => number = Date.now): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(jwksUrlFor(config), {
    // A rotated key shows up as an unknown `kid`; jose refetches then, at most once per cooldown.
    cooldownDuration: config.AUTH_JWKS_COOLDOWN_SECONDS * 1000,
    cacheMaxAge: config.AUTH_JWKS_CACHE_SECONDS * 1000,
    timeoutDuration: 3000,
  });
  let fetchedAt: number | undefined;
  // After a failed refetch, requests within the cooldown use the known keys without trying again:
  // each try waits out the 3 s timeout, and every signed-in request would pay it.
  let failedAt: number | undefined;
  const cooldownMs = config.AUTH_JWKS_COOLDOWN_SECONDS * 1000;
  const stale = async (
    header: Parameters<JWTVerifyGetKey>[0],
    token: Parameters<JWTVerifyGetKey>[1],
    error: unknown,
  ) => {
    const known = remote.jwks();
    if (!known || fetchedAt === undefined) throw error;
    if (now() - fetchedAt > STALE_KEYS_MAX_MS + config.AUTH_JWKS_CACHE_SECONDS * 1000) throw error;
    try {
      return await createLocalJWKSet(known)(header, token);
    } catch {
      throw error;
    }
  };
  return async (header, token) => {
    if (failedAt !== undefined && now() - failedAt < cooldownMs && !remote.fresh) {
      return await stale(
        header,
        token,
        new TransientError('JWKS fetch failed moments ago', 'identity provider'),
      );
    }
    try {
      const key = await remote(header, token);
      failedAt = undefined;
      // `fresh`: the set in use was fetched within the cache age, so it was good this recently.
      if (remote.fresh) fetchedAt = now();
      return key;
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      failedAt = now();
      return await stale(header, token, error);
    }
  };
}

function audiences(payload: JWTPayload): string[] {
  if (typeof payload.aud === 'string') return [payload.aud];
  return Array.isArray(payload.aud) ? payload.aud : [];
}

/**
 * Maps jose's failures to what the client may learn. Failures to reach the key set are not
 * the caller's fault: they become TransientError (503) instead of a misleading 401.
 */
function toAuthError(error: unknown): Error {
  if (error instanceof joseErrors.JWTExpired)
    return new InvalidTokenError('The access token expired', 'expired');
  if (error instanceof TransientError) return error;
  // The same rule createJwks falls back on: the key set could not be had.
  if (isUnreachable(error)) return new TransientError(unreachableMessage(error), 'identity provider');
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return new InvalidTokenError('The access token is not valid', `claim ${error.claim}: ${error.reason}`);
  if (error instanceof joseErrors.JOSEAlgNotAllowed)
    return new InvalidTokenError('The access token is not valid', 'algorithm not allowed');
  if (error instanceof joseErrors.JWKSNoMatchingKey)
    return new InvalidTokenError('The access token is not valid', 'unknown signing key');
  if (error instanceof joseErrors.JWSSignatureVerificationFailed)
    return new InvalidTokenError('The access token is not valid', 'bad signature');
  if (error instanceof joseErrors.JOSEError)
    return new InvalidTokenError('The access token is not valid', error.code);
  return new InvalidTokenError('The access token is not valid', 'unverifiable');
}

function unreachableMessage(error: unknown): string {
  if (error instanceof joseErrors.JWKSTimeout) return 'JWKS fetch timed out';
  if (error instanceof joseErrors.JWKSInvalid) return 'JWKS response is not a key set';
  // JWKS HTTP failures come back as a bare JOSEError with the generic code; fetch's as TypeError.
  if (error instanceof TypeError) return `JWKS fetch failed: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Verifies Keycloak access tokens: signature against the realm's JWKS (algorithm allowlist),
 * issuer, expiry, and audience OR authorized party in AUTH_AUDIENCE (Keycloak often leaves
 * the frontend client out of `aud` and names it in `azp`), or the audience alone when
 * AUTH_AUDIENCE_CLAIMS is `aud`.
 */
export function createTokenVerifier(
  config: AuthConfig,
  keys: JWTVerifyGetKey = createJwks(config),
): TokenVerifier {
  const accepted = new Set(config.AUTH_AUDIENCE);
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          // AUTH_ISSUER is kept without a trailing slash (a Keycloak realm URL typed with one
          // still matches); identity providers whose `iss` ends in "/" (Auth0, some Azure AD
          // forms) write it with one. The same authority either way, and jose compares exactly.
          issuer: [config.AUTH_ISSUER, `${config.AUTH_ISSUER}/`],
          algorithms: config.AUTH_ALGORITHMS,
          clockTolerance: config.AUTH_CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (error) {
        throw toAuthError(error);
      }
      const azp = typeof payload.azp === 'string' ? payload.azp : undefined;
      const azpCounts = config.AUTH_AUDIENCE_CLAIMS === 'aud-or-azp';
      if (!audiences(payload).some((aud) => accepted.has(aud)) && !(azpCounts && azp && accepted.has(azp))) {
        throw new InvalidTokenError('The access token is not valid for this service', 'audience');
      }
      // Keycloak ID tokens are signed by the same key and name the client in `aud`; only
      // access tokens (typ "Bearer") grant access.
      if (payload.typ !== undefined && payload.typ !== 'Bearer') {
        throw new InvalidTokenError('The access token is not valid', `token type ${String(payload.typ)}`);
      }
      if (typeof payload.sub !== 'string' || payload.sub === '') {
        throw new InvalidTokenError('The access token is not valid', 'subject');
      }
      // Client roles only of the clients accepted above, never of any other client in the realm.
      const roles = rolesFromClaims(payload, accepted);
      return {
        subject: payload.sub,
        roles,
        permissions: permissionsFor(roles, azp, config),
        ...(azp ? { clientId: azp } : {}),
      };
    },
  };
}
