import { base64url, CompactSign, compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import { z } from 'zod';
import type { CertificateFacts } from '../certificates/facts.ts';
import type { KeyState, VerificationKeys } from './jwks.ts';
import { jwkThumbprint, SIGNING_ALGORITHM, type SigningKey } from './keys.ts';

/**
 * The signed credential printed in the QR code and embedded in the PDF: a compact JWS (ES256)
 * of the certificate's printed facts.
 *
 * Size is the constraint. The QR code must decode from the PDF rasterised at 150 dpi for the
 * longest names the renderer accepts (200 code points of name, 300 of course title: in CJK that
 * alone is 1,500 UTF-8 bytes, a version-40 code no certificate corner can hold). So the payload
 * carries:
 *  - the short facts in full: verification code, score line, issue date, expiry;
 *  - name, course title and issuer cut to CLAIM_BUDGETS UTF-8 bytes (ending in "…" when cut),
 *    enough for a person comparing with the paper;
 *  - `h`, the first 128 bits of the SHA-256 of ALL facts in full (canonicalFacts), which commits
 *    the signature to the complete printed text: the page and `npm run verify` compare it.
 * With VERIFY_BASE_URL at its 64-character limit and every field at its budget the URL is at
 * most 519 bytes (QR_URL_BUDGET caps it at 520, what a version-15 code at error correction L holds
 * in byte mode): 77 modules + a 4-module quiet zone, printed at 1/50 inch a module (43 mm; exactly
 * 3 px a module at 150 dpi, see lib/render/assets.ts). A typical certificate is version 14. Claim
 * names are one letter for the same reason. The budgets were 24/24/12 while the QR encoder packed
 * runs of capitals and digits more densely (mixed modes); the encoder used now writes a URL in
 * byte mode only (lib/render/assets.ts says why), so two bytes came off the course and one off the
 * issuer. Credentials cut with the old budgets still verify: claims need only be cuts of the facts.
 */

/** UTF-8 byte budgets of the cut fields (see above). */
export const CLAIM_BUDGETS = { name: 24, course: 22, issuer: 11 } as const;

/** Every budget the issuer has cut a claim with (the course's was 24 before it was 22). */
const PAST_BUDGETS = { name: [24], course: [22, 24] } as const;

/**
 * `shown` is `full`, or the cut this issuer makes of it (not just any prefix with "…", which a
 * stolen key could sign to agree with every record).
 */
export function isIssuersCutOf(shown: string, full: string, field: keyof typeof PAST_BUDGETS): boolean {
  return shown === full || PAST_BUDGETS[field].some((budget) => cutToBytes(full, budget) === shown);
}

/** The longest URL (base + code + "#" + JWS) the QR code is sized for (a version-15 code at L, byte mode). */
export const QR_URL_BUDGET = 520;

export const CREDENTIAL_CLAIMS = z.object({
  c: z.string(),
  n: z.string(),
  t: z.string(),
  i: z.string(),
  s: z.string(),
  d: z.string(),
  x: z.string().optional(),
  h: z.string(),
});
export type CredentialClaims = z.output<typeof CREDENTIAL_CLAIMS>;

const ELLIPSIS = '…';

/**
 * `text` cut at a code point boundary to at most `maxBytes` bytes as it is written in the JWS
 * payload (UTF-8 inside a JSON string: a quote or backslash takes two bytes, a control character
 * six), "…" marking a cut. Counting JSON bytes keeps the worst-case URL within QR_URL_BUDGET
 * whatever the characters.
 */
export function cutToBytes(text: string, maxBytes: number): string {
  const encoder = new TextEncoder();
  const payloadBytes = (value: string) => encoder.encode(JSON.stringify(value)).length - 2;
  if (payloadBytes(text) <= maxBytes) return text;
  const budget = maxBytes - payloadBytes(ELLIPSIS);
  let out = '';
  let used = 0;
  for (const char of text) {
    const size = payloadBytes(char);
    if (used + size > budget) break;
    out += char;
    used += size;
  }
  return out + ELLIPSIS;
}

/**
 * The byte string `h` hashes: a JSON array in a fixed order, UTF-8. The verification page's
 * script builds the same array (templates/verify/verify.js), so keep the two in step.
 */
export function canonicalFacts(facts: CertificateFacts): string {
  return JSON.stringify([
    facts.code,
    facts.name,
    facts.course,
    facts.score,
    facts.issued,
    facts.expires ?? '',
    facts.issuer,
  ]);
}

export async function factsHash(facts: CertificateFacts): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonicalFacts(facts)));
  // 128 bits: a forger needs a second preimage of a signed certificate's facts (2^128 work);
  // the other 16 bytes would cost 21 characters of a QR code that has none to spare.
  return base64url.encode(new Uint8Array(digest).slice(0, 16));
}

export async function credentialClaims(facts: CertificateFacts): Promise<CredentialClaims> {
  return {
    c: facts.code,
    n: cutToBytes(facts.name, CLAIM_BUDGETS.name),
    t: cutToBytes(facts.course, CLAIM_BUDGETS.course),
    i: cutToBytes(facts.issuer, CLAIM_BUDGETS.issuer),
    s: facts.score,
    d: facts.issued,
    ...(facts.expires ? { x: facts.expires } : {}),
    h: await factsHash(facts),
  };
}

/** Signs the facts: compact JWS, header { alg: ES256, kid }. */
export async function signCredential(facts: CertificateFacts, key: SigningKey): Promise<string> {
  // The QR code's key: a 256-byte RSA signature would not fit the code's budget, nor would the
  // verification page's ES256 check accept it.
  if (key.alg !== SIGNING_ALGORITHM)
    throw new Error(`the facts are signed with an ${SIGNING_ALGORITHM} key, not ${key.alg}`);
  const claims = await credentialClaims(facts);
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: key.kid })
    .sign(key.privateKey);
}

/** The URL the QR code holds: the fragment (the JWS) never reaches a server or its logs. */
export function credentialUrl(verifyUrl: string, jws: string): string {
  return `${verifyUrl}#${jws}`;
}

export type CredentialCheck =
  | { verdict: 'valid'; kid: string; claims: CredentialClaims; keyState: Exclude<KeyState, 'compromised'> }
  | { verdict: 'revoked-key'; kid: string; claims: CredentialClaims; revokedAt: string | null }
  | { verdict: 'bad-signature' | 'unknown-key' | 'malformed'; kid: string | null; message: string };

const JWS_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Checks a compact JWS against published keys. Only the signature and key are judged here;
 * whether the signed facts match a record is factsMatch().
 */
export async function verifyCredential(jws: string, keys: VerificationKeys): Promise<CredentialCheck> {
  const token = jws.trim();
  if (!JWS_PATTERN.test(token)) return { verdict: 'malformed', kid: null, message: 'not a compact JWS' };
  let kid: string | null = null;
  try {
    const header = decodeProtectedHeader(token);
    kid = typeof header.kid === 'string' ? header.kid : null;
    if (header.alg !== SIGNING_ALGORITHM)
      return { verdict: 'malformed', kid, message: `unexpected algorithm ${String(header.alg)}` };
    // RFC 7515 §4.1.11: a JWS whose `crit` lists what the recipient does not understand is
    // invalid. The issuer sets none, so any `crit` is one this verifier does not understand.
    if (header.crit !== undefined)
      return {
        verdict: 'malformed',
        kid,
        message: 'the JWS has critical header parameters (crit) this verifier does not understand',
      };
  } catch {
    return { verdict: 'malformed', kid: null, message: 'the JWS header does not decode' };
  }
  if (kid === null) return { verdict: 'unknown-key', kid, message: 'the JWS names no key (kid)' };
  const entry = keys.find((key) => key.jwk.kid === kid);
  if (!entry) return { verdict: 'unknown-key', kid, message: `no published key has kid ${kid}` };
  // The RS256 credentials key signs no facts: a JWS naming it was not made by the issuer's printer.
  if (entry.jwk.alg !== SIGNING_ALGORITHM)
    return {
      verdict: 'unknown-key',
      kid,
      message: `key ${kid} is not the issuer's ${SIGNING_ALGORITHM} facts key`,
    };
  // The kid must be the key's own thumbprint: a JWKS cannot relabel one key as another.
  if ((await jwkThumbprint(entry.jwk)) !== kid)
    return { verdict: 'unknown-key', kid, message: `key ${kid} does not match its thumbprint` };
  let payload: Uint8Array;
  try {
    const key = await importJWK({ ...entry.jwk, alg: SIGNING_ALGORITHM }, SIGNING_ALGORITHM);
    ({ payload } = await compactVerify(token, key, { algorithms: [SIGNING_ALGORITHM] }));
  } catch {
    return { verdict: 'bad-signature', kid, message: 'the signature does not match the signed facts' };
  }
  let claims: CredentialClaims;
  try {
    claims = CREDENTIAL_CLAIMS.parse(JSON.parse(new TextDecoder().decode(payload)));
  } catch {
    return { verdict: 'malformed', kid, message: 'the signed payload is not a certificate credential' };
  }
  if (entry.state === 'compromised')
    return { verdict: 'revoked-key', kid, claims, revokedAt: entry.revokedAt ?? null };
  return { verdict: 'valid', kid, claims, keyState: entry.state };
}

/** `shown` is `full`, or a cut of it ("…" ending) as credentialClaims makes with any budget. */
function isCutOf(shown: string, full: string): boolean {
  return shown === full || (shown.endsWith(ELLIPSIS) && full.startsWith(shown.slice(0, -ELLIPSIS.length)));
}

/**
 * Do the signed claims commit to exactly these (full) facts? `h` decides; the cut display
 * fields need only be cuts of the facts, so a later change of CLAIM_BUDGETS leaves every
 * certificate already printed verifiable.
 */
export async function factsMatch(claims: CredentialClaims, facts: CertificateFacts): Promise<boolean> {
  return (
    claims.h === (await factsHash(facts)) &&
    claims.c === facts.code &&
    claims.s === facts.score &&
    claims.d === facts.issued &&
    (claims.x ?? null) === (facts.expires ?? null) &&
    isCutOf(claims.n, facts.name) &&
    isCutOf(claims.t, facts.course) &&
    isCutOf(claims.i, facts.issuer)
  );
}
