import { CompactSign } from 'jose';
import type { CertificateFacts } from '../../lib/certificates/facts.ts';
import { credentialClaims } from '../../lib/credentials/credential.ts';
import type { SigningKey } from '../../lib/credentials/keys.ts';

/**
 * The certificate's genuine claims, signed with the issuer's own key, but with a header listing
 * a critical extension no verifier here understands (RFC 7515 §4.1.11): such a JWS is invalid
 * whatever its signature.
 */
export async function signWithCriticalExtension(facts: CertificateFacts, key: SigningKey): Promise<string> {
  const extension = 'urn:example:must-understand';
  return new CompactSign(new TextEncoder().encode(JSON.stringify(await credentialClaims(facts))))
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, crit: [extension], [extension]: true })
    .sign(key.privateKey, { crit: { [extension]: true } });
}
