import {
  CompactSign,
  calculateJwkThumbprint,
  compactVerify,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';
import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/**
 * Issuer signing keys, identified by their RFC 7638 JWK thumbprint. Two kinds, each with its own
 * secret and its own rotation:
 *
 * - ES256 (ECDSA P-256, RFC 7518 §3.4) signs the facts printed in the QR code: a 64-byte
 *   signature keeps the code small, and WebCrypto verifies ES256 in every current browser,
 *   which the public verification page relies on.
 * - RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3) signs the W3C verifiable credentials a
 *   wallet checks: the Open Badges 3.0 VC-JWT, whose JOSE algorithm "MUST be RS256 as a minimum"
 *   (OB 3.0, "JSON Web Token Proof Format"), and the status list it points at, so a verifier that
 *   implements only RS256 can check both.
 */

export type SigningAlgorithm = 'ES256' | 'RS256';

/** The facts' algorithm (QR code, `certificate.jwt`). */
export const SIGNING_ALGORITHM = 'ES256';
/** The verifiable credentials' algorithm (Open Badges VC-JWT, status list credential). */
export const CREDENTIAL_SIGNING_ALGORITHM = 'RS256';

/** RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used with these algorithms." */
export const MIN_RSA_MODULUS_BITS = 2048;

interface PublicJwkCommon {
  /** RFC 7638 thumbprint. */
  kid: string;
  use: 'sig';
}

export interface PublicEcJwk extends PublicJwkCommon {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  alg: 'ES256';
}

export interface PublicRsaJwk extends PublicJwkCommon {
  kty: 'RSA';
  n: string;
  e: string;
  alg: 'RS256';
}

/** The public half as published in the JWKS (RFC 7517), `kid` = RFC 7638 thumbprint. */
export type PublicIssuerJwk = PublicEcJwk | PublicRsaJwk;

export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  publicJwk: PublicIssuerJwk;
  /** Non-extractable: once imported, the private key cannot be read back out of the process. */
  privateKey: CryptoKey;
}

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
// RFC 7518 §6.2.1.2-3 and §6.2.2.1: x, y and d are each "the full size of a coordinate for the
// curve", 32 octets for P-256 (43 base64url characters), leading zero octets kept. A shorter one
// is not a conforming key, and its RFC 7638 thumbprint would differ from the same point's.
const p256Coordinate = base64url.refine(
  (value) => Buffer.from(value, 'base64url').length === 32,
  'must be 32 octets (RFC 7518 §6.2.1.2)',
);
const ecPublic = z.object({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: p256Coordinate,
  y: p256Coordinate,
});
const ecPrivate = ecPublic.extend({ d: p256Coordinate });
const rsaPublic = z.object({ kty: z.literal('RSA'), n: base64url, e: base64url });
// RFC 7518 §6.3.2: with `d`, the CRT members come all together or not at all; WebCrypto wants them.
const rsaPrivate = rsaPublic.extend({
  d: base64url,
  p: base64url,
  q: base64url,
  dp: base64url,
  dq: base64url,
  qi: base64url,
});

/**
 * RFC 7518 §2, Base64urlUInt: "The octet sequence MUST utilize the minimum number of octets
 * needed to represent the value" (§6.3.1.1 warns of libraries that prefix a zero octet to `n`).
 * A modulus or exponent with a leading zero octet is not a conforming JWK: its RFC 7638
 * thumbprint differs from the same key's written minimally, and some WebCrypto implementations
 * refuse it.
 */
function isMinimalUInt(value: string): boolean {
  const bytes = Buffer.from(value, 'base64url');
  return bytes.length > 0 && bytes[0] !== 0;
}

/** Bits of an RSA modulus given as base64url (leading zero bits do not count). */
function rsaModulusBits(n: string): number {
  const bytes = Buffer.from(n, 'base64url');
  const first = bytes.findIndex((byte) => byte !== 0);
  if (first === -1) return 0;
  return (bytes.length - first - 1) * 8 + (32 - Math.clz32(bytes[first] ?? 0));
}

/**
 * RFC 7638 thumbprint (SHA-256, base64url): only the key type's required members count (EC: crv,
 * kty, x, y; RSA: e, kty, n), so `kid`, `alg`, `use` or private members never change it.
 */
export function jwkThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

const KEY_DESCRIPTION: Record<SigningAlgorithm, string> = {
  ES256: 'an EC P-256 JWK',
  RS256: `an RSA JWK of at least ${MIN_RSA_MODULUS_BITS} bits (n and e in their minimal octets, RFC 7518 §2)`,
};

/**
 * The JWKS entry for a public key: P-256 (ES256) or RSA of at least 2048 bits (RS256). With
 * `expected`, only that kind is accepted. Throws ValidationError for anything else.
 */
export async function publicIssuerJwk(jwk: unknown, expected?: SigningAlgorithm): Promise<PublicIssuerJwk> {
  const ec = expected === 'RS256' ? undefined : ecPublic.safeParse(jwk);
  if (ec?.success) {
    const { kty, crv, x, y } = ec.data;
    return { kty, crv, x, y, kid: await jwkThumbprint({ kty, crv, x, y }), alg: 'ES256', use: 'sig' };
  }
  const rsa = expected === 'ES256' ? undefined : rsaPublic.safeParse(jwk);
  if (
    rsa?.success &&
    isMinimalUInt(rsa.data.n) &&
    isMinimalUInt(rsa.data.e) &&
    rsaModulusBits(rsa.data.n) >= MIN_RSA_MODULUS_BITS
  ) {
    const { kty, n, e } = rsa.data;
    return { kty, n, e, kid: await jwkThumbprint({ kty, n, e }), alg: 'RS256', use: 'sig' };
  }
  const wanted = expected
    ? KEY_DESCRIPTION[expected]
    : `${KEY_DESCRIPTION.ES256} or ${KEY_DESCRIPTION.RS256}`;
  throw new ValidationError(`issuer key must be ${wanted}`, 'jwk');
}

/**
 * Imports a private JWK of the expected kind (from the secret store or a local key file). The
 * error never quotes the input: it is a private key.
 */
export async function signingKeyFromJwk(
  jwk: unknown,
  expected: SigningAlgorithm = SIGNING_ALGORITHM,
): Promise<SigningKey> {
  const parsed = expected === 'ES256' ? ecPrivate.safeParse(jwk) : rsaPrivate.safeParse(jwk);
  if (!parsed.success)
    throw new ValidationError(
      expected === 'ES256'
        ? 'signing key must be a private EC P-256 JWK (kty, crv, x, y, d)'
        : 'signing key must be a private RSA JWK (kty, n, e, d, p, q, dp, dq, qi)',
      'signing_key',
    );
  let publicJwk: PublicIssuerJwk;
  try {
    publicJwk = await publicIssuerJwk(parsed.data, expected);
  } catch {
    throw new ValidationError(`signing key must be ${KEY_DESCRIPTION[expected]}`, 'signing_key');
  }
  let privateKey: CryptoKey | Uint8Array;
  try {
    privateKey = await importJWK({ ...parsed.data, alg: expected }, expected, { extractable: false });
  } catch {
    throw new ValidationError(`signing key is not a valid private ${expected} key`, 'signing_key');
  }
  if (!(privateKey instanceof CryptoKey) || privateKey.type !== 'private')
    throw new ValidationError('signing key must be a private key', 'signing_key');
  // WebCrypto imports an RSA JWK whose private members belong to another modulus: every signature
  // would then fail against the published key. One signature checked against it proves the pair.
  const probe = await new CompactSign(new TextEncoder().encode('key check'))
    .setProtectedHeader({ alg: expected })
    .sign(privateKey)
    .catch(() => undefined);
  const matches =
    probe !== undefined &&
    (await compactVerify(probe, await importJWK(publicJwk, expected)).then(
      () => true,
      () => false,
    ));
  if (!matches)
    throw new ValidationError(
      `signing key is not a valid private ${expected} key: its private part does not match its public key`,
      'signing_key',
    );
  return { kid: publicJwk.kid, alg: expected, publicJwk, privateKey };
}

/**
 * A new private JWK (for `npm start`'s local keys and for tests). Returned as JSON: store it as a
 * secret. RSA keys are 2048 bits, RFC 7518's minimum and what OB 3.0's RS256 verifiers expect.
 */
export async function generateSigningJwk(alg: SigningAlgorithm = SIGNING_ALGORITHM): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, {
    extractable: true,
    modulusLength: MIN_RSA_MODULUS_BITS,
  });
  const jwk = await exportJWK(privateKey);
  if (alg === 'ES256') return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d };
  const { kty, n, e, d, p, q, dp, dq, qi } = jwk;
  return { kty, n, e, d, p, q, dp, dq, qi };
}
