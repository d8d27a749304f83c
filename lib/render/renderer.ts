import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Liquid } from 'liquidjs';
import type { PdfPrinter } from './browser.ts';
import type { CertificateContent, CertificateRenderer, ResolvedTemplate } from './types.ts';

const TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

// Liquid: no code execution in templates, and every output escaped unless a template says `raw`.
const engine = new Liquid({
  outputEscape: 'escape',
  strictFilters: true,
  strictVariables: true,
  cache: true,
});

const LABELS = {
  title: 'Certificate of Completion',
  presented_to: 'This certifies that',
  for_completing: 'has successfully completed',
  score: 'Score',
  issued_on: 'Issued on',
  certificate_id: 'Certificate ID',
};

let defaultTemplate: Promise<ResolvedTemplate> | undefined;

export function loadDefaultTemplate(): Promise<ResolvedTemplate> {
  defaultTemplate ??= (async () => ({
    id: null,
    version: 'builtin-1',
    html: await readFile(`${TEMPLATES_DIR}default/template.liquid`, 'utf8'),
    css: await readFile(`${TEMPLATES_DIR}default/style.css`, 'utf8'),
  }))();
  return defaultTemplate;
}

export function createCertificateRenderer(
  printer: PdfPrinter,
  options: { timeoutMs: number },
): CertificateRenderer {
  return {
    async render(content: CertificateContent, template?: ResolvedTemplate) {
      const chosen = template ?? (await loadDefaultTemplate());
      const percent = new Intl.NumberFormat(content.locale, {
        style: 'percent',
        maximumFractionDigits: 2,
      }).format(content.percentage / 100);
      const html = await engine.parseAndRender(chosen.html, {
        locale: content.locale,
        dir: 'ltr',
        css: chosen.css,
        labels: LABELS,
        student_name: content.studentName,
        course_name: content.courseName,
        score: content.score,
        max_score: content.maxScore,
        percentage: percent,
        issued_on: content.issuedOn,
        certificate_id: content.certificateId,
        issuer_name: content.issuerName,
        verify_url: content.verifyUrl,
      });
      const pdf = await printer.print(html, { timeoutMs: options.timeoutMs });
      return { pdf, template: { id: chosen.id, version: chosen.version } };
    },
    close: () => printer.close(),
  };
}
