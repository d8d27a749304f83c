/**
 * LinkedIn's "Add to Profile" link for a certification: the member lands on the add-certification
 * form with every field filled in, and the credential URL points back at our public
 * verification page, so whoever reads the profile can check the certificate.
 * Parameters as LinkedIn documents them for Add to Profile (certifications): startTask,
 * name, organizationId or organizationName, issueYear, issueMonth, expirationYear,
 * expirationMonth, certUrl, certId. Built with URLSearchParams so every script is encoded.
 */

const ADD_TO_PROFILE = 'https://www.linkedin.com/profile/add';

export interface LinkedInCertification {
  /** The certification's name on the profile: the course title as printed. */
  courseName: string;
  /** Issue date as printed, YYYY-MM-DD. */
  issuedOn: string;
  /** When the certificate stops being valid, if it ever does. */
  expiresAt?: Date | null;
  verificationCode: string;
  /** The public verification page of this certificate. */
  verifyUrl: string;
}

export interface LinkedInIssuer {
  /** LinkedIn's numeric id of the issuing organisation's page: links the profile entry to it. */
  organizationId?: string;
  /** Used when no organisation id is configured. */
  organizationName: string;
}

function yearMonth(isoDate: string): { year: string; month: string } {
  const match = /^(\d{4})-(\d{2})-\d{2}/.exec(isoDate);
  if (!match?.[1] || !match[2]) throw new Error(`not an ISO date: ${isoDate}`);
  // LinkedIn wants the month as a number without a leading zero.
  return { year: match[1], month: String(Number(match[2])) };
}

export function linkedInAddToProfileUrl(certificate: LinkedInCertification, issuer: LinkedInIssuer): string {
  const issued = yearMonth(certificate.issuedOn);
  const params = new URLSearchParams({ startTask: 'CERTIFICATION_NAME', name: certificate.courseName });
  if (issuer.organizationId) params.set('organizationId', issuer.organizationId);
  else params.set('organizationName', issuer.organizationName);
  params.set('issueYear', issued.year);
  params.set('issueMonth', issued.month);
  if (certificate.expiresAt) {
    const expires = yearMonth(certificate.expiresAt.toISOString());
    params.set('expirationYear', expires.year);
    params.set('expirationMonth', expires.month);
  }
  params.set('certUrl', certificate.verifyUrl);
  params.set('certId', certificate.verificationCode);
  return `${ADD_TO_PROFILE}?${params.toString()}`;
}
