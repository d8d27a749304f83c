import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  type ObjectIdentifier,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type {
  CertificateFileEraser,
  CertificateStore,
  Presigner,
  PurgedFiles,
} from '../certificates/ports.ts';
import type { Config } from '../config.ts';
import { ConfigurationError, errorMessage, TransientError, ValidationError } from '../errors.ts';
import { requestTimeouts } from '../request-timeouts.ts';

export type S3Config = Config<'s3'>['s3'];

/**
 * How long one S3 request may take to be answered (from its start to the response's headers, the
 * upload of the body included: requestTimeout) and how long its connection may then stay silent
 * (socketTimeout, the response's body). The SDK's defaults are no limit, and generate uploads
 * while it holds the certificate's row lock, so a hung PutObject would hold it until Lambda kills
 * the function (120 s). A PDF of ~50 KB goes in well under a second, a template asset (at most
 * 2 MB) in a few inside AWS; a request over this is a failure, retried (3 attempts) and then a
 * transient error with the normal backoff.
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
    requestHandler: requestTimeouts({
      answerMs: timeouts.socketMs ?? S3_SOCKET_TIMEOUT_MS,
      connectMs: timeouts.connectMs ?? S3_CONNECT_TIMEOUT_MS,
    }),
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

/** An S3 answer that an operator must act on (bucket, region, credentials, policy, a missing key). */
export function isS3ConfigurationError(error: unknown): error is S3ServiceException {
  return (
    error instanceof S3ServiceException &&
    (CONFIGURATION_CODES.has(error.name) || error.$metadata.httpStatusCode === 403)
  );
}

/** S3 error -> ConfigurationError (403, NoSuchBucket, NoSuchKey...) or TransientError (throttling, 5xx, network). */
function asTransient(error: unknown, operation: string): never {
  const status =
    error instanceof S3ServiceException ? ` (HTTP ${error.$metadata.httpStatusCode ?? '?'})` : '';
  const message = `S3 ${operation} failed${status}: ${errorMessage(error)}`;
  if (isS3ConfigurationError(error)) {
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

// ---- erasure (operator tooling only) ----

/** The most keys one listing page returns and one DeleteObjects call takes. */
const MAX_PAGE_SIZE = 1000;

/**
 * The server has no versioning API at all: s3rver (the local and test stand-in) answers
 * ListObjectVersions with MethodNotAllowed, other S3-compatible servers with NotImplemented.
 * Anything else (AccessDenied for a missing s3:ListBucketVersions above all) is an error: falling
 * back would leave every older version in a versioned bucket and report success.
 */
function hasNoVersioningApi(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === 'NotImplemented' ||
      error.name === 'MethodNotAllowed' ||
      error.$metadata.httpStatusCode === 501 ||
      error.$metadata.httpStatusCode === 405)
  );
}

/**
 * The S3 adapter of the domain's CertificateFileEraser: a listing of every version and delete
 * marker (ListObjectVersions) deleted page by page (DeleteObjects), or, from a server with no
 * versioning API, the current objects (ListObjectsV2). A separate factory from
 * createCertificateStorage, so the functions never hold a way to delete.
 */
export function createCertificateFileEraser(
  client: S3Client,
  bucket: string,
  tuning: { pageSize?: number } = {},
): CertificateFileEraser {
  // Smaller pages only in tests, to see the pagination without a thousand objects.
  const pageSize = Math.min(tuning.pageSize ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE);
  async function deleteAll(objects: ObjectIdentifier[]): Promise<void> {
    // DeleteObjects takes at most 1000 keys per call.
    for (let start = 0; start < objects.length; start += MAX_PAGE_SIZE)
      await deleteBatch(objects.slice(start, start + MAX_PAGE_SIZE));
  }

  async function deleteBatch(objects: ObjectIdentifier[]): Promise<void> {
    let errors: { Key?: string; Code?: string; Message?: string }[] = [];
    try {
      const response = await client.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }),
      );
      errors = response.Errors ?? [];
    } catch (error) {
      asTransient(error, 'DeleteObjects');
    }
    // DeleteObjects answers 200 with a list of the keys it could not delete (AccessDenied for a
    // missing s3:DeleteObjectVersion): that is a failure, not a partial success to report.
    const [first] = errors;
    if (first) {
      const message = `S3 DeleteObjects failed for ${errors.length} of ${objects.length} object version(s): ${first.Key ?? '?'}: ${first.Code ?? '?'} ${first.Message ?? ''}`;
      if (first.Code === 'AccessDenied')
        throw new ConfigurationError(`${message}: the caller needs s3:DeleteObjectVersion`, 's3');
      throw new TransientError(message, 's3');
    }
  }

  /**
   * Every page of a listing, as `list(marker)` gives them, each deleted (unless a dry run) before
   * the next is asked for. A dry run pages on with the listing's own marker. A real run lists from
   * the start again after each deletion: the marker would name a version just deleted, and servers
   * do not all go on from a position that no longer exists (moto ends the listing there). An entry
   * listed again after its deletion stops it, rather than looping.
   */
  async function purgePages<Marker>(
    list: (
      marker: Marker | undefined,
    ) => Promise<{ entries: ObjectIdentifier[]; markers: number; next?: Marker }>,
    dryRun: boolean,
  ): Promise<{ versions: number; deleteMarkers: number }> {
    const totals = { versions: 0, deleteMarkers: 0 };
    const deleted = new Set<string>();
    let marker: Marker | undefined;
    for (;;) {
      const page = await list(dryRun ? marker : undefined);
      totals.deleteMarkers += page.markers;
      totals.versions += page.entries.length - page.markers;
      if (!dryRun) {
        for (const entry of page.entries) {
          const id = `${entry.Key ?? ''}\u0000${entry.VersionId ?? ''}`;
          if (deleted.has(id))
            throw new TransientError(`S3 still lists ${entry.Key ?? '?'} after deleting it`, 's3');
          deleted.add(id);
        }
        await deleteAll(page.entries);
      }
      if (page.next === undefined || page.entries.length === 0) return totals;
      marker = page.next;
    }
  }

  async function purgeCurrentObjects(prefix: string, dryRun: boolean): Promise<PurgedFiles> {
    const totals = await purgePages<string>(async (token) => {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            MaxKeys: pageSize,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
      } catch (error) {
        asTransient(error, 'ListObjectsV2');
      }
      const entries = (page.Contents ?? []).flatMap((object) => (object.Key ? [{ Key: object.Key }] : []));
      return {
        entries,
        markers: 0,
        ...(page.IsTruncated && page.NextContinuationToken ? { next: page.NextContinuationToken } : {}),
      };
    }, dryRun);
    return { prefix, listing: 'current-objects', ...totals };
  }

  return {
    async purgePrefix(prefix, options = {}) {
      // An empty prefix is the whole bucket.
      if (prefix.replace(/\/+/g, '') === '')
        throw new ValidationError('prefix must name a folder or a key, not the whole bucket', 'prefix');
      const dryRun = options.dryRun ?? false;
      let first = true;
      let unversioned = false;
      const totals = await purgePages<{ key: string; versionId?: string }>(async (marker) => {
        let page: ListObjectVersionsCommandOutput;
        try {
          page = await client.send(
            new ListObjectVersionsCommand({
              Bucket: bucket,
              Prefix: prefix,
              MaxKeys: pageSize,
              ...(marker ? { KeyMarker: marker.key, VersionIdMarker: marker.versionId } : {}),
            }),
          );
        } catch (error) {
          if (first && hasNoVersioningApi(error)) {
            unversioned = true;
            return { entries: [], markers: 0 };
          }
          asTransient(error, 'ListObjectVersions');
        }
        first = false;
        const versions = (page.Versions ?? []).flatMap((version) =>
          version.Key ? [{ Key: version.Key, VersionId: version.VersionId }] : [],
        );
        const markers = (page.DeleteMarkers ?? []).flatMap((deleteMarker) =>
          deleteMarker.Key ? [{ Key: deleteMarker.Key, VersionId: deleteMarker.VersionId }] : [],
        );
        return {
          entries: [...versions, ...markers],
          markers: markers.length,
          ...(page.IsTruncated && page.NextKeyMarker
            ? { next: { key: page.NextKeyMarker, versionId: page.NextVersionIdMarker } }
            : {}),
        };
      }, dryRun);
      if (unversioned) return await purgeCurrentObjects(prefix, dryRun);
      return { prefix, listing: 'all-versions', ...totals };
    },
  };
}
