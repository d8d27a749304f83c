import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/**
 * Issuer signing keys: ECDSA P-256 for JWS ES256 (RFC 7518 §3.4), identified by their RFC 7638
 * JWK thumbprint. WebCrypto verifies ES256 in every current browser, which the public
 * verification page relies on.
 */

export const SIGNING_ALGORITHM = 'ES256';

/** The public half as published in the JWKS (RFC 7517), `kid` = RFC 7638 thumbprint. */
export interface PublicIssuerJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

export interface SigningKey {
  kid: string;
  publicJwk: PublicIssuerJwk;
  /** Non-extractable: once imported, the private scalar cannot be read back out of the process. */
  privateKey: CryptoKey;
}

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
const ecPublic = z.object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: base64url, y: base64url });
const ecPrivate = ecPublic.extend({ d: base64url });

/**
 * RFC 7638 thumbprint (SHA-256, base64url): only the key type's required members count (for EC
 * crv, kty, x, y), so `kid`, `alg`, `use` or a private `d` never change it.
 */
export function jwkThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

/** The JWKS entry for a P-256 public key; throws ValidationError for anything else. */
export async function publicIssuerJwk(jwk: unknown): Promise<PublicIssuerJwk> {
  const parsed = ecPublic.safeParse(jwk);
  if (!parsed.success) throw new ValidationError('issuer key must be an EC P-256 JWK', 'jwk');
  const { kty, crv, x, y } = parsed.data;
  return { kty, crv, x, y, kid: await jwkThumbprint({ kty, crv, x, y }), alg: 'ES256', use: 'sig' };
}

/**
 * Imports a private P-256 JWK (from the secret store or the local key file). The error never
 * quotes the input: it is a private key.
 */
export async function signingKeyFromJwk(jwk: unknown): Promise<SigningKey> {
  const parsed = ecPrivate.safeParse(jwk);
  if (!parsed.success)
    throw new ValidationError(
      'signing key must be a private EC P-256 JWK (kty, crv, x, y, d)',
      'signing_key',
    );
  const publicJwk = await publicIssuerJwk(parsed.data);
  const privateKey = await importJWK({ ...parsed.data, alg: SIGNING_ALGORITHM }, SIGNING_ALGORITHM, {
    extractable: false,
  });
  if (!(privateKey instanceof CryptoKey) || privateKey.type !== 'private')
    throw new ValidationError('signing key must be a private key', 'signing_key');
  return { kid: publicJwk.kid, publicJwk, privateKey };
}

/** A new private JWK (for `npm start`'s local key and for tests). Returned as JSON: store it as a secret. */
export async function generateSigningJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d };
}
