import { inject } from 'vitest';
import type { CertificateContent, CertificateRenderer } from '../../lib/certificates/ports.ts';
import { createCertificateRenderer } from '../../lib/render/renderer.ts';
import { createObservedPrinter, type ObservedPrinter } from '../support/observed-printer.ts';

export function createTestRenderer(): { printer: ObservedPrinter; renderer: CertificateRenderer } {
  const printer = createObservedPrinter({
    executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH,
    maxPages: 1,
  });
  return { printer, renderer: createCertificateRenderer(printer, { timeoutMs: 30_000 }) };
}

export function content(overrides: Partial<CertificateContent> = {}): CertificateContent {
  return {
    certificateId: '3f1c1d9e-5b7a-4c1e-9f00-0000000000a1',
    verificationCode: 'K7Q2M9X4T8B3N6PZ',
    verifyUrl: 'https://certificates.example.org/verify/K7Q2M9X4T8B3N6PZ',
    studentName: 'Ada Lovelace',
    courseName: 'Introduction to Testing',
    score: 87.5,
    maxScore: 100,
    percentage: 87.5,
    issuedOn: '2026-03-14',
    locale: 'en',
    issuerName: 'Northbridge Academy',
    ...overrides,
  };
}

/** Whitespace-insensitive view of extracted text: wrapped lines break where a space was. */
export function squash(text: string): string {
  return text.replace(/\s+/gu, '');
}
