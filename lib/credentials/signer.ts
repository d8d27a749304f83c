import { SignJWT } from 'jose';
import type { CertificateFacts, CredentialSigner, SignedCredential } from '../certificates/facts.ts';
import type { Sql } from '../db/client.ts';
import { signCredential } from './credential.ts';
import { CompromisedKeyError, keyState, registerSigningKey } from './key-store.ts';
import { SIGNING_ALGORITHM, type SigningKey } from './keys.ts';
import type { JwtSigner } from './status-list.ts';

/** The issuer key as the signers use it. */
export interface IssuerKey {
  /** The key, once its state says it may sign; an operator-marked compromised key -> CompromisedKeyError. */
  current(): Promise<SigningKey>;
}

/**
 * The issuer key, loaded once per container (from the secret store), its public half published
 * on first use, and refused when an operator marked it compromised (a TransientError: the caller
 * waits for the rotated key). Every signature reads the key's state, except that a signature
 * asked for while a read is in flight shares that read: the state it sees was read at most one
 * round trip before it asked. So one certificate's two signatures (its facts and its Open Badges
 * credential, signed at once by lib/certificates/generate.ts) cost one read, not two.
 */
export function createIssuerKey(sql: Sql, loadKey: () => Promise<SigningKey>): IssuerKey {
  let ready: Promise<SigningKey> | undefined;
  let checking: Promise<SigningKey> | undefined;
  const prepare = async (): Promise<SigningKey> => {
    const key = await loadKey();
    await registerSigningKey(sql, key);
    return key;
  };
  const check = async (): Promise<SigningKey> => {
    ready ??= prepare();
    ready.catch(() => {
      ready = undefined;
    });
    const key = await ready;
    if ((await keyState(sql, key.kid)) === 'compromised') throw new CompromisedKeyError(key.kid);
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
export function createJwtSigner(key: IssuerKey): JwtSigner {
  return async (payload, header) => jwtSignerFor(await key.current())(payload, header);
}
