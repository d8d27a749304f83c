import { SignJWT } from 'jose';
import type { CertificateFacts, CredentialSigner, SignedCredential } from '../certificates/facts.ts';
import type { Sql } from '../db/client.ts';
import { signCredential } from './credential.ts';
import type { KeyState } from './jwks.ts';
import { CompromisedKeyError, keyState, registerSigningKey } from './key-store.ts';
import type { SigningKey } from './keys.ts';
import type { JwtSigner } from './status-list.ts';

/** The issuer key as the signers use it. */
export interface IssuerKey {
  /** The key, once its state says it may sign; an operator-marked compromised key -> CompromisedKeyError. */
  current(): Promise<SigningKey>;
}

export interface IssuerKeyOptions {
  /**
   * How long a loaded key signs before the secret is read again: an operator rotates the key by
   * putting a new one in the secret (README, "Rotation"), and warm containers must pick it up.
   * The secret store caches a value as long (SECRETS_CACHE_SECONDS), so reading sooner would
   * only return the same key.
   */
  reloadAfterMs: number;
  /** Milliseconds, monotonic enough for ages (tests pass their own). */
  now?: () => number;
  /**
   * How the key's state is read before each signature (default: its own statement). generate's
   * two keys share createKeyStateReader's, so a certificate's two signatures cost one read.
   */
  readState?: (kid: string) => Promise<KeyState | undefined>;
}

/**
 * The container's issuer key: read from the secret store, its public half published on first
 * use, and read again every `reloadAfterMs` so a rotated secret replaces it in warm containers
 * too. Every signature reads the key's state, except that a signature asked for while a read is
 * in flight shares that read: the state it sees was read at most one round trip before it asked.
 * (generate's two keys also share one read: options.readState.) A key an operator marked
 * compromised is refused (CompromisedKeyError) and dropped, so the next signature reads the secret again and
 * signs with the rotated key as soon as the store returns it.
 */
export function createIssuerKey(
  sql: Sql,
  loadKey: () => Promise<SigningKey>,
  options: IssuerKeyOptions,
): IssuerKey {
  const now = options.now ?? (() => performance.now());
  const readState = options.readState ?? ((kid: string) => keyState(sql, kid));
  let ready: Promise<SigningKey> | undefined;
  let loadedAt = 0;
  let registered: string | undefined;
  let checking: Promise<SigningKey> | undefined;
  const load = (): Promise<SigningKey> => {
    loadedAt = now();
    const loading = (async () => {
      const key = await loadKey();
      // Publishing is once per key, not once per read of the secret.
      if (key.kid !== registered) {
        await registerSigningKey(sql, key);
        registered = key.kid;
      }
      return key;
    })();
    loading.catch(() => {
      if (ready === loading) ready = undefined;
    });
    return loading;
  };
  const check = async (reread = false): Promise<SigningKey> => {
    const fresh = ready === undefined || now() - loadedAt >= options.reloadAfterMs;
    if (fresh || ready === undefined) ready = load();
    const loading = ready;
    const key = await loading;
    const state = await readState(key.kid);
    if (state === 'compromised') {
      if (ready === loading) ready = undefined;
      // Marked since this container read it: the secret may hold its successor already (the
      // README's order: rotate, then mark). Read once more before refusing, so this signature
      // uses it rather than failing (in generate, an hour's wait and a configuration alarm).
      if (!fresh && !reread) return check(true);
      throw new CompromisedKeyError(key.kid);
    }
    // Registered once per container, but the row can be gone (a database restored to before it):
    // published again before signing, or verifiers could not find the key.
    if (state === undefined) await registerSigningKey(sql, key);
    return key;
  };
  return {
    current() {
      checking ??= check().finally(() => {
        checking = undefined;
      });
      return checking;
    },
  };
}

/** The generate function's signer of the printed facts (QR code and PDF attachment). */
export function createCredentialSigner(key: IssuerKey): CredentialSigner {
  return {
    async sign(facts: CertificateFacts): Promise<SignedCredential> {
      const current = await key.current();
      return { jws: await signCredential(facts, current), kid: current.kid };
    },
  };
}

/**
 * A JWT signed with `key`, in the key's own algorithm (RS256 for the credentials key), `kid` = the
 * key's RFC 7638 thumbprint (or the URL built from it), so it resolves in the JWKS.
 */
export function jwtSignerFor(key: SigningKey): JwtSigner {
  return (payload, header, options) =>
    new SignJWT(payload)
      .setProtectedHeader({ ...header, alg: key.alg, kid: options?.keyUrl?.(key.kid) ?? key.kid })
      .sign(key.privateKey);
}

/**
 * Signs JWT claims sets (the Open Badges VC-JWT, the status list credential) with the credentials
 * key (RS256), as long as it is not marked compromised.
 */
export function createJwtSigner(key: IssuerKey): JwtSigner {
  return async (payload, header, options) => jwtSignerFor(await key.current())(payload, header, options);
}
