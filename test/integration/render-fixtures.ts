import { inject } from 'vitest';
import type {
  CertificateContent,
  CertificateRenderer,
  ResolvedTemplate,
} from '../../lib/certificates/ports.ts';
import { createCertificateRenderer, loadDefaultTemplate } from '../../lib/render/renderer.ts';
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

/**
 * The built-in design as a saved template from before the inline QR variables draws it: the code
 * as `<img src="{{ qr_code }}">` in the QR slot, the inline SVG gone. Throws if the design no longer
 * has either, rather than quietly handing back a template that still draws the code inline.
 */
export async function qrImageTemplate(): Promise<ResolvedTemplate> {
  const builtin = await loadDefaultTemplate();
  const slot = /<div class="qr-slot"[^>]*><\/div>/;
  const inline = /<svg class="qr"[\s\S]*?<\/svg>/;
  if (!slot.test(builtin.html) || !inline.test(builtin.html))
    throw new Error('the built-in template has no QR slot or inline QR code to replace');
  return {
    ...builtin,
    version: `${builtin.version}-qr-image`,
    html: builtin.html.replace(inline, '').replace(slot, '<img class="qr-image" src="{{ qr_code }}" alt="">'),
  };
}
