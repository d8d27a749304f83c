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
 * A key under its URL, `{apiBaseUrl}/keys/{thumbprint}`, the `kid` of every token that names a
 * key by where to fetch it (the Open Badges credentials and status lists): RFC 7515 §4.1.4 matches
 * a JOSE `kid` against the JWK's `kid`, so the key served at that URL carries it.
 */
export function publishedJwk(jwk: PublicIssuerJwk, apiBaseUrl: string): PublicIssuerJwk {
  return { ...jwk, kid: issuerKeyUrl(apiBaseUrl, jwk.kid) };
}

/**
 * Each key under both kids its tokens carry, so a verifier that selects by `kid` finds it: its
 * URL (Open Badges credentials and status lists: from 2026-12-05 signed with the credentials key,
 * RS256; from 2026-12-03 to then with the facts key, ES256) and its bare thumbprint (the facts'
 * JWS in QR codes and PDFs, and credentials signed before 2026-12-03). The kid the key's current
 * tokens carry comes first: the URL for the credentials key, the thumbprint for the facts key.
 */
export function jwksDocument(keys: VerificationKeys, apiBaseUrl: string): JwksDocument {
  const entries = (key: PublishedKey) => {
    const byUrl = publishedJwk(key.jwk, apiBaseUrl);
    return key.jwk.alg === 'RS256' ? [byUrl, key.jwk] : [key.jwk, byUrl];
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
  // A key listed in both (a saved set merged with a newer one) is revoked: the report that it
  // was compromised wins over any list that still calls it usable.
  const revoked = await read(parsed.data.revoked_keys ?? [], 'compromised');
  const usable = (await read(parsed.data.keys, 'retired')).filter(
    (key) => !revoked.some((gone) => gone.jwk.kid === key.jwk.kid),
  );
  return [...usable, ...revoked];
}
