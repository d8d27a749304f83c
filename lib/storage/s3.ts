import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { CertificateStore, Presigner } from '../certificates/ports.ts';
import type { Config } from '../config.ts';
import { ConfigurationError, errorMessage, TransientError } from '../errors.ts';

export type S3Config = Config<'s3'>['s3'];

/**
 * How long an S3 connection may stay silent: the SDK's default is no limit, and generate uploads
 * while it holds the certificate's row lock, so a hung PutObject would hold it until Lambda kills
 * the function (120 s). A PDF of ~50 KB goes in well under a second; a silent socket for this
 * long is a failure, retried (3 attempts) and then a transient error with the normal backoff.
 */
const S3_SOCKET_TIMEOUT_MS = 15_000;
const S3_CONNECT_TIMEOUT_MS = 5_000;

/** One S3 client per container. */
export function createS3Client(
  config: S3Config,
  timeouts: { socketMs?: number; connectMs?: number } = {},
): S3Client {
  return new S3Client({
    region: config.S3_REGION,
    ...(config.S3_ENDPOINT_URL ? { endpoint: config.S3_ENDPOINT_URL } : {}),
    forcePathStyle: config.S3_FORCE_PATH_STYLE ?? config.S3_ENDPOINT_URL !== undefined,
    // S3-compatible servers (s3rver, older MinIO) store the aws-chunked framing of streamed
    // uploads inside the object unless checksums are only sent when required.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: {
      requestTimeout: timeouts.socketMs ?? S3_SOCKET_TIMEOUT_MS,
      connectionTimeout: timeouts.connectMs ?? S3_CONNECT_TIMEOUT_MS,
      // Without it, this SDK version only logs a warning when the timeout passes, and waits on.
      throwOnRequestTimeout: true,
    },
  });
}

// Answers that say the deployment is wrong, not that S3 is having a bad minute: retrying
// soon cannot help (IAM policy, bucket name, region, credentials, a template asset never uploaded).
const CONFIGURATION_CODES = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'NoSuchBucket',
  'NoSuchKey',
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
]);

/** S3 error -> ConfigurationError (403, NoSuchBucket, NoSuchKey...) or TransientError (throttling, 5xx, network). */
function asTransient(error: unknown, operation: string): never {
  const status =
    error instanceof S3ServiceException ? ` (HTTP ${error.$metadata.httpStatusCode ?? '?'})` : '';
  const message = `S3 ${operation} failed${status}: ${errorMessage(error)}`;
  if (
    error instanceof S3ServiceException &&
    (CONFIGURATION_CODES.has(error.name) || error.$metadata.httpStatusCode === 403)
  ) {
    throw new ConfigurationError(
      `${message} [${error.name}]: check S3_BUCKET, S3_REGION and the function's IAM role`,
      's3',
    );
  }
  throw new TransientError(message, 's3');
}

/**
 * RFC 8187 ext-value: percent-encoded UTF-8 where only attr-chars stay literal.
 * encodeURIComponent leaves ' ( ) * ! as they are; ' is the delimiter of `UTF-8''name` and
 * ( ) * are not attr-chars, so a course called "Intro (Advanced)" gave an invalid header.
 */
function extValue(value: string): string {
  return encodeURIComponent(value).replace(
    /['()*!]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** RFC 6266 / 8187 Content-Disposition: an ASCII fallback plus the UTF-8 name. */
export function attachmentDisposition(fileName: string): string {
  const ascii = fileName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._ -]+/g, '_')
    .replace(/_+/g, '_')
    .trim();
  const fallback = ascii.replace(/^[_ .]+|[_ .]+$/g, '') || 'certificate.pdf';
  return `attachment; filename="${fallback}"; filename*=UTF-8''${extValue(fileName)}`;
}

/** The S3 adapter of the domain's storage and presigner ports. */
export type CertificateStorage = CertificateStore & Presigner;

export function createCertificateStorage(client: S3Client, bucket: string): CertificateStorage {
  return {
    async putPdf(key, pdf, metadata) {
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: pdf,
            ContentType: 'application/pdf',
            ContentLength: pdf.byteLength,
            CacheControl: 'private, max-age=31536000, immutable',
            Metadata: metadata,
          }),
        );
      } catch (error) {
        asTransient(error, 'PutObject');
      }
      return { key, bytes: pdf.byteLength };
    },
    async presignGet(key, options) {
      // A URL signed with temporary credentials (a role's session) stops working when they
      // expire, before its own expiry (AWS knowledge center, "presigned URL expiring before the
      // expiration time"): the lifetime handed out is cut to theirs when the SDK knows it.
      // Lambda's own role credentials come without an expiry; README, DOWNLOAD_URL_MAX_TTL_SECONDS.
      const credentials = await client.config.credentials();
      const untilCredentialsExpire = credentials.expiration
        ? Math.floor((credentials.expiration.getTime() - Date.now()) / 1000)
        : Number.POSITIVE_INFINITY;
      const expiresInSeconds = Math.max(1, Math.min(options.expiresInSeconds, untilCredentialsExpire));
      // Signing is local: no network call, so this does not fail when S3 is down.
      const url = await getSignedUrl(
        client,
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          ResponseContentDisposition: attachmentDisposition(options.fileName),
          ResponseContentType: 'application/pdf',
        }),
        { expiresIn: expiresInSeconds },
      );
      return { url, expiresInSeconds };
    },
  };
}
