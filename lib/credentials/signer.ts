import type { CertificateFacts, CredentialSigner, SignedCredential } from '../certificates/facts.ts';
import type { Sql } from '../db/client.ts';
import { signCredential } from './credential.ts';
import { CompromisedKeyError, keyState, registerSigningKey } from './key-store.ts';
import type { SigningKey } from './keys.ts';

/**
 * The generate function's signer: loads the private key once per container (from the secret
 * store), publishes its public half on first use, and refuses to sign with a key an operator
 * marked compromised (a TransientError: the certificate waits for the rotated key).
 */
export function createCredentialSigner(sql: Sql, loadKey: () => Promise<SigningKey>): CredentialSigner {
  let ready: Promise<SigningKey> | undefined;
  const prepare = async (): Promise<SigningKey> => {
    const key = await loadKey();
    await registerSigningKey(sql, key);
    return key;
  };
  return {
    async sign(facts: CertificateFacts): Promise<SignedCredential> {
      ready ??= prepare();
      ready.catch(() => {
        ready = undefined;
      });
      const key = await ready;
      if ((await keyState(sql, key.kid)) === 'compromised') throw new CompromisedKeyError(key.kid);
      return { jws: await signCredential(facts, key), kid: key.kid };
    },
  };
}
