import { LiquidError } from 'liquidjs';
import { degrees, PDFDocument, rgb, StandardFonts } from 'pdf-lib';
import { z } from 'zod';
import { UUID_PATTERN } from '../certificates/ids.ts';
import type {
  CertificateContent,
  CertificateRenderer,
  RenderResult,
  ResolvedTemplate,
  TemplateRef,
} from '../certificates/ports.ts';
import type { Sql } from '../db/client.ts';
import { ValidationError } from '../errors.ts';
import { parseWith } from '../validation.ts';
import { AssetNotReadableError, assetRefusal, validateAssetRefs } from './assets.ts';
import { SAMPLE_CONTENT } from './sample.ts';
import { validateTemplateSource } from './template-engine.ts';
import { loadTemplateById } from './template-store.ts';

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
    validateTemplateSource(request.template.html, request.template.css, {
      requireFields: request.template.id === null,
    });
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
  const rendered = await renderer.render(content, request.template);
  return { ...rendered, pdf: await stampedAsPreview(rendered.pdf) };
}

export const PREVIEW_STAMP = 'PREVIEW - NOT A CERTIFICATE';

/**
 * The official design, with any name, course, score and issuer a caller types: across each page,
 * in its text layer too, it says it is a preview, so that it cannot pass for an issued
 * certificate on screen or on paper (its code is the sample's, which no verification knows).
 */
async function stampedAsPreview(pdf: Uint8Array): Promise<Uint8Array> {
  const document = await PDFDocument.load(pdf, { updateMetadata: false });
  const font = await document.embedFont(StandardFonts.HelveticaBold);
  for (const page of document.getPages()) {
    const { width, height } = page.getSize();
    const size = Math.min(width, height) / 12;
    const across = font.widthOfTextAtSize(PREVIEW_STAMP, size);
    const angle = Math.atan2(height, width);
    page.drawText(PREVIEW_STAMP, {
      x: width / 2 - (Math.cos(angle) * across) / 2,
      y: height / 2 - (Math.sin(angle) * across) / 2,
      size,
      font,
      color: rgb(0.8, 0.1, 0.1),
      opacity: 0.35,
      rotate: degrees((angle * 180) / Math.PI),
    });
  }
  return await document.save();
}

const uuid = z.string().regex(UUID_PATTERN, 'must be a UUID');

/** Body of POST /api/v1/templates/preview: a stored template (by id), a draft, or the default. */
export const previewRequestSchema = z
  .object({
    templateId: uuid.optional(),
    template: z
      .object({
        html: z.string().min(1),
        css: z.string().optional(),
        locale: z.string().optional(),
        assets: z.record(z.string(), z.string()).optional(),
      })
      .strict()
      .optional(),
    locale: z.string().min(2).max(35).optional(),
    studentName: z.string().optional(),
    courseName: z.string().optional(),
    issuerName: z.string().optional(),
    score: z.number().nonnegative().optional(),
    maxScore: z.number().positive().optional(),
  })
  .strict()
  .refine((body) => !(body.templateId && body.template), 'give templateId or template, not both');

export interface PreviewDeps {
  sql: Sql;
  renderer: CertificateRenderer;
  verifyBaseUrl?: string;
}

export interface PreviewResponse {
  /** data:application/pdf;base64,... */
  pdf: string;
  bytes: number;
  template: TemplateRef;
}

/**
 * The largest PDF a preview answers with. A Lambda behind API Gateway can return at most 6 MiB
 * (6,291,456 bytes) and the PDF travels base64-encoded (4/3 of its size) inside a JSON body
 * inside Lambda's response envelope: past this the caller would get API Gateway's bare 502, so
 * the preview refuses it by name. 64 KiB is left for the envelope, headers and the JSON around it.
 */
export const MAX_PREVIEW_PDF_BYTES = Math.floor(((6 * 1024 * 1024 - 64 * 1024) * 3) / 4);

/** The staff preview use case: validate the request, load or check the template, render sample data. */
export async function previewFromRequest(deps: PreviewDeps, body: unknown): Promise<PreviewResponse> {
  const request = parseWith(previewRequestSchema, body, 'body');
  let template: ResolvedTemplate | undefined;
  if (request.templateId) template = await loadTemplateById(deps.sql, request.templateId);
  else if (request.template)
    template = {
      id: null,
      version: 'draft',
      html: request.template.html,
      css: request.template.css ?? '',
      assets: request.template.assets ?? {},
      locale: request.template.locale ?? null,
    };
  if (request.score !== undefined && request.maxScore !== undefined && request.score > request.maxScore)
    throw new ValidationError('score must not exceed maxScore', 'score');
  // The template checks name a template's own parts (`html`, `css`, `assets`), as a saved template
  // has them; in this body a draft's parts are under `template`, as the schema's own errors name
  // them, and a stored template's fault is the `templateId` that picked it.
  const inBody = (field: string | undefined): string | undefined => {
    if (field !== 'html' && field !== 'css' && field !== 'assets') return field;
    if (request.template) return `template.${field}`;
    return request.templateId ? 'templateId' : field;
  };
  const { pdf, template: used } = await previewTemplate(deps.renderer, {
    template,
    locale: request.locale,
    studentName: request.studentName,
    courseName: request.courseName,
    issuerName: request.issuerName,
    score: request.score,
    maxScore: request.maxScore,
    verifyBaseUrl: deps.verifyBaseUrl,
  }).catch((error: unknown) => {
    // Liquid stopping the fill (its render-time or memory limit, a filter given a bad argument)
    // is the template's fault, not the service's: a 400, as saving the same draft answers, not
    // a 500 that asks the caller to try again.
    if (error instanceof LiquidError)
      throw new ValidationError(`template fails with sample data: ${error.message}`, inBody('html'));
    // For generate a missing logo is an operator's configuration problem (retried later); here
    // the reference is the caller's own draft or pick, and retrying cannot help.
    if (error instanceof AssetNotReadableError)
      throw new ValidationError(assetRefusal(error).message, inBody('assets'));
    if (error instanceof ValidationError && error.field !== inBody(error.field))
      throw new ValidationError(error.message, inBody(error.field));
    throw error;
  });
  // Issued certificates go to S3 and have no such limit; the preview is what cannot carry them.
  if (pdf.byteLength > MAX_PREVIEW_PDF_BYTES)
    throw new ValidationError(
      `the preview PDF is ${pdf.byteLength} bytes, more than the ${MAX_PREVIEW_PDF_BYTES} a preview ` +
        'response can carry: use smaller images',
      inBody('assets'),
    );
  return {
    pdf: `data:application/pdf;base64,${Buffer.from(pdf).toString('base64')}`,
    bytes: pdf.byteLength,
    template: used,
  };
}
