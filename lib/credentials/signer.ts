import { SignJWT } from 'jose';
import type { CertificateFacts, CredentialSigner, SignedCredential } from '../certificates/facts.ts';
import type { Sql } from '../db/client.ts';
import { signCredential } from './credential.ts';
import { CompromisedKeyError, keyState, registerSigningKey } from './key-store.ts';
import { SIGNING_ALGORITHM, type SigningKey } from './keys.ts';
import type { JwtSigner } from './status-list.ts';

/**
 * The issuer key as the signers use it: loaded once per container (from the secret store),
 * its public half published on first use, and refused when an operator marked it compromised
 * (a TransientError: the caller waits for the rotated key).
 */
function currentKey(sql: Sql, loadKey: () => Promise<SigningKey>): () => Promise<SigningKey> {
  let ready: Promise<SigningKey> | undefined;
  const prepare = async (): Promise<SigningKey> => {
    const key = await loadKey();
    await registerSigningKey(sql, key);
    return key;
  };
  return async () => {
    ready ??= prepare();
    ready.catch(() => {
      ready = undefined;
    });
    const key = await ready;
    if ((await keyState(sql, key.kid)) === 'compromised') throw new CompromisedKeyError(key.kid);
    return key;
  };
}

/** The generate function's signer of the printed facts (QR code and PDF attachment). */
export function createCredentialSigner(sql: Sql, loadKey: () => Promise<SigningKey>): CredentialSigner {
  const key = currentKey(sql, loadKey);
  return {
    async sign(facts: CertificateFacts): Promise<SignedCredential> {
      const current = await key();
      return { jws: await signCredential(facts, current), kid: current.kid };
    },
  };
}

/** A JWT signed with `key`: ES256, `kid` = the key's RFC 7638 thumbprint, so it resolves in the JWKS. */
export function jwtSignerFor(key: SigningKey): JwtSigner {
  return (payload, header) =>
    new SignJWT(payload)
      .setProtectedHeader({ ...header, alg: SIGNING_ALGORITHM, kid: key.kid })
      .sign(key.privateKey);
}

/**
 * Signs JWT claims sets (the Open Badges VC-JWT, the status list credential) with the same
 * issuer key, as long as it is not marked compromised.
 */
export function createJwtSigner(sql: Sql, loadKey: () => Promise<SigningKey>): JwtSigner {
  const key = currentKey(sql, loadKey);
  return async (payload, header) => jwtSignerFor(await key())(payload, header);
}
