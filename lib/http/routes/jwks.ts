import { z } from 'zod';
import { anyone } from '../../auth/policies.ts';
import type { Sql } from '../../db/client.ts';
import { defineRoute } from '../contract.ts';
import { JWKS_PATH, jwksResponse } from '../verification.ts';

const jwkSchema = z.object({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: z.string(),
  y: z.string(),
  kid: z.string().meta({ description: 'RFC 7638 JWK thumbprint (SHA-256) of the key' }),
  alg: z.literal('ES256'),
  use: z.literal('sig'),
});

export const jwksRoute = defineRoute({
  operationId: 'getIssuerJwks',
  method: 'GET',
  path: JWKS_PATH,
  tags: ['public'],
  summary: "The issuer's certificate-signing keys",
  description:
    'JWK Set (RFC 7517) of every published ES256 key: the current one and retired ones (their ' +
    'certificates keep verifying). Keys marked compromised are listed under `revoked_keys` with ' +
    '`revoked_at`, not under `keys`, so generic JOSE verifiers reject them. Any origin may fetch it; cacheable.',
  request: {},
  policy: anyone,
  responses: {
    200: {
      description: 'JWK Set',
      contentType: 'application/jwk-set+json',
      schema: z.object({
        keys: z.array(jwkSchema),
        revoked_keys: z.array(jwkSchema.extend({ revoked_at: z.string().nullable() })),
      }),
    },
  },
  handle: async (deps: { sql: Sql; corsOrigins: readonly string[] }) => jwksResponse(deps.sql),
});
