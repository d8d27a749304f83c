import { validateAssetRefs } from './assets.ts';
import { SAMPLE_CONTENT } from './sample.ts';
import { validateTemplateSource } from './template-engine.ts';
import type { CertificateContent, CertificateRenderer, RenderResult, ResolvedTemplate } from './types.ts';

export interface PreviewRequest {
  /** A stored template, or a draft (validated first); the built-in default when absent. */
  template?: ResolvedTemplate;
  locale?: string;
  studentName?: string;
  courseName?: string;
  issuerName?: string;
  score?: number;
  maxScore?: number;
  verifyBaseUrl?: string;
}

/**
 * Renders a template with sample data (staff preview, `npm run preview`). Nothing is stored.
 * Hostile or oversized sample values are refused by the same rules as real certificates.
 */
export async function previewTemplate(
  renderer: CertificateRenderer,
  request: PreviewRequest,
): Promise<RenderResult> {
  if (request.template) {
    validateTemplateSource(request.template.html, request.template.css);
    validateAssetRefs(request.template.assets);
  }
  const score = request.score ?? SAMPLE_CONTENT.score;
  const maxScore = request.maxScore ?? SAMPLE_CONTENT.maxScore;
  const verifyUrl = request.verifyBaseUrl
    ? `${request.verifyBaseUrl.replace(/\/+$/, '')}/${SAMPLE_CONTENT.verificationCode}`
    : SAMPLE_CONTENT.verifyUrl;
  const content: CertificateContent = {
    ...SAMPLE_CONTENT,
    verifyUrl,
    locale: request.locale ?? request.template?.locale ?? SAMPLE_CONTENT.locale,
    studentName: request.studentName ?? SAMPLE_CONTENT.studentName,
    courseName: request.courseName ?? SAMPLE_CONTENT.courseName,
    issuerName: request.issuerName ?? SAMPLE_CONTENT.issuerName,
    score,
    maxScore,
    percentage: maxScore > 0 ? Math.round((score / maxScore) * 10000) / 100 : 0,
  };
  return renderer.render(content, request.template);
}
