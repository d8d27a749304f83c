import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWK, jwtVerify, SignJWT } from 'jose';
import { listenOnLoopback } from './free-port.ts';

/**
 * A Keycloak stand-in that speaks the parts of Keycloak's protocol this service uses:
 * OIDC discovery, JWKS, the token endpoint (client_credentials and password grants) and the
 * admin REST API `GET /admin/realms/{realm}/users/{id}` returning Keycloak's UserRepresentation.
 * Tokens are real RS256 JWTs signed with a generated key; keys can be rotated.
 *
 * A control API under `/__stand-in/` (not part of Keycloak) lets tests add users, inject
 * faults and mint arbitrary tokens. It only exists in this stand-in.
 */

export interface StandInUser {
  id: string;
  username: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  enabled?: boolean;
  password?: string;
  realmRoles?: string[];
  clientRoles?: Record<string, string[]>;
  attributes?: Record<string, string[]>;
}

export interface StandInClient {
  clientId: string;
  secret: string;
  /** Realm roles of the client's service account; the admin API needs `view-users`. */
  serviceAccountRoles: string[];
  /** Extra `aud` entries of its service-account tokens (Keycloak: an "Audience" protocol mapper). */
  audience?: string[];
}

interface Fault {
  status: number;
  remaining: number; // -1 = until cleared
  delayMs: number;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface KeycloakStandIn {
  url: string;
  realm: string;
  issuer: string;
  addUser(user: StandInUser): void;
  /** Mints a user access token as Keycloak would for `clientId` (the frontend client). */
  tokenFor(userId: string, options?: { clientId?: string; expiresInSeconds?: number }): Promise<string>;
  rotateKey(): Promise<string>;
  stop(): Promise<void>;
}

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicJwk };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

export async function startKeycloakStandIn(options: {
  realm: string;
  clients: StandInClient[];
  users?: StandInUser[];
  port?: number;
  /** Default audience of user tokens (Keycloak puts `account` there by default). */
  publicClientId?: string;
}): Promise<KeycloakStandIn> {
  // Bound first (port 0 unless one is asked for), so the issuer URL names the port it got.
  const server: Server = createServer();
  const port = await listenOnLoopback(server, options.port);
  const url = `http://127.0.0.1:${port}`;
  const realm = options.realm;
  const issuer = `${url}/realms/${realm}`;
  const users = new Map<string, StandInUser>();
  for (const user of options.users ?? []) users.set(user.id, user);
  const clients = new Map(options.clients.map((client) => [client.clientId, client]));
  const faults = new Map<string, Fault>(); // key: user id, or "*" for every admin request, or "token"
  const keys: SigningKey[] = [await newKey()];
  const publicClientId = options.publicClientId ?? 'certificates-frontend';

  const currentKey = (): SigningKey => {
    const key = keys[keys.length - 1];
    if (!key) throw new Error('no signing key');
    return key;
  };

  const sign = async (
    claims: Record<string, unknown>,
    opts: { expiresInSeconds?: number; kid?: string; alg?: string } = {},
  ): Promise<string> => {
    const key = currentKey();
    const now = Math.floor(Date.now() / 1000);
    return await new SignJWT({ typ: 'Bearer', ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: opts.kid ?? key.kid })
      .setIssuer(issuer)
      .setIssuedAt(now)
      .setJti(randomUUID())
      .setExpirationTime(now + (opts.expiresInSeconds ?? 300))
      .sign(key.privateKey);
  };

  const userClaims = (user: StandInUser, clientId: string): Record<string, unknown> => ({
    sub: user.id,
    aud: ['account', clientId],
    azp: clientId,
    scope: 'openid profile email',
    preferred_username: user.username,
    email: user.email,
    email_verified: true,
    given_name: user.firstName,
    family_name: user.lastName,
    name: [user.firstName, user.lastName].filter(Boolean).join(' '),
    realm_access: { roles: [`default-roles-${realm}`, 'offline_access', ...(user.realmRoles ?? [])] },
    resource_access: Object.fromEntries(
      Object.entries(user.clientRoles ?? {}).map(([client, roles]) => [client, { roles }]),
    ),
  });

  const jwks = () => ({ keys: keys.map((key) => key.publicJwk) });

  const takeFault = (key: string): Fault | undefined => {
    const fault = faults.get(key);
    if (!fault) return undefined;
    if (fault.remaining > 0) {
      fault.remaining -= 1;
      if (fault.remaining === 0) faults.delete(key);
    }
    return fault;
  };

  const applyFault = async (res: ServerResponse, fault: Fault | undefined): Promise<boolean> => {
    if (!fault) return false;
    if (fault.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    if (fault.status === 0) {
      res.socket?.destroy(); // connection reset, like a crashed server
      return true;
    }
    if (fault.status >= 400) {
      send(res, fault.status, { error: 'unknown_error' });
      return true;
    }
    return false;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', url).pathname;
    const realmBase = `/realms/${realm}`;

    if (req.method === 'GET' && path === `${realmBase}/.well-known/openid-configuration`) {
      const oidc = `${issuer}/protocol/openid-connect`;
      return send(res, 200, {
        issuer,
        authorization_endpoint: `${oidc}/auth`,
        token_endpoint: `${oidc}/token`,
        jwks_uri: `${oidc}/certs`,
        userinfo_endpoint: `${oidc}/userinfo`,
        grant_types_supported: ['client_credentials', 'password'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (req.method === 'GET' && path === `${realmBase}/protocol/openid-connect/certs`) {
      return send(res, 200, jwks());
    }
    if (req.method === 'POST' && path === `${realmBase}/protocol/openid-connect/token`) {
      if (await applyFault(res, takeFault('token'))) return;
      const form = new URLSearchParams(await readBody(req));
      let clientId = form.get('client_id') ?? '';
      let clientSecret = form.get('client_secret') ?? '';
      const basic = req.headers.authorization?.match(/^Basic (.+)$/i)?.[1];
      if (basic) {
        const [id, secret] = Buffer.from(basic, 'base64').toString('utf8').split(':');
        clientId = decodeURIComponent(id ?? '');
        clientSecret = decodeURIComponent(secret ?? '');
      }
      const grant = form.get('grant_type');
      if (grant === 'client_credentials') {
        const client = clients.get(clientId);
        if (!client || client.secret !== clientSecret) {
          return send(res, 401, {
            error: 'unauthorized_client',
            error_description: 'Invalid client or Invalid client credentials',
          });
        }
        const expiresIn = 300;
        const token = await sign(
          {
            sub: `service-account-${clientId}`,
            azp: clientId,
            aud: ['realm-management', 'account', ...(client.audience ?? [])],
            preferred_username: `service-account-${clientId}`,
            realm_access: { roles: client.serviceAccountRoles },
            resource_access: { 'realm-management': { roles: client.serviceAccountRoles } },
          },
          { expiresInSeconds: expiresIn },
        );
        return send(res, 200, {
          access_token: token,
          expires_in: expiresIn,
          refresh_expires_in: 0,
          token_type: 'Bearer',
          'not-before-policy': 0,
          scope: 'profile email',
        });
      }
      if (grant === 'password') {
        const user = [...users.values()].find((candidate) => candidate.username === form.get('username'));
        if (
          !user ||
          user.password === undefined ||
          user.password !== form.get('password') ||
          user.enabled === false
        ) {
          return send(res, 401, { error: 'invalid_grant', error_description: 'Invalid user credentials' });
        }
        const expiresIn = 3600;
        const token = await sign(userClaims(user, clientId || publicClientId), {
          expiresInSeconds: expiresIn,
        });
        return send(res, 200, {
          access_token: token,
          expires_in: expiresIn,
          token_type: 'Bearer',
          scope: 'openid profile email',
        });
      }
      return send(res, 400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' });
    }

    const adminUser = path.match(new RegExp(`^/admin/realms/${realm}/users/([^/]+)$`));
    if (req.method === 'GET' && adminUser) {
      const bearer = req.headers.authorization?.match(/^Bearer (.+)$/)?.[1];
      if (!bearer) return send(res, 401, { error: 'HTTP 401 Unauthorized' });
      try {
        const { payload } = await jwtVerify(bearer, createLocalJWKSet(jwks()), { issuer });
        const roles = (payload.realm_access as { roles?: string[] } | undefined)?.roles ?? [];
        if (!roles.includes('view-users')) return send(res, 403, { error: 'HTTP 403 Forbidden' });
      } catch {
        return send(res, 401, { error: 'HTTP 401 Unauthorized' });
      }
      const id = decodeURIComponent(adminUser[1] ?? '');
      if (await applyFault(res, takeFault(id) ?? takeFault('*'))) return;
      const user = users.get(id);
      if (!user) return send(res, 404, { error: 'User not found' });
      return send(res, 200, {
        id: user.id,
        createdTimestamp: 1700000000000,
        username: user.username,
        enabled: user.enabled ?? true,
        totp: false,
        emailVerified: true,
        firstName: user.firstName,
        lastName: user.lastName,
        email: user.email,
        attributes: user.attributes ?? {},
        disableableCredentialTypes: [],
        requiredActions: [],
        notBefore: 0,
        access: { manageGroupMembership: true, view: true, mapRoles: true, impersonate: false, manage: true },
      });
    }

    // ---- control API of the stand-in (tests and npm start only) ----
    if (req.method === 'POST' && path === '/__stand-in/clients') {
      const client = JSON.parse(await readBody(req)) as StandInClient;
      clients.set(client.clientId, client);
      return send(res, 201, { clientId: client.clientId });
    }
    if (req.method === 'POST' && path === '/__stand-in/users') {
      const user = JSON.parse(await readBody(req)) as StandInUser;
      users.set(user.id, user);
      return send(res, 201, { id: user.id });
    }
    if (req.method === 'POST' && path === '/__stand-in/faults') {
      const body = JSON.parse(await readBody(req)) as {
        target: string;
        status: number;
        count?: number;
        delayMs?: number;
      };
      faults.set(body.target, {
        status: body.status,
        remaining: body.count ?? -1,
        delayMs: body.delayMs ?? 0,
      });
      return send(res, 204, undefined);
    }
    if (req.method === 'DELETE' && path.startsWith('/__stand-in/faults/')) {
      faults.delete(decodeURIComponent(path.slice('/__stand-in/faults/'.length)));
      return send(res, 204, undefined);
    }
    if (req.method === 'POST' && path === '/__stand-in/tokens') {
      // Mint a token for a known user, optionally overriding claims (tests of expiry, audience...).
      const body = JSON.parse(await readBody(req)) as {
        userId: string;
        clientId?: string;
        expiresInSeconds?: number;
        claims?: Record<string, unknown>;
      };
      const user = users.get(body.userId);
      if (!user) return send(res, 404, { error: 'User not found' });
      const token = await sign(
        { ...userClaims(user, body.clientId ?? publicClientId), ...(body.claims ?? {}) },
        body.expiresInSeconds === undefined ? {} : { expiresInSeconds: body.expiresInSeconds },
      );
      return send(res, 200, { access_token: token });
    }
    if (req.method === 'POST' && path === '/__stand-in/rotate-key') {
      const key = await newKey();
      keys.push(key);
      return send(res, 200, { kid: key.kid });
    }
    return send(res, 404, { error: 'Not Found' });
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      send(res, 500, {
        error: 'stand-in error',
        detail: error instanceof Error ? error.message : String(error),
      });
    });
  });

  return {
    url,
    realm,
    issuer,
    addUser: (user) => {
      users.set(user.id, user);
    },
    tokenFor: async (userId, opts = {}) => {
      const user = users.get(userId);
      if (!user) throw new Error(`unknown stand-in user ${userId}`);
      return await sign(
        userClaims(user, opts.clientId ?? publicClientId),
        opts.expiresInSeconds === undefined ? {} : { expiresInSeconds: opts.expiresInSeconds },
      );
    },
    rotateKey: async () => {
      const key = await newKey();
      keys.push(key);
      return key.kid;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
