import { assertStaff } from '../../lib/auth/policy.ts';
import { loadConfig } from '../../lib/config.ts';
import { type ReadDeps, readDeps } from '../../lib/http/deps.ts';
import { jsonBody } from '../../lib/http/params.ts';
import { ok } from '../../lib/http/response.ts';
import { authenticatedRoute, lazyHandler } from '../../lib/http/route.ts';
import { createPdfPrinter } from '../../lib/render/browser.ts';
import { type PreviewDeps, previewFromRequest } from '../../lib/render/preview.ts';
import { createCertificateRenderer } from '../../lib/render/renderer.ts';
import { createS3AssetLoader } from '../../lib/storage/asset-loader.ts';
import { createS3Client } from '../../lib/storage/s3.ts';

export type PreviewTemplateDeps = ReadDeps & Omit<PreviewDeps, 'sql'>;

/**
 * POST /api/v1/templates/preview, staff only: renders a stored template (templateId), a draft
 * (template: { html, css, assets, locale }) or the built-in default with sample data, and answers
 * { pdf: "data:application/pdf;base64,...", bytes, template }. Nothing is stored. A draft is
 * validated exactly like a save (unknown field -> 400).
 */
export const createHandler = (deps: PreviewTemplateDeps) =>
  authenticatedRoute(deps, async ({ event, principal }) => {
    assertStaff(principal, 'preview certificate templates');
    return ok(await previewFromRequest(deps, jsonBody(event)));
  });

export const handler = lazyHandler(() => {
  const config = loadConfig(['render', 's3']);
  // Created once per container: the browser stays warm between previews.
  const printer = createPdfPrinter({
    executablePath: config.render.CHROMIUM_EXECUTABLE_PATH,
    profileRoot: config.render.CHROMIUM_PROFILE_ROOT,
  });
  return createHandler({
    ...readDeps(),
    verifyBaseUrl: config.render.VERIFY_BASE_URL,
    renderer: createCertificateRenderer(printer, {
      timeoutMs: config.render.RENDER_TIMEOUT_MS,
      assetLoader: createS3AssetLoader(createS3Client(config.s3), config.s3.S3_BUCKET),
    }),
  });
});
