import { z } from 'zod';
import { type PublicIssuerJwk, publicIssuerJwk } from './keys.ts';

/**
 * The issuer's published keys as a JWK Set (RFC 7517 §5). Current and retired keys go in
 * `keys`: a retired key signs nothing new but its certificates keep verifying. A compromised
 * key is listed apart, in `revoked_keys` (an additional JWK Set member, which RFC 7517 lets
 * generic JOSE libraries ignore): a generic verifier then cannot find it and fails closed,
 * while ours can still say "genuine signature, but made with a key the issuer revoked".
 */

export type KeyState = 'current' | 'retired' | 'compromised';

export interface PublishedKey {
  jwk: PublicIssuerJwk;
  state: KeyState;
  /** ISO time the key was marked compromised. */
  revokedAt?: string | null;
}

export type VerificationKeys = readonly PublishedKey[];

export interface JwksDocument {
  keys: PublicIssuerJwk[];
  revoked_keys: (PublicIssuerJwk & { revoked_at: string | null })[];
}

/**
 * A key as it is published, under the `kid` its signatures carry (RFC 7515 §4.1.4: a JOSE header's
 * `kid` is matched against the JWK's `kid`): the credentials key (RS256) under its URL, which the
 * Open Badges credentials and status lists name it by, so a verifier that picks the key by `kid`,
 * from the JWK Set or from that URL, finds it; the facts key (ES256) under its thumbprint, as the
 * facts' JWS name it.
 */
export function publishedJwk(jwk: PublicIssuerJwk, apiBaseUrl: string): PublicIssuerJwk {
  return jwk.alg === 'RS256' ? { ...jwk, kid: issuerKeyUrl(apiBaseUrl, jwk.kid) } : jwk;
}

/**
 * Each key under the kid its signatures carry. A credentials key is listed a second time under its
 * bare thumbprint, the kid of credentials and status lists signed before it became a URL
 * (2026-12-03): the same key under two distinct kids, so either form finds it.
 */
export function jwksDocument(keys: VerificationKeys, apiBaseUrl: string): JwksDocument {
  const entries = (key: PublishedKey) => {
    const published = publishedJwk(key.jwk, apiBaseUrl);
    return published.kid === key.jwk.kid ? [published] : [published, key.jwk];
  };
  return {
    keys: keys.filter((key) => key.state !== 'compromised').flatMap(entries),
    revoked_keys: keys
      .filter((key) => key.state === 'compromised')
      .flatMap((key) => entries(key).map((jwk) => ({ ...jwk, revoked_at: key.revokedAt ?? null }))),
  };
}

/** An RFC 7638 SHA-256 thumbprint as a `kid`: base64url without padding, 43 characters. */
export const THUMBPRINT = '[A-Za-z0-9_-]{43}';

/**
 * Where one key can be fetched alone, `{apiBaseUrl}/keys/{thumbprint}` (GET /api/v1/keys/{kid}):
 * Open Badges 3.0 makes a VC-JWT's `kid` "a URI that can be dereferenced to an object of type
 * JWK" ("JSON Web Token Proof Format"), so the Open Badges credentials name their key by it.
 */
export function issuerKeyUrl(apiBaseUrl: string, thumbprint: string): string {
  return `${apiBaseUrl.replace(/\/+$/, '')}/keys/${thumbprint}`;
}

/**
 * The thumbprint a JOSE `kid` names: the kid itself (the facts' JWS; status lists and Open Badges
 * credentials signed before their kid became a URL), or the last segment of a key URL as
 * issuerKeyUrl builds it. Verification still looks the thumbprint up in the issuer's JWK Set and
 * recomputes it from the key: the URL only says which key.
 */
export function thumbprintOfKid(kid: string): string {
  return new RegExp(`^https?://[^#?]*/keys/(${THUMBPRINT})$`).exec(kid)?.[1] ?? kid;
}

const jwkEntry = z.looseObject({ kty: z.string() });
const jwksShape = z.looseObject({
  keys: z.array(z.unknown()),
  revoked_keys: z.array(z.unknown()).optional(),
});

/**
 * RFC 7517 §4.2-4.3: a key published for encryption (`use` "enc"), or whose `key_ops` leave out
 * "verify", is not one to check signatures with.
 */
function forSignatures(jwk: Record<string, unknown>): boolean {
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify')))
    return false;
  return true;
}

/**
 * Reads a JWK Set (ours or any issuer's): entries that are not signing keys of ours (P-256 for
 * ES256, RSA of at least 2048 bits for RS256) are skipped; every `kid` is recomputed from the key
 * (RFC 7638), never taken from the document, and each key's `alg` follows from its kind (an
 * entry meant for encryption, or whose `alg` says otherwise, is skipped).
 */
export async function parseJwks(document: unknown): Promise<PublishedKey[]> {
  const parsed = jwksShape.safeParse(document);
  if (!parsed.success) throw new Error('not a JWK Set: expected an object with a "keys" array');
  const read = async (entries: unknown[], state: KeyState): Promise<PublishedKey[]> => {
    const out: PublishedKey[] = [];
    for (const entry of entries) {
      const jwk = jwkEntry.safeParse(entry);
      if (!jwk.success || !forSignatures(jwk.data)) continue;
      const key = await publicIssuerJwk(jwk.data).catch(() => undefined);
      // A key whose `alg` names another algorithm than its kind signs with is not one to verify with.
      if (!key || (jwk.data.alg !== undefined && jwk.data.alg !== key.alg)) continue;
      // The same key under a second kid (jwksDocument lists a credentials key so) is one key.
      if (out.some((seen) => seen.jwk.kid === key.kid)) continue;
      const revokedAt = typeof jwk.data.revoked_at === 'string' ? jwk.data.revoked_at : null;
      out.push({
        jwk: key,
        state,
        ...(state === 'compromised' ? { revokedAt } : {}),
      });
    }
    return out;
  };
  return [
    ...(await read(parsed.data.keys, 'retired')),
    ...(await read(parsed.data.revoked_keys ?? [], 'compromised')),
  ];
}
