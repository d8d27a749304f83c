import type { CertificateFacts } from '../certificates/facts.ts';

/**
 * The contract between the issuing pipeline and the renderer. The pipeline decides *what* is
 * printed (this content becomes the certificate's snapshot); the renderer decides *how*.
 */
export interface CertificateContent {
  certificateId: string;
  verificationCode: string;
  /** Full URL the QR code points to (VERIFY_BASE_URL + verification code). */
  verifyUrl: string;
  studentName: string;
  courseName: string;
  score: number;
  maxScore: number;
  /** 0-100, two decimals. */
  percentage: number;
  /** ISO date (YYYY-MM-DD) of issue. */
  issuedOn: string;
  /** BCP 47 locale chosen for labels, dates and numbers (en, de, fr, es, ru, zh, ar...). */
  locale: string;
  issuerName: string;
  /**
   * The signed credential: the QR code then holds `verifyUrl#jws`, and the JWS and the full
   * facts it commits to are attached to the PDF (certificate.jwt, certificate-facts.json).
   */
  credential?: { jws: string; facts: CertificateFacts };
}

/** The template that printed a certificate: recorded with it so a later edit changes nothing issued. */
export interface TemplateRef {
  /** Row id in certificate_templates, or null for the built-in default from templates/. */
  id: string | null;
  version: string;
}

export interface RenderResult {
  pdf: Uint8Array;
  template: TemplateRef;
}

export interface CertificateRenderer {
  /** Renders one certificate to PDF. Browser crash or timeout -> TransientError. */
  render(content: CertificateContent, template?: ResolvedTemplate): Promise<RenderResult>;
  close(): Promise<void>;
}

export interface ResolvedTemplate extends TemplateRef {
  html: string;
  css: string;
  /** Image references by name (logo, signature, seal, background): templates/..., s3://..., data:. */
  assets?: Record<string, string>;
  /** Locale the template was written for; used only when the content has none. */
  locale?: string | null;
}
