import { afterAll, describe, expect, inject, it } from 'vitest';
import { createPdfPrinter } from '../../lib/render/browser.ts';
import { createCertificateRenderer } from '../../lib/render/renderer.ts';
import { pdfText } from '../support/pdf.ts';

const printer = createPdfPrinter({ executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH });
const renderer = createCertificateRenderer(printer, { timeoutMs: 30_000 });
afterAll(async () => {
  await renderer.close();
});

describe('renderer smoke', () => {
  it('prints an escaped certificate to PDF', async () => {
    const { pdf } = await renderer.render({
      certificateId: '3f1c1d9e-0000-4000-8000-000000000001',
      verificationCode: 'ABC',
      verifyUrl: 'https://example.org/verify/ABC',
      studentName: '<script>alert(1)</script> Ada',
      courseName: 'Intro to Testing',
      score: 90,
      maxScore: 100,
      percentage: 90,
      issuedOn: '2026-11-24',
      locale: 'en',
      issuerName: 'Example Academy',
    });
    expect(Buffer.from(pdf.subarray(0, 5)).toString()).toBe('%PDF-');
    const text = await pdfText(pdf);
    expect(text).toContain('<script>alert(1)</script> Ada');
    expect(text).toContain('Intro to Testing');
  });
});
