/**
 * The facts a certificate states, as signed into its credential (QR code and PDF attachment).
 * Locale-independent, so the page and the offline verifier can compare them with a record.
 */
export interface CertificateFacts {
  /** Verification code (the URL path segment). */
  code: string;
  /** Student name exactly as printed. */
  name: string;
  /** Course title exactly as printed. */
  course: string;
  /** Score line, locale-independent: "87.5/100". */
  score: string;
  /** Issue date, YYYY-MM-DD. */
  issued: string;
  /** Expiry date, YYYY-MM-DD, when the certificate expires. */
  expires?: string | null;
  /** Issuer name as printed. */
  issuer: string;
}

/** Score line as signed: plain numbers, no locale formatting ("87.5/100"). */
export function scoreLine(score: number, maxScore: number): string {
  return `${score}/${maxScore}`;
}

export interface SignedCredential {
  /** Compact JWS (ES256) of the facts. */
  jws: string;
  /** Key id (RFC 7638 thumbprint) of the key that signed it. */
  kid: string;
}

/** Signs a certificate's facts with the issuer's current key. Unavailable key -> TransientError. */
export interface CredentialSigner {
  sign(facts: CertificateFacts): Promise<SignedCredential>;
}
