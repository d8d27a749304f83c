import { z } from 'zod';
import type { StudentDirectory, StudentProfile } from '../certificates/ports.ts';
import { printsSomething } from '../certificates/text.ts';
import type { Config } from '../config.ts';
import { ConfigurationError, PermanentError, TransientError } from '../errors.ts';
import { parseRetryAfter } from '../retry-after.ts';
import { defaultSecretStore, prefetch, type SecretSource, secretSource } from '../secrets/secret-store.ts';

/**
 * Student lookup through Keycloak's admin REST API with a client-credentials service account
 * (needs the `view-users` role). Two plain fetch calls; the token is cached until shortly before
 * it expires and profiles for a short, configurable time, so a batch of certificates for one
 * course costs one token request and one lookup per student.
 */

export interface KeycloakDirectoryOptions {
  baseUrl: string;
  realm: string;
  clientId: string;
  /** The client secret, or a reader of it (secret store on AWS, see lib/secrets). */
  clientSecret: string | SecretSource;
  timeoutMs: number;
  profileCacheSeconds: number;
  maxCachedProfiles?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface KeycloakDirectory extends StudentDirectory {
  clearCache(): void;
}

const tokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive().default(60),
});

const userRepresentation = z.object({
  id: z.string(),
  username: z.string().default(''),
  firstName: z.string().nullish(),
  lastName: z.string().nullish(),
  attributes: z.record(z.string(), z.array(z.string())).nullish(),
});

const keycloakError = z.object({ error: z.string().optional(), error_description: z.string().optional() });

const DEPENDENCY = 'keycloak';

export function keycloakOptionsFromConfig(
  config: Config<'keycloak'>['keycloak'],
  store = defaultSecretStore,
): KeycloakDirectoryOptions {
  return {
    baseUrl: config.KEYCLOAK_URL,
    realm: config.KEYCLOAK_REALM,
    clientId: config.KEYCLOAK_CLIENT_ID,
    clientSecret: config.KEYCLOAK_CLIENT_SECRET_ARN
      ? prefetch(secretSource(store, undefined, config.KEYCLOAK_CLIENT_SECRET_ARN))
      : (config.KEYCLOAK_CLIENT_SECRET ?? ''),
    timeoutMs: config.KEYCLOAK_TIMEOUT_MS,
    profileCacheSeconds: config.KEYCLOAK_PROFILE_CACHE_SECONDS,
  };
}

export function displayName(user: { firstName?: string | null; lastName?: string | null; username: string }) {
  // A part that prints nothing (only a zero-width space, a bidi control, a Hangul filler) is
  // empty: with both parts so, the username is printed instead of the certificate failing.
  const name = [user.firstName, user.lastName]
    .map((part) => part?.trim() ?? '')
    .filter((part) => printsSomething(part))
    .join(' ');
  if (name !== '') return name;
  // Realms that log in by e-mail have it as the username: printed, signed and shown on the public
  // verification page, a student's address would be published. The certificate waits for a name.
  if (user.username.includes('@'))
    throw new PermanentError(
      'the student has no first or last name in Keycloak, and the username is an e-mail address, which is not printed on a public certificate: give the user a name, then requeue',
      'student-has-no-name',
    );
  return user.username;
}

/**
 * Whether a 404 of `GET /admin/realms/{realm}/users/{id}` is Keycloak saying the user does not
 * exist. Its admin API throws `NotFoundException("User not found")`, which its error handler
 * writes as `{"error":"User not found"}` (current versions) or as
 * `{"error":"invalid_request","error_description":"User not found"}` (older ones, whose handler
 * kept only `[0-9a-z_]+` messages as the error code).
 */
async function saysUserNotFound(response: Response): Promise<boolean> {
  const body = await response.json().catch(() => undefined);
  const parsed = keycloakError.safeParse(body);
  if (!parsed.success) return false;
  return [parsed.data.error, parsed.data.error_description].some(
    (text) => text?.trim().toLowerCase() === 'user not found',
  );
}

/** Why a request failed, without URLs or headers (which could carry the token). */
function networkReason(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
    return 'timed out';
  const cause = error instanceof Error ? (error.cause as { code?: string } | undefined) : undefined;
  return cause?.code ?? (error instanceof Error ? error.message : 'network error');
}

export function createKeycloakDirectory(options: KeycloakDirectoryOptions): KeycloakDirectory {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const maxCached = options.maxCachedProfiles ?? 1000;
  const realmPath = encodeURIComponent(options.realm);
  const tokenUrl = `${options.baseUrl}/realms/${realmPath}/protocol/openid-connect/token`;
  const profiles = new Map<string, { profile: StudentProfile; expiresAt: number }>();
  let token: { value: string; expiresAt: number } | undefined;
  let tokenInFlight: Promise<string> | undefined;

  const request = async (url: string, init: RequestInit, what: string): Promise<Response> => {
    let response: Response;
    try {
      // Redirects are not followed: a token POST sent on as a GET, or to a login page, would
      // come back as an answer that reads like a passing Keycloak fault (below).
      response = await doFetch(url, {
        ...init,
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (error) {
      throw new TransientError(`Keycloak ${what} failed: ${networkReason(error)}`, DEPENDENCY);
    }
    assertKeycloakAnswered(response, what);
    return response;
  };

  /**
   * Answers no Keycloak gives, from whatever KEYCLOAK_URL leads to instead (http where Keycloak
   * is https, a missing /auth prefix, a single-sign-on proxy, a web app answering every path):
   * a configuration error, which keeps the certificates' attempts, rather than a passing fault
   * that would use them all up and mark every certificate dead in a few hours.
   */
  const assertKeycloakAnswered = (response: Response, what: string): void => {
    const { status } = response;
    const type = response.headers.get('content-type') ?? '';
    const answer =
      status >= 300 && status < 400
        ? `a redirect (HTTP ${status})`
        : status === 405
          ? 'HTTP 405 (method not allowed)'
          : response.ok && !/\bjson\b/i.test(type)
            ? `${type.split(';')[0] || 'a body of no content type'}, not JSON`
            : undefined;
    if (answer === undefined) return;
    void response.body?.cancel();
    throw new ConfigurationError(
      `Keycloak ${what} was answered with ${answer}, which Keycloak does not send: set KEYCLOAK_URL to the address Keycloak itself serves (https or http, and any path prefix such as /auth), with no login page or proxy redirecting in front of it`,
      DEPENDENCY,
    );
  };

  /** A passing fault; with the Retry-After a rate limit or an overloaded Keycloak sends. */
  const unavailable = (response: Response, what: string): TransientError =>
    new TransientError(
      `Keycloak ${what} failed: HTTP ${response.status}`,
      DEPENDENCY,
      parseRetryAfter(response.headers.get('retry-after') ?? undefined, new Date(now())),
    );

  const fetchToken = async (): Promise<string> => {
    const response = await request(
      tokenUrl,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: options.clientId,
          client_secret:
            typeof options.clientSecret === 'string' ? options.clientSecret : await options.clientSecret(),
        }),
      },
      'token request',
    );
    if (!response.ok) {
      await response.body?.cancel();
      // A rejected client secret is a configuration problem, not the student's: never mark
      // certificates dead because of it, and do not hammer Keycloak until someone fixes it.
      if (response.status === 401 || response.status === 403) {
        throw new ConfigurationError(
          `Keycloak refused the client credentials of ${options.clientId} (HTTP ${response.status}): check KEYCLOAK_CLIENT_ID and the client secret`,
          DEPENDENCY,
        );
      }
      // Keycloak answers 404 for a realm it does not have; so does anything that is not Keycloak.
      if (response.status === 404) {
        throw new ConfigurationError(
          `Keycloak has no token endpoint for realm ${options.realm} (HTTP 404): check KEYCLOAK_URL and KEYCLOAK_REALM`,
          DEPENDENCY,
        );
      }
      throw unavailable(response, 'token request');
    }
    const parsed = tokenResponse.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new TransientError('Keycloak token response was malformed', DEPENDENCY);
    const lifetimeMs = parsed.data.expires_in * 1000;
    // Renew a little early so a token never expires between the check and the admin call.
    const margin = Math.min(30_000, lifetimeMs / 2);
    token = { value: parsed.data.access_token, expiresAt: now() + lifetimeMs - margin };
    return token.value;
  };

  const getToken = async (): Promise<string> => {
    if (token && token.expiresAt > now()) return token.value;
    // Concurrent lookups share one token request.
    tokenInFlight ??= fetchToken().finally(() => {
      tokenInFlight = undefined;
    });
    return await tokenInFlight;
  };

  const lookup = async (studentId: string, retryOnUnauthorized: boolean): Promise<StudentProfile> => {
    const bearer = await getToken();
    const response = await request(
      `${options.baseUrl}/admin/realms/${realmPath}/users/${encodeURIComponent(studentId)}`,
      { headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' } },
      'user lookup',
    );
    if (response.status === 401 && retryOnUnauthorized) {
      await response.body?.cancel();
      // Revoked or rotated-away token: fetch a new one once.
      token = undefined;
      return await lookup(studentId, false);
    }
    if (response.status === 404) {
      if (await saysUserNotFound(response)) {
        throw new PermanentError('student not found in Keycloak', 'student-not-found');
      }
      // A 404 that is not Keycloak's own answer (a wrong KEYCLOAK_URL or realm, a proxy that
      // hides /admin) would otherwise mark every certificate dead on its first attempt.
      throw new ConfigurationError(
        'Keycloak answered 404 to the user lookup without saying the user does not exist: check KEYCLOAK_URL and KEYCLOAK_REALM, and that a proxy in front of Keycloak passes /admin',
        DEPENDENCY,
      );
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw new ConfigurationError(
        `Keycloak refused the user lookup (HTTP ${response.status}): the service account of ${options.clientId} needs the view-users role of realm-management`,
        DEPENDENCY,
      );
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw unavailable(response, 'user lookup');
    }
    const parsed = userRepresentation.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new TransientError('Keycloak user representation was malformed', DEPENDENCY);
    const user = parsed.data;
    // Only what a certificate uses: the profile is cached, so anything more (the e-mail, say)
    // would be personal data held for nothing.
    return {
      id: user.id,
      displayName: displayName(user),
      ...(user.attributes?.locale?.[0] ? { locale: user.attributes.locale[0] } : {}),
    };
  };

  return {
    async getStudent(studentId, lookupOptions) {
      const cached = profiles.get(studentId);
      if (cached && cached.expiresAt > now() && lookupOptions?.fresh !== true) return cached.profile;
      if (cached) profiles.delete(studentId);
      const profile = await lookup(studentId, true);
      if (options.profileCacheSeconds > 0) {
        if (profiles.size >= maxCached) {
          const oldest = profiles.keys().next();
          if (!oldest.done) profiles.delete(oldest.value);
        }
        profiles.set(studentId, { profile, expiresAt: now() + options.profileCacheSeconds * 1000 });
      }
      return profile;
    },
    clearCache() {
      profiles.clear();
      token = undefined;
    },
  };
}
