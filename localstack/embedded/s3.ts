import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';

export interface EmbeddedS3 {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * An S3-compatible server (s3rver) on loopback, the stand-in for LocalStack/MinIO where
 * Docker is not available. It does not check SigV4 signatures, so tests cannot prove a
 * signature wrong against it; expiry of presigned URLs is enforced.
 */
export async function startS3(options: {
  directory: string;
  buckets: string[];
  port?: number;
}): Promise<EmbeddedS3> {
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    // Port 0 unless one is asked for: the kernel picks, and run() says which (no probe race).
    port: options.port ?? 0,
    silent: true,
    directory: options.directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      await server.close();
    },
  };
}
