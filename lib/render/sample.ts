import type { CertificateContent } from '../certificates/ports.ts';

/** Sample data for previews and for the trial fill that validates a template before saving. */
export const SAMPLE_CONTENT: CertificateContent = {
  certificateId: '00000000-0000-4000-8000-000000000000',
  verificationCode: 'SAMPLE0000000000',
  verifyUrl: 'https://certificates.example.org/verify/SAMPLE0000000000',
  studentName: 'Ada Lovelace',
  courseName: 'Introduction to Analytical Engines',
  score: 97,
  maxScore: 100,
  percentage: 97,
  issuedOn: '2026-01-15',
  locale: 'en',
  issuerName: 'Example Academy',
};
