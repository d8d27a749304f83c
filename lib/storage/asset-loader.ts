import { Readable } from 'node:stream';
import { GetObjectCommand, NoSuchKey, type S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { TransientError } from '../errors.ts';
import {
  type AssetLoader,
  AssetNotReadableError,
  assetTooLargeError,
  MAX_ASSET_BYTES,
} from '../render/assets.ts';
import { isS3ConfigurationError } from './s3.ts';

/**
 * Loads template images referenced as s3://bucket/key, from the certificates bucket only (the
 * generate role may read `template-assets/*` there and nothing else). A missing or unreadable
 * object is a configuration error (AssetNotReadableError), not a dead certificate: an operator
 * can upload the logo and the retry then succeeds, instead of every certificate of the course
 * going dead.
 *
 * An object over MAX_ASSET_BYTES is refused on its Content-Length, before its body is read: read
 * whole first, a mistaken upload of hundreds of MB took that much memory from the function
 * Chromium shares, and every render of the course's template could run out of it instead of
 * failing cleanly.
 */
export function createS3AssetLoader(client: S3Client, bucket: string): AssetLoader {
  return async (ref) => {
    const match = /^s3:\/\/([^/]+)\/(template-assets\/.+)$/.exec(ref);
    if (!match || match[1] !== bucket) {
      // A stored template naming another bucket or folder (one saved before saving checked it):
      // an operator fixes the template, as for a missing logo; never every certificate dead. A
      // preview's 400 says it from `problem`, which names their reference, never our bucket.
      const problem =
        'is not in the certificates bucket under template-assets/, the only folder the functions may read';
      throw new AssetNotReadableError(ref, `template asset ${ref} ${problem}`, 's3', problem);
    }
    try {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: match[2] }));
      if (!response.Body) throw new Error('empty body');
      if (response.ContentLength !== undefined && response.ContentLength > MAX_ASSET_BYTES) {
        await discard(response.Body);
        throw assetTooLargeError(ref, response.ContentLength);
      }
      return {
        contentType: response.ContentType ?? 'application/octet-stream',
        body: await response.Body.transformToByteArray(),
      };
    } catch (error) {
      if (error instanceof AssetNotReadableError) throw error;
      const detail =
        error instanceof NoSuchKey
          ? 'not found'
          : error instanceof S3ServiceException
            ? `HTTP ${error.$metadata.httpStatusCode ?? '?'} ${error.name}`
            : error instanceof Error
              ? error.message
              : String(error);
      const message = `template asset ${ref} could not be read: ${detail}`;
      // Never uploaded, not readable by this role, or the bucket, region or credentials wrong (as
      // a shell's settings for `npm run template` can be): an operator must act, retrying won't help.
      if (error instanceof NoSuchKey) throw new AssetNotReadableError(ref, message, 's3');
      if (isS3ConfigurationError(error))
        throw new AssetNotReadableError(ref, `${message}: check S3_BUCKET, S3_REGION and the IAM role`, 's3');
      throw new TransientError(message, 's3');
    }
  };
}

/** Closes a response body left unread, so its connection does not stay open on the rest of it. */
async function discard(body: unknown): Promise<void> {
  if (body instanceof Readable) body.destroy();
  else if (body instanceof ReadableStream) await body.cancel();
}
