import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, TransientError } from '../../lib/errors.ts';
import { createCertificateStorage } from '../../lib/storage/s3.ts';

// What S3 answers decides what the pipeline does: a setup problem waits an hour and is
// reported; throttling and 5xx are retried with the normal backoff. The S3 stand-in cannot
// refuse with 403 (s3rver checks no signatures), so the service's answer is made here.

function failingStorage(name: string, status: number) {
  const client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  client.send = (async () => {
    throw new S3ServiceException({
      name,
      $fault: status >= 500 ? 'server' : 'client',
      $metadata: { httpStatusCode: status },
    });
  }) as S3Client['send'];
  return createCertificateStorage(client, 'certificates-bucket');
}

const put = (name: string, status: number) =>
  failingStorage(name, status)
    .putPdf('certificates/a.pdf', new Uint8Array([1]), {})
    .catch((error: unknown) => error);

describe('S3 error classification', () => {
  it.each([
    ['AccessDenied', 403],
    ['NoSuchBucket', 404],
    ['InvalidAccessKeyId', 403],
  ])('%s (%i) is a configuration error naming what to check', async (name, status) => {
    const error = await put(name, status);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(String(error)).toMatch(/check S3_BUCKET, S3_REGION and the function's IAM role/);
  });

  it.each([
    ['SlowDown', 503],
    ['InternalError', 500],
  ])('%s (%i) is transient', async (name, status) => {
    const error = await put(name, status);
    expect(error).toBeInstanceOf(TransientError);
    expect(error).not.toBeInstanceOf(ConfigurationError);
  });
});
