import { describe, expect, it } from 'vitest';
import { ConfigurationError, PermanentError, TransientError } from '../../lib/errors.ts';
import { createKeycloakDirectory, displayName } from '../../lib/identity/keycloak-directory.ts';

/** Scripted fetch: answers token and user requests from queues and records what was asked. */
function fakeKeycloak() {
  const calls: { url: string; authorization?: string; redirect?: RequestRedirect }[] = [];
  let tokenCount = 0;
  const userAnswers: (() => Response | Promise<Response>)[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const headers = new Headers(init?.headers);
    calls.push({
      url,
      authorization: headers.get('authorization') ?? undefined,
      ...(init?.redirect ? { redirect: init.redirect } : {}),
    });
    if (url.endsWith('/protocol/openid-connect/token')) {
      tokenCount += 1;
      return Response.json({ access_token: `token-${tokenCount}`, expires_in: 300 });
    }
    const next = userAnswers.shift();
    if (next) return await next();
    return Response.json({
      id: url.split('/').pop(),
      username: 'ada',
      firstName: 'Ada',
      lastName: 'Lovelace',
    });
  }) as typeof fetch;
  return {
    calls,
    fetchImpl,
    tokenRequests: () => calls.filter((call) => call.url.endsWith('/token')).length,
    userRequests: () => calls.filter((call) => call.url.includes('/admin/')).length,
    answerNextUser: (answer: () => Response | Promise<Response>) => userAnswers.push(answer),
  };
}

function directory(fake: ReturnType<typeof fakeKeycloak>, clock: { now: number }, cacheSeconds = 60) {
  return createKeycloakDirectory({
    baseUrl: 'http://keycloak.test',
    realm: 'student',
    clientId: 'svc',
    clientSecret: 'secret',
    timeoutMs: 1000,
    profileCacheSeconds: cacheSeconds,
    fetch: fake.fetchImpl,
    now: () => clock.now,
  });
}

const ID = '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01';
const OTHER = '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a02';

describe('Keycloak directory', () => {
  it('classifies a 403 on the lookup as configuration, a 503 as transient', async () => {
    const fake = fakeKeycloak();
    const students = directory(fake, { now: 0 }, 0);
    fake.answerNextUser(() => new Response('forbidden', { status: 403 }));
    const refused = await students.getStudent(ID).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConfigurationError);
    expect(String(refused)).toMatch(/view-users/);
    fake.answerNextUser(() => new Response('busy', { status: 503 }));
    const busy = await students.getStudent(ID).catch((error: unknown) => error);
    expect(busy).toBeInstanceOf(TransientError);
    expect(busy).not.toBeInstanceOf(ConfigurationError);
  });

  it('reuses the service token until shortly before it expires', async () => {
    const fake = fakeKeycloak();
    const clock = { now: 0 };
    const students = directory(fake, clock, 0);
    await students.getStudent(ID);
    await students.getStudent(OTHER);
    expect(fake.tokenRequests()).toBe(1);
    clock.now += 269_000; // 300 s token, renewed 30 s early
    await students.getStudent(ID);
    expect(fake.tokenRequests()).toBe(1);
    clock.now += 2_000;
    await students.getStudent(ID);
    expect(fake.tokenRequests()).toBe(2);
    expect(fake.calls.at(-1)?.authorization).toBe('Bearer token-2');
  });

  it('shares one token request between concurrent lookups', async () => {
    const fake = fakeKeycloak();
    const students = directory(fake, { now: 0 }, 0);
    await Promise.all([students.getStudent(ID), students.getStudent(OTHER)]);
    expect(fake.tokenRequests()).toBe(1);
  });

  it('caches profiles for the configured time only', async () => {
    const fake = fakeKeycloak();
    const clock = { now: 0 };
    const students = directory(fake, clock, 60);
    expect(await students.getStudent(ID)).toMatchObject({ id: ID, displayName: 'Ada Lovelace' });
    await students.getStudent(ID);
    expect(fake.userRequests()).toBe(1);
    clock.now += 61_000;
    await students.getStudent(ID);
    expect(fake.userRequests()).toBe(2);
  });

  it('keeps only what a certificate uses: no e-mail or username in the looked-up or the cached profile', async () => {
    const fake = fakeKeycloak();
    const students = directory(fake, { now: 0 }, 60);
    fake.answerNextUser(() =>
      Response.json({
        id: ID,
        username: 'ada',
        firstName: 'Ada',
        lastName: 'Lovelace',
        email: 'ada@example.org',
        emailVerified: true,
        attributes: { locale: ['en-GB'], phone: ['+44 20 7946 0000'] },
      }),
    );
    const expected = { id: ID, displayName: 'Ada Lovelace', locale: 'en-GB' };
    const looked = await students.getStudent(ID);
    const cached = await students.getStudent(ID);
    expect(fake.userRequests()).toBe(1);
    for (const profile of [looked, cached]) {
      expect(profile).toStrictEqual(expected);
      expect(JSON.stringify(profile)).not.toContain('ada@example.org');
    }
  });

  it('fetches a fresh token once when the admin API rejects the cached one', async () => {
    const fake = fakeKeycloak();
    const students = directory(fake, { now: 0 }, 0);
    await students.getStudent(ID);
    fake.answerNextUser(() => new Response('', { status: 401 }));
    await students.getStudent(ID);
    expect(fake.tokenRequests()).toBe(2);
  });

  it("maps Keycloak's own 404 to a permanent error, any other 404 to a configuration error", async () => {
    const fake = fakeKeycloak();
    const students = directory(fake, { now: 0 }, 0);
    const notFound = new PermanentError('student not found in Keycloak', 'student-not-found');
    // Current Keycloak, then older versions (error code invalid_request, message as description).
    fake.answerNextUser(() => Response.json({ error: 'User not found' }, { status: 404 }));
    await expect(students.getStudent(ID)).rejects.toEqual(notFound);
    fake.answerNextUser(() =>
      Response.json({ error: 'invalid_request', error_description: 'User not found' }, { status: 404 }),
    );
    await expect(students.getStudent(ID)).rejects.toEqual(notFound);
    for (const body of ['{}', '{"error":"Realm not found."}', '<html>404</html>', '']) {
      fake.answerNextUser(() => new Response(body, { status: 404 }));
      const error = await students.getStudent(ID).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(String(error)).toMatch(/KEYCLOAK_URL and KEYCLOAK_REALM/);
    }
  });

  it('maps 5xx, timeouts, resets and malformed answers to transient errors', async () => {
    const fake = fakeKeycloak();
    const students = directory(fake, { now: 0 }, 0);
    fake.answerNextUser(() => new Response('{}', { status: 503 }));
    await expect(students.getStudent(ID)).rejects.toThrow(TransientError);
    fake.answerNextUser(() => {
      throw new DOMException('The operation timed out.', 'TimeoutError');
    });
    await expect(students.getStudent(ID)).rejects.toThrow(/Keycloak user lookup failed: timed out/);
    fake.answerNextUser(() => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET' } });
    });
    await expect(students.getStudent(ID)).rejects.toThrow(/ECONNRESET/);
    fake.answerNextUser(
      () => new Response('not json', { status: 200, headers: { 'content-type': 'application/json' } }),
    );
    await expect(students.getStudent(ID)).rejects.toThrow(/malformed/);
  });

  it('carries the Retry-After of a rate limit or an overloaded Keycloak, in seconds or as a date', async () => {
    const fake = fakeKeycloak();
    const clock = { now: Date.parse('2026-12-06T10:00:00Z') };
    const students = directory(fake, clock, 0);
    fake.answerNextUser(() => new Response('slow down', { status: 429, headers: { 'retry-after': '120' } }));
    const limited = await students.getStudent(ID).catch((error: unknown) => error);
    expect(limited).toBeInstanceOf(TransientError);
    expect(limited).toMatchObject({
      message: 'Keycloak user lookup failed: HTTP 429',
      retryAfterSeconds: 120,
    });
    fake.answerNextUser(
      () =>
        new Response('busy', { status: 503, headers: { 'retry-after': 'Sun, 06 Dec 2026 11:00:00 GMT' } }),
    );
    expect(await students.getStudent(ID).catch((error: unknown) => error)).toMatchObject({
      retryAfterSeconds: 3600,
    });
    fake.answerNextUser(() => new Response('busy', { status: 503 }));
    expect(await students.getStudent(ID).catch((error: unknown) => error)).toMatchObject({
      retryAfterSeconds: undefined,
    });
  });

  it('takes answers Keycloak never gives (a redirect, 405, a page that is not JSON) for a wrong KEYCLOAK_URL: configuration, not a passing fault', async () => {
    const fake = fakeKeycloak();
    const students = directory(fake, { now: 0 }, 0);
    const answers: [string, () => Response][] = [
      [
        'http where Keycloak is https',
        () => new Response(null, { status: 301, headers: { location: 'https://keycloak.test/' } }),
      ],
      [
        'a login page in front',
        () => new Response(null, { status: 302, headers: { location: '/sso/login' } }),
      ],
      ['a POST sent on as a GET', () => new Response('', { status: 405 })],
      [
        'a web app answering every path',
        () =>
          new Response('<!doctype html><title>App</title>', {
            status: 200,
            headers: { 'content-type': 'text/html' },
          }),
      ],
    ];
    for (const [what, answer] of answers) {
      fake.answerNextUser(answer);
      const error = await students.getStudent(ID).catch((caught: unknown) => caught);
      expect(error, what).toBeInstanceOf(ConfigurationError);
      expect(String(error), what).toMatch(/set KEYCLOAK_URL to the address Keycloak itself serves/);
    }
    // Never followed: a redirect's target is not asked.
    expect(fake.calls.some((call) => call.url.includes('/sso/login'))).toBe(false);
    expect(fake.calls.every((call) => call.redirect === 'manual')).toBe(true);
  });

  it('never puts the token into an error message', async () => {
    const fake = fakeKeycloak();
    const students = directory(fake, { now: 0 }, 0);
    fake.answerNextUser(() => new Response('{}', { status: 500 }));
    const error: unknown = await students.getStudent(ID).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toBe('Keycloak user lookup failed: HTTP 500');
    expect((error as Error).message).not.toContain('token-1');
  });

  it('prints first and last name, or the username when both are empty', () => {
    expect(displayName({ firstName: ' José ', lastName: 'Ñúñez', username: 'jose' })).toBe('José Ñúñez');
    expect(displayName({ firstName: 'Cher', lastName: null, username: 'cher' })).toBe('Cher');
    expect(displayName({ firstName: '', lastName: '  ', username: 'anon42' })).toBe('anon42');
    // Parts that print nothing count as empty: the username, not a certificate that dies.
    expect(displayName({ firstName: '\u200B\u200B', lastName: '\u2060', username: 'u-zero' })).toBe('u-zero');
    expect(displayName({ firstName: '\u202E', lastName: '\u2066', username: 'u-bidi' })).toBe('u-bidi');
    // A username that is an e-mail address (realms that log in by e-mail) is never published.
    expect(() => displayName({ firstName: '', lastName: null, username: 'ada@example.org' })).toThrow(
      expect.objectContaining({ reason: 'student-has-no-name' }),
    );
    expect(displayName({ firstName: '\u3164', lastName: null, username: 'u-filler' })).toBe('u-filler');
    expect(displayName({ firstName: '\u200B', lastName: 'Okafor', username: 'u-one' })).toBe('Okafor');
  });
});
