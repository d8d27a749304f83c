import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type CertificateStorage, createCertificateStorage } from '../../lib/storage/s3.ts';

/**
 * The production S3 adapter plus what only tests need: reading a stored object back. Kept
 * here so lib/ ships only what the functions use.
 */
export interface ReadableStorage extends CertificateStorage {
  getObject(key: string): Promise<Uint8Array>;
}

export function readableStorage(client: S3Client, bucket: string): ReadableStorage {
  return {
    ...createCertificateStorage(client, bucket),
    async getObject(key) {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!response.Body) throw new Error(`empty body for ${key}`);
      return await response.Body.transformToByteArray();
    },
  };
}
