import { z } from 'zod';
import { anyone } from '../../auth/policies.ts';
import { THUMBPRINT } from '../../credentials/jwks.ts';
import type { Sql } from '../../db/client.ts';
import { defineRoute } from '../contract.ts';
import { ISSUER_KEY_PATH, issuerKeyResponse, JWKS_PATH, jwksResponse } from '../verification.ts';
import { errorResponse } from './common.ts';

const kid = z.string().meta({
  description:
    'The `kid` its signatures carry: the facts key (ES256) its RFC 7638 SHA-256 thumbprint, the ' +
    'credentials key (RS256) its URL, `{PUBLIC_API_BASE_URL}/keys/{thumbprint}`, as the Open Badges ' +
    'credentials and status lists name it',
});
const ecJwk = z
  .object({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: z.string(),
    y: z.string(),
    kid,
    alg: z.literal('ES256'),
    use: z.literal('sig'),
  })
  .meta({ description: 'The facts key: signs the QR code and `certificate.jwt`' });
const rsaJwk = z
  .object({
    kty: z.literal('RSA'),
    n: z.string().meta({ description: 'Modulus, at least 2048 bits' }),
    e: z.string(),
    kid,
    alg: z.literal('RS256'),
    use: z.literal('sig'),
  })
  .meta({ description: 'The credentials key: signs Open Badges credentials and status lists' });
/** What the key routes need: the database, and the API's public base the credentials key's URL `kid` is built on. */
export interface KeyDeps {
  sql: Sql;
  corsOrigins: readonly string[];
  apiBaseUrl: string;
}

const jwkSchema = z.discriminatedUnion('kty', [ecJwk, rsaJwk]);
const revokedAt = { revoked_at: z.string().nullable() };

export const jwksRoute = defineRoute({
  operationId: 'getIssuerJwks',
  method: 'GET',
  path: JWKS_PATH,
  tags: ['public'],
  summary: "The issuer's certificate-signing keys",
  description:
    'JWK Set (RFC 7517) of every published key: the ES256 key that signs the facts in QR codes and ' +
    'the RS256 key that signs Open Badges credentials and status lists, each current one and the retired ones (their ' +
    'certificates keep verifying). Keys marked compromised are listed under `revoked_keys` with ' +
    '`revoked_at`, not under `keys`, so generic JOSE verifiers reject them. Any origin may fetch it; cacheable.',
  request: {},
  policy: anyone,
  crossOrigin: 'any',
  responses: {
    200: {
      description: 'JWK Set',
      contentType: 'application/jwk-set+json',
      schema: z.object({
        keys: z.array(jwkSchema),
        revoked_keys: z.array(
          z.discriminatedUnion('kty', [ecJwk.extend(revokedAt), rsaJwk.extend(revokedAt)]),
        ),
      }),
    },
  },
  handle: async (deps: KeyDeps) => jwksResponse(deps.sql, deps.apiBaseUrl),
});

/** `{kid}`: the key's thumbprint, as in the JWK Set. */
const kidPath = z.object({
  kid: z
    .string({ error: 'is required' })
    .regex(new RegExp(`^${THUMBPRINT}$`), 'must be a key thumbprint (43 base64url characters)')
    .meta({ description: 'RFC 7638 JWK thumbprint (SHA-256) of the key, as in the JWK Set' }),
});

export const issuerKeyRoute = defineRoute({
  operationId: 'getIssuerKey',
  method: 'GET',
  path: ISSUER_KEY_PATH,
  tags: ['public'],
  summary: 'One issuer key, as a bare JWK',
  description:
    "What an Open Badges credential's VC-JWT `kid` points to: Open Badges 3.0 requires the `kid` to " +
    'be "a URI that can be dereferenced to an object of type JWK". A current or retired key is ' +
    'served (retired keys still verify what they signed); a key the issuer marked compromised is ' +
    '410, so a verifier that dereferences it fails. Any origin may fetch it; cacheable.',
  request: { path: kidPath },
  policy: anyone,
  crossOrigin: 'any',
  responses: {
    200: {
      description: 'The public key (never a private part)',
      contentType: 'application/jwk+json',
      schema: jwkSchema,
    },
    404: errorResponse('No published key has this thumbprint'),
    410: errorResponse('The key was marked compromised (`revokedAt`): what it signed is not to be trusted'),
  },
  handle: async (deps: KeyDeps, input) => issuerKeyResponse(deps.sql, input.path.kid, deps.apiBaseUrl),
});
