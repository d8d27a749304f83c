// First, for its side effect: on Lambda, what Chromium needs in /tmp is extracted while the rest loads.
import '../lib/render/prestart.ts';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import {
  type GenerateOutcome,
  generateCertificate,
  generateOptionsFromConfig,
} from '../lib/certificates/generate.ts';
import { uuidSchema } from '../lib/certificates/ids.ts';
import type { GenerateDeps } from '../lib/certificates/ports.ts';
import { loadConfig } from '../lib/config.ts';
import {
  createOpenBadgeIssuer,
  credentialSettingsFromConfig,
} from '../lib/credentials/credential-service.ts';
import { signingKeyFromSecret } from '../lib/credentials/key-source.ts';
import { createKeyStateReader } from '../lib/credentials/key-store.ts';
import { CREDENTIAL_SIGNING_ALGORITHM } from '../lib/credentials/keys.ts';
import { createCredentialSigner, createIssuerKey } from '../lib/credentials/signer.ts';
import { createSql } from '../lib/db/client.ts';
import { createKeycloakDirectory, keycloakOptionsFromConfig } from '../lib/identity/keycloak-directory.ts';
import { logger } from '../lib/observability/logger.ts';
import { flushMetrics, pipelineMetrics } from '../lib/observability/metrics.ts';
import { createPdfPrinter, loggedPrinterEvents } from '../lib/render/browser.ts';
import { scriptsOf } from '../lib/render/fonts.ts';
import { createCertificateRenderer } from '../lib/render/renderer.ts';
import { createTemplateResolver } from '../lib/render/template-store.ts';
import { defaultSecretStore, prefetch, secretSource } from '../lib/secrets/secret-store.ts';
import { createS3AssetLoader } from '../lib/storage/asset-loader.ts';
import { createCertificateStorage, createS3Client } from '../lib/storage/s3.ts';

// Cold start: configuration and clients once per container; the browser is launched on first
// use and kept warm (and relaunched if it crashed) across invocations.
const config = loadConfig([
  'db',
  's3',
  'keycloak',
  'pipeline',
  'render',
  'signing',
  'credentialSigning',
  'credentials',
  'secrets',
]);

// The private keys: read at cold start (prefetch), kept only as non-extractable CryptoKeys.
const signingKeySecret = prefetch(
  secretSource(defaultSecretStore, config.signing.SIGNING_KEY, config.signing.SIGNING_KEY_ARN),
);
const credentialKeySecret = prefetch(
  secretSource(
    defaultSecretStore,
    config.credentialSigning.CREDENTIAL_SIGNING_KEY,
    config.credentialSigning.CREDENTIAL_SIGNING_KEY_ARN,
  ),
);

export const printer = createPdfPrinter({
  executablePath: config.render.CHROMIUM_EXECUTABLE_PATH,
  profileRoot: config.render.CHROMIUM_PROFILE_ROOT,
  events: loggedPrinterEvents(logger),
});

const sql = createSql(config.db, { applicationName: 'certificates-generate' });
// One per key and container: the ES256 key signs the facts (QR code), the RS256 key the Open
// Badges credential; a certificate's two signatures are made at once, after one statement reads
// both keys' states. Each reload asks the store itself: the signer keeps the key as long as the
// store's cache would keep the secret, and the two clocks start apart, so a cached read could
// hand back the old key for a second period after a rotation.
const keyOptions = {
  reloadAfterMs: config.secrets.SECRETS_CACHE_SECONDS * 1000,
  readState: createKeyStateReader(sql),
};
const issuerKey = createIssuerKey(
  sql,
  () => signingKeyFromSecret(() => signingKeySecret({ fresh: true })),
  keyOptions,
);
const credentialKey = createIssuerKey(
  sql,
  () => signingKeyFromSecret(() => credentialKeySecret({ fresh: true }), CREDENTIAL_SIGNING_ALGORITHM),
  keyOptions,
);
const s3 = createS3Client(config.s3);

const renderer = createCertificateRenderer(printer, {
  timeoutMs: config.render.RENDER_TIMEOUT_MS,
  assetLoader: createS3AssetLoader(s3, config.s3.S3_BUCKET),
  onMissingGlyphs: (codePoints, content) =>
    // How many and in which scripts, never which: in a student's name they would spell it out.
    logger.warn('Certificate text has characters no shipped font can draw', {
      certificate_id: content.certificateId,
      characters: codePoints.length,
      scripts: scriptsOf(codePoints),
    }),
  onFreshPage: (reason, content) =>
    logger.info('Certificate printed on a fresh page, not the loaded template page', {
      certificate_id: content.certificateId,
      reason: reason.slice(0, 300),
    }),
});

const deps: GenerateDeps = {
  sql,
  directory: createKeycloakDirectory(keycloakOptionsFromConfig(config.keycloak)),
  renderer,
  storage: createCertificateStorage(s3, config.s3.S3_BUCKET),
  // The course's newest template, else the organisation default, else the built-in one.
  resolveTemplate: createTemplateResolver(sql),
  signer: createCredentialSigner(issuerKey),
  // The Open Badges 3.0 credential attached to the PDF, signed with the credentials key (RS256).
  openBadge: createOpenBadgeIssuer({ key: credentialKey }, credentialSettingsFromConfig(config)),
  metrics: pipelineMetrics(),
  log: logger,
};

const options = generateOptionsFromConfig(config);

/**
 * Cold start: the browser starts (once what prestart.ts began extracting is there) and loads
 * the built-in template's page for the default locale while the container finishes starting
 * and, at the latest, when the first event arrives: it overlaps the claim, the Keycloak lookup
 * and the signing instead of following them. On Lambda that begins during init; elsewhere
 * (tests, serverless offline) only with an event, so importing this module launches nothing. A
 * failed warm-up is not an error: the render launches again and reports it.
 */
let warmed = false;
const warmRenderer = (): void => {
  if (warmed) return;
  warmed = true;
  renderer.warm(options.defaultLocale).catch(() => {
    warmed = false;
  });
};
if (process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined && process.env.IS_OFFLINE === undefined)
  warmRenderer();

// Lower-cased: the S3 key and the printed id are built from it, and a manual invoke in upper
// case must name the same object as the scan's own invocations.
const eventSchema = z.object({ certificateId: uuidSchema });

export type GenerateResponse = GenerateOutcome | { status: 'rejected'; reason: string };

/**
 * One certificate per (async) invocation. Handled failures are recorded and returned, never
 * thrown: a platform retry would only repeat work the state machine already schedules. It
 * throws only when it could not even record the outcome (database down); the lease then
 * expires and the scan hands the certificate out again.
 */
let leaseChecked = false;

export const handler = async (event: unknown, context?: Context): Promise<GenerateResponse> => {
  if (context) logger.addContext(context);
  if (context && !leaseChecked) {
    leaseChecked = true;
    // The configured lease must outlive this invocation, or a slow but live worker is taken over
    // (its write is then refused, but the work is wasted): say so loudly once per container.
    if (context.getRemainingTimeInMillis() >= options.leaseSeconds * 1000) {
      logger.error('LEASE_SECONDS does not exceed this function timeout; raise LEASE_SECONDS', {
        lease_seconds: options.leaseSeconds,
        remaining_ms: context.getRemainingTimeInMillis(),
      });
      deps.metrics?.configurationError?.('lambda');
    }
  }
  const parsed = eventSchema.safeParse(event);
  if (parsed.success) warmRenderer();
  if (!parsed.success) {
    logger.error('Rejected generate event: expected { "certificateId": "<uuid>" }');
    return { status: 'rejected', reason: 'invalid event' };
  }
  try {
    return await generateCertificate(deps, options, parsed.data.certificateId);
  } finally {
    flushMetrics();
  }
};
