import { loadConfig } from '../config.ts';
import { logger } from '../observability/logger.ts';
import { createPdfPrinter, loggedPrinterEvents } from '../render/browser.ts';
import { createCertificateRenderer } from '../render/renderer.ts';
import { createS3AssetLoader } from '../storage/asset-loader.ts';
import { createS3Client } from '../storage/s3.ts';
import { once, readDeps } from './deps.ts';
import type { PreviewTemplateDeps } from './routes/preview-template.ts';

/**
 * Dependencies of the template preview route: a browser kept warm between previews. Kept apart
 * from deps.ts so no other function loads Chromium.
 */
const renderer = once(() => {
  const config = loadConfig(['render', 's3']);
  const printer = createPdfPrinter({
    executablePath: config.render.CHROMIUM_EXECUTABLE_PATH,
    profileRoot: config.render.CHROMIUM_PROFILE_ROOT,
    events: loggedPrinterEvents(logger),
  });
  return {
    verifyBaseUrl: config.render.VERIFY_BASE_URL,
    renderer: createCertificateRenderer(printer, {
      timeoutMs: config.render.RENDER_TIMEOUT_MS,
      assetLoader: createS3AssetLoader(createS3Client(config.s3), config.s3.S3_BUCKET),
    }),
  };
});

export const previewDeps = (): PreviewTemplateDeps => ({ ...readDeps(), ...renderer() });
