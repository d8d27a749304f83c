import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidTokenError, MissingTokenError } from '../../lib/auth/errors.ts';
import { bearerToken } from '../../lib/auth/middleware.ts';
import { rolesFromClaims } from '../../lib/auth/roles.ts';
import {
  type AuthConfig,
  createJwks,
  createTokenVerifier,
  jwksUrlFor,
  STALE_KEYS_MAX_MS,
} from '../../lib/auth/verifier.ts';
import { loadConfig } from '../../lib/config.ts';
import { TransientError } from '../../lib/errors.ts';
import { startKeycloakStandIn } from '../../localstack/embedded/keycloak.ts';
import { apiEvent, unsignedToken } from '../e2e/http-fixtures.ts';

const ISSUER = 'https://id.example.org/realms/student';

function authConfig(overrides: Record<string, string> = {}): AuthConfig {
  return loadConfig(['auth'], { AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: 'certificates-frontend', ...overrides })
    .auth;
}

let key: CryptoKey;
let otherKey: CryptoKey;
let jwks: JWK[];
let hsSecret: Uint8Array;

async function sign(
  claims: Record<string, unknown>,
  /** `expiresIn: null`: a token with no `exp` at all. */
  options: { alg?: string; kid?: string; key?: CryptoKey | Uint8Array; expiresIn?: number | null } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({
    typ: 'Bearer',
    iss: ISSUER,
    sub: 'student-1',
    azp: 'certificates-frontend',
    ...claims,
  })
    .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? 'k1' })
    .setIssuedAt(now);
  if (options.expiresIn !== null) jwt.setExpirationTime(now + (options.expiresIn ?? 300));
  return await jwt.sign(options.key ?? key);
}

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  const other = await generateKeyPair('RS256', { extractable: true });
  key = pair.privateKey;
  otherKey = other.privateKey;
  jwks = [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }];
  hsSecret = new TextEncoder().encode(JSON.stringify(jwks[0]));
});

const local = () => createLocalJWKSet({ keys: jwks });

async function reason(token: string, config = authConfig()): Promise<string> {
  try {
    await createTokenVerifier(config, local()).verify(token);
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.reason;
    throw error;
  }
  return 'accepted';
}

const permissionsOf = async (
  verifier: ReturnType<typeof createTokenVerifier>,
  claims: Record<string, unknown>,
) => [...(await verifier.verify(await sign(claims))).permissions].sort();

describe('token verifier', () => {
  it('accepts a valid token and reads subject, client and roles', async () => {
    const principal = await createTokenVerifier(authConfig(), local()).verify(
      await sign({ realm_access: { roles: ['teacher'] } }),
    );
    expect(principal).toMatchObject({ subject: 'student-1', clientId: 'certificates-frontend' });
    expect([...principal.roles]).toEqual(['teacher']);
  });

  it('maps roles to permissions: admin everything, teacher reads, ingestion records attempts only', async () => {
    const verifier = createTokenVerifier(authConfig(), local());
    expect(await permissionsOf(verifier, { realm_access: { roles: ['certificate-admin'] } })).toEqual([
      'attempts:record',
      'certificates:backfill',
      'certificates:lifecycle',
      'certificates:read-any',
      'certificates:requeue',
      'templates:preview',
      'webhooks:manage',
    ]);
    expect(await permissionsOf(verifier, { realm_access: { roles: ['teacher'] } })).toEqual([
      'certificates:read-any',
      'templates:preview',
    ]);
    expect(await permissionsOf(verifier, { realm_access: { roles: ['certificate-ingestion'] } })).toEqual([
      'attempts:record',
    ]);
    // A student (no role) may do nothing beyond reading their own.
    expect(await permissionsOf(verifier, { realm_access: { roles: ['default-roles-student'] } })).toEqual([]);
  });

  it('roles are configurable, from realm or client roles; an ingestion client is known by its azp', async () => {
    const verifier = createTokenVerifier(
      authConfig({
        AUTH_ADMIN_ROLES: 'registrar',
        AUTH_TEACHER_ROLES: 'auditor',
        AUTH_INGESTION_CLIENTS: 'testing-system',
        AUTH_AUDIENCE: 'certificates-frontend,testing-system',
      }),
      local(),
    );
    // The default names mean nothing once replaced.
    expect(
      await permissionsOf(verifier, { realm_access: { roles: ['certificate-admin', 'teacher'] } }),
    ).toEqual([]);
    expect(
      await permissionsOf(verifier, { resource_access: { 'certificates-frontend': { roles: ['auditor'] } } }),
    ).toEqual(['certificates:read-any', 'templates:preview']);
    expect(await permissionsOf(verifier, { realm_access: { roles: ['registrar'] } })).toContain(
      'certificates:requeue',
    );
    expect(await permissionsOf(verifier, { azp: 'testing-system', aud: 'account' })).toEqual([
      'attempts:record',
    ]);
    expect(await permissionsOf(verifier, { azp: 'certificates-frontend' })).toEqual([]);
  });

  it('accepts audience OR authorized party', async () => {
    expect(await reason(await sign({ azp: 'x', aud: 'certificates-frontend' }))).toBe('accepted');
    expect(await reason(await sign({ azp: 'certificates-frontend', aud: 'account' }))).toBe('accepted');
    expect(await reason(await sign({ azp: 'x', aud: ['account', 'y'] }))).toBe('audience');
  });

  it('with AUTH_AUDIENCE_CLAIMS=aud, only the audience counts (RFC 9068): a token the frontend got for another service is refused', async () => {
    const strict = authConfig({ AUTH_AUDIENCE_CLAIMS: 'aud' });
    expect(await reason(await sign({ azp: 'x', aud: ['account', 'certificates-frontend'] }), strict)).toBe(
      'accepted',
    );
    expect(await reason(await sign({ azp: 'certificates-frontend', aud: 'account' }), strict)).toBe(
      'audience',
    );
    expect(await reason(await sign({ azp: 'certificates-frontend' }), strict)).toBe('audience');
    expect(() => authConfig({ AUTH_AUDIENCE_CLAIMS: 'azp' })).toThrow(
      /AUTH_AUDIENCE_CLAIMS must be aud-or-azp or aud/,
    );
  });

  it('rejects another issuer, an expired token or one that never expires, a missing or empty subject and ID tokens', async () => {
    expect(await reason(await sign({ iss: 'https://evil.example.org/realms/student' }))).toBe(
      'claim iss: check_failed',
    );
    expect(await reason(await sign({}, { expiresIn: -60 }))).toBe('expired');
    // A token valid for ever, once stolen, would be too.
    expect(await reason(await sign({}, { expiresIn: null }))).toBe('claim exp: missing');
    expect(await reason(await sign({ sub: undefined }))).toMatch(/sub/);
    // An empty subject would be everyone's and no one's certificates.
    expect(await reason(await sign({ sub: '' }))).toBe('subject');
    expect(await reason(await sign({ typ: 'ID' }))).toBe('token type ID');
  });

  it('an issuer written with or without a trailing slash is the same authority; another path is not', async () => {
    // Auth0 and some Azure AD forms put a "/" at the end of `iss`; Keycloak does not.
    expect(await reason(await sign({ iss: `${ISSUER}/` }))).toBe('accepted');
    expect(await reason(await sign({}), authConfig({ AUTH_ISSUER: `${ISSUER}/` }))).toBe('accepted');
    expect(await reason(await sign({ iss: `${ISSUER}//` }))).toBe('claim iss: check_failed');
    expect(await reason(await sign({ iss: `${ISSUER}/x` }))).toBe('claim iss: check_failed');
    expect(await reason(await sign({ iss: ISSUER.replace(/student$/, 'studen') }))).toBe(
      'claim iss: check_failed',
    );
  });

  it('tolerates small clock skew only', async () => {
    expect(await reason(await sign({}, { expiresIn: -3 }))).toBe('accepted');
    expect(
      await reason(await sign({}, { expiresIn: -3 }), authConfig({ AUTH_CLOCK_TOLERANCE_SECONDS: '0' })),
    ).toBe('expired');
  });

  it('enforces the algorithm allowlist (alg none, HS256 with the public key as secret)', async () => {
    expect(await reason(unsignedToken({ iss: ISSUER, sub: 'student-1', azp: 'certificates-frontend' }))).toBe(
      'algorithm not allowed',
    );
    expect(await reason(await sign({}, { alg: 'HS256', key: hsSecret }))).toBe('algorithm not allowed');
    expect(await reason(await sign({}), authConfig({ AUTH_ALGORITHMS: 'ES256' }))).toBe(
      'algorithm not allowed',
    );
  });

  it('rejects a foreign key, whether its kid is unknown or borrowed', async () => {
    expect(await reason(await sign({}, { key: otherKey, kid: 'k1' }))).toBe('bad signature');
    expect(await reason(await sign({}, { key: otherKey, kid: 'k2' }))).toBe('unknown signing key');
  });

  it('derives Keycloak’s JWKS URL from the issuer unless one is given', () => {
    expect(jwksUrlFor(authConfig()).href).toBe(`${ISSUER}/protocol/openid-connect/certs`);
    expect(jwksUrlFor(authConfig({ AUTH_JWKS_URL: 'https://keys.example.org/jwks' })).href).toBe(
      'https://keys.example.org/jwks',
    );
  });
});

describe('roles', () => {
  it('merges realm roles and the roles of this service’s clients only, ignoring malformed shapes', () => {
    const ours = new Set(['app', 'broken', 'other']);
    expect(
      [
        ...rolesFromClaims(
          {
            realm_access: { roles: ['a', 7] },
            resource_access: {
              app: { roles: ['b'] },
              broken: 'x',
              other: { roles: 'c' },
              elsewhere: { roles: ['teacher'] },
            },
          },
          ours,
        ),
      ].sort(),
    ).toEqual(['a', 'b']);
    expect(rolesFromClaims({ realm_access: 'nope' }, ours).size).toBe(0);
  });

  it('a role defined on another client of the realm grants nothing here; the same role on this service’s client does', async () => {
    // AUTH_AUDIENCE names the clients whose tokens this service accepts, and so whose roles count.
    const verifier = createTokenVerifier(authConfig(), local());
    for (const role of ['teacher', 'certificate-admin', 'certificate-ingestion']) {
      expect(
        await permissionsOf(verifier, {
          aud: ['certificates-frontend', 'gradebook'],
          resource_access: { gradebook: { roles: [role] } },
        }),
        role,
      ).toEqual([]);
    }
    expect(
      await permissionsOf(verifier, { resource_access: { 'certificates-frontend': { roles: ['teacher'] } } }),
    ).toEqual(['certificates:read-any', 'templates:preview']);
  });
});

describe('bearer header', () => {
  const withAuth = (value?: string) =>
    apiEvent('GET', '/x', value === undefined ? {} : { headers: { Authorization: value } });

  it('extracts the token case-insensitively', () => {
    expect(bearerToken(withAuth('Bearer a.b.c'))).toBe('a.b.c');
    expect(bearerToken(withAuth('bearer   a.b.c'))).toBe('a.b.c');
  });

  it('treats a missing header or another scheme as no token, and junk as an invalid one', () => {
    expect(() => bearerToken(withAuth())).toThrow(MissingTokenError);
    expect(() => bearerToken(withAuth('Basic dXNlcjpwYXNz'))).toThrow(MissingTokenError);
    expect(() => bearerToken(withAuth('Bearer '))).toThrow(InvalidTokenError);
    expect(() => bearerToken(withAuth('Bearer not-a-jwt'))).toThrow(InvalidTokenError);
    expect(() => bearerToken(withAuth('Bearer a.b.c d'))).toThrow(InvalidTokenError);
  });
});

describe('remote JWKS against the Keycloak stand-in', () => {
  it('picks up a rotated key once the 1 s cooldown has passed, and not within jose’s 30 s default', async () => {
    // Its own stand-in: rotating the shared one would make every other test file's cached key
    // set "unknown signing key" for jose's cooldown (seen as 401s in a file running alongside).
    const keycloak = await startKeycloakStandIn({ realm: 'rotation', clients: [] });
    try {
      const user = { id: '0b7e5c1a-2f4d-4e8b-9a6c-3d1f2e4a5b6c', username: 'rita', firstName: 'Rita' };
      keycloak.addUser(user);
      const config = (cooldown: string) =>
        authConfig({
          AUTH_ISSUER: keycloak.issuer,
          AUTH_AUDIENCE: 'certificates-frontend',
          AUTH_JWKS_COOLDOWN_SECONDS: cooldown,
        });
      // The shortest cooldown allowed (0 would let any caller force a fetch per request).
      const quick = createTokenVerifier(config('1'));
      const slow = createTokenVerifier(config('30'));
      // Both fetch the key set now.
      await quick.verify(await keycloak.tokenFor(user.id));
      await slow.verify(await keycloak.tokenFor(user.id));
      // Past the quick verifier's cooldown, so the rotated key's unknown kid may refetch.
      await sleep(1100);

      await keycloak.rotateKey();
      const rotated = await keycloak.tokenFor(user.id);
      await expect(quick.verify(rotated)).resolves.toMatchObject({ subject: user.id });
      await expect(slow.verify(rotated)).rejects.toMatchObject({ reason: 'unknown signing key' });
    } finally {
      await keycloak.stop();
    }
  });

  it('while the key set cannot be fetched, the keys fetched before verify their tokens for an hour; an unknown key is a 503', async () => {
    const keycloak = await startKeycloakStandIn({ realm: 'outage', clients: [] });
    let clock = Date.now();
    const user = { id: '5c0d7e2a-1b3f-4a9c-8d6e-2f1a3b4c5d6e', username: 'otto', firstName: 'Otto' };
    keycloak.addUser(user);
    const config = authConfig({
      AUTH_ISSUER: keycloak.issuer,
      AUTH_AUDIENCE: 'certificates-frontend',
      AUTH_JWKS_CACHE_SECONDS: '60',
    });
    // Keycloak's clock and the verifier's move together (jose reads Date for exp and the cache).
    const verifier = createTokenVerifier(
      config,
      createJwks(config, () => clock),
    );
    const realNow = Date.now;
    Date.now = () => clock;
    try {
      await expect(verifier.verify(await keycloak.tokenFor(user.id))).resolves.toMatchObject({
        subject: user.id,
      });
      const laterToken = await keycloak.tokenFor(user.id, { expiresInSeconds: 4 * 3600 });
      await keycloak.rotateKey();
      const newKeyToken = await keycloak.tokenFor(user.id, { expiresInSeconds: 4 * 3600 });
      await keycloak.stop();

      // Past the cache age: jose refetches, the fetch fails, the known key still verifies.
      clock += 10 * 60 * 1000;
      await expect(verifier.verify(laterToken)).resolves.toMatchObject({ subject: user.id });
      // A key the verifier never fetched may be a new one: unverifiable now, a 503, not a 401.
      await expect(verifier.verify(newKeyToken)).rejects.toBeInstanceOf(TransientError);
      // Past the hour: the known keys are no longer trusted without the identity provider.
      clock += STALE_KEYS_MAX_MS;
      await expect(verifier.verify(laterToken)).rejects.toBeInstanceOf(TransientError);
    } finally {
      Date.now = realNow;
      await keycloak.stop().catch(() => undefined);
    }
  });

  it('during an outage, requests within the cooldown use the known keys without asking again', async () => {
    let failing = false;
    let fetches = 0;
    const server = createServer((_request, response) => {
      fetches += 1;
      if (failing) response.writeHead(500).end();
      else
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: jwks }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const realNow = Date.now;
    let clock = realNow();
    Date.now = () => clock;
    try {
      const config = authConfig({
        AUTH_JWKS_URL: `http://127.0.0.1:${port}/certs`,
        AUTH_JWKS_CACHE_SECONDS: '60',
        AUTH_JWKS_COOLDOWN_SECONDS: '30',
      });
      const verifier = createTokenVerifier(
        config,
        createJwks(config, () => clock),
      );
      const token = await sign({}, { expiresIn: 3600 });
      await verifier.verify(token);
      expect(fetches).toBe(1);
      failing = true;
      clock += 2 * 60 * 1000; // past the cache age
      await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'student-1' });
      expect(fetches).toBe(2); // tried once, failed, used the known key
      clock += 10 * 1000; // within the cooldown: not asked again
      await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'student-1' });
      expect(fetches).toBe(2);
      clock += 30 * 1000; // past it: asked again (and back, so fresh keys)
      failing = false;
      await expect(verifier.verify(token)).resolves.toMatchObject({ subject: 'student-1' });
      expect(fetches).toBe(3);
    } finally {
      Date.now = realNow;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('an unreachable key set is a 503-type failure, not a 401', async () => {
    const verifier = createTokenVerifier(authConfig({ AUTH_JWKS_URL: 'http://127.0.0.1:9/certs' }));
    await expect(verifier.verify(await sign({}))).rejects.toBeInstanceOf(TransientError);
  });
});
