import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createCertificateStorage } from '../../lib/storage/s3.ts';

// S3 refuses a presigned URL once the session that signed it has ended, whatever the URL's
// X-Amz-Expires says; the lifetime the API reports must be the one the URL really has.

function storageSignedWith(expiration: Date | undefined) {
  const client = new S3Client({
    region: 'us-east-1',
    credentials: async () => ({
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'session',
      ...(expiration ? { expiration } : {}),
    }),
  });
  return createCertificateStorage(client, 'certificates-bucket');
}

const amzExpires = (url: string) => Number(new URL(url).searchParams.get('X-Amz-Expires'));

describe('presigned download URLs', () => {
  it('last no longer than the credentials that sign them', async () => {
    const twoHours = new Date(Date.now() + 2 * 3600 * 1000);
    const link = await storageSignedWith(twoHours).presignGet('certificates/a.pdf', {
      expiresInSeconds: 86_400,
      fileName: 'a.pdf',
    });
    expect(link.expiresInSeconds).toBeLessThanOrEqual(7200);
    expect(link.expiresInSeconds).toBeGreaterThan(7000);
    expect(amzExpires(link.url)).toBe(link.expiresInSeconds);
  });

  it('keep the lifetime asked for when the credentials outlive it or say nothing of their expiry', async () => {
    for (const expiration of [new Date(Date.now() + 12 * 3600 * 1000), undefined]) {
      const link = await storageSignedWith(expiration).presignGet('certificates/a.pdf', {
        expiresInSeconds: 3600,
        fileName: 'a.pdf',
      });
      expect(link.expiresInSeconds).toBe(3600);
      expect(amzExpires(link.url)).toBe(3600);
    }
  });
});
