import { createServer, type Socket } from 'node:net';
import { type GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it, vi } from 'vitest';
import { ConfigurationError, TransientError } from '../../lib/errors.ts';
import { AssetNotReadableError } from '../../lib/render/assets.ts';
import { createS3AssetLoader } from '../../lib/storage/asset-loader.ts';
import { attachmentDisposition, createCertificateStorage, createS3Client } from '../../lib/storage/s3.ts';
import { stallingServer } from '../support/stalling-server.ts';

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

const s3At = (port: number) => ({
  S3_BUCKET: 'certificates-bucket',
  S3_ENDPOINT_URL: `http://127.0.0.1:${port}`,
  S3_REGION: 'us-east-1',
  S3_FORCE_PATH_STYLE: true,
  S3_KEY_PREFIX: '',
});

const put = (name: string, status: number) =>
  failingStorage(name, status)
    .putPdf('certificates/a.pdf', new Uint8Array([1]), {})
    .catch((error: unknown) => error);

describe('S3 error classification', () => {
  it('an S3 endpoint that accepts the connection and never answers is a transient error, not a hang', async () => {
    // The SDK's default would wait forever, holding generate's row lock until Lambda's kill.
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    try {
      const client = createS3Client(
        {
          S3_BUCKET: 'certificates-bucket',
          S3_ENDPOINT_URL: `http://127.0.0.1:${address.port}`,
          S3_REGION: 'us-east-1',
          S3_FORCE_PATH_STYLE: true,
          S3_KEY_PREFIX: '',
        },
        { socketMs: 200 },
      );
      const error = await createCertificateStorage(client, 'certificates-bucket')
        .putPdf('certificates/a.pdf', new Uint8Array([1]), {})
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TransientError);
      expect(error).not.toBeInstanceOf(ConfigurationError);
      // Each of the SDK's three attempts opened a connection that stayed silent.
      expect(sockets.length).toBe(3);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
      vi.unstubAllEnvs();
    }
  });

  it('an answer whose body stops half way is a transient error after the retries, not a hang', async () => {
    // Headers arrive, then silence: the SDK's requestTimeout has ended by then (it stops at the
    // headers), so only the socket timeout bounds the rest (aws/aws-sdk-js-v3#8098).
    const stalled = await stallingServer(
      'HTTP/1.1 503 Slow Down\r\ncontent-type: application/xml\r\ncontent-length: 200\r\n\r\n<Error><Code>SlowDown</Code>',
    );
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    try {
      const client = createS3Client(s3At(stalled.port), { socketMs: 200 });
      const error = await createCertificateStorage(client, 'certificates-bucket')
        .putPdf('certificates/a.pdf', new Uint8Array([1]), {})
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TransientError);
      // The SDK tried again each time, as with any other timeout.
      expect(stalled.requests()).toBe(3);

      // A template asset whose download stops half way (200, then silence) fails too.
      const ok = await stallingServer(
        'HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: 1000\r\n\r\n0123456789',
      );
      try {
        const loader = createS3AssetLoader(
          createS3Client(s3At(ok.port), { socketMs: 200 }),
          'certificates-bucket',
        );
        await expect(loader('s3://certificates-bucket/template-assets/logo.png')).rejects.toBeInstanceOf(
          TransientError,
        );
      } finally {
        await ok.close();
      }
    } finally {
      await stalled.close();
      vi.unstubAllEnvs();
    }
  });

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

describe('template asset loader', () => {
  it('refuses an asset in another bucket or outside template-assets/ before asking S3, and reads the certificates bucket', async () => {
    // The loader must read only the certificates bucket: otherwise a template, or a teacher's
    // preview, could pull objects of any bucket the role can reach into a rendered page.
    const client = new S3Client({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const send = vi.fn(async (_command: GetObjectCommand) => ({
      Body: { transformToByteArray: async () => new Uint8Array([1]) },
      ContentType: 'image/png',
    }));
    client.send = send as unknown as S3Client['send'];
    const loader = createS3AssetLoader(client, 'certificates-bucket');
    // A configuration error (an operator fixes the template; a certificate waits, never dead),
    // which a preview answers as a 400 naming the caller's reference and not the bucket.
    for (const ref of [
      's3://payroll-exports/template-assets/logo.png',
      's3://certificates-bucket/certificates/course/student/certificate.pdf',
    ]) {
      const error = await loader(ref).catch((caught: unknown) => caught);
      expect(error, ref).toBeInstanceOf(AssetNotReadableError);
      expect(error).toMatchObject({
        ref,
        problem: expect.stringContaining('not in the certificates bucket under template-assets/'),
      });
    }
    expect(send).not.toHaveBeenCalled();
    await expect(loader('s3://certificates-bucket/template-assets/logo.png')).resolves.toMatchObject({
      contentType: 'image/png',
    });
    expect(send.mock.calls.map(([command]) => command.input.Bucket)).toEqual(['certificates-bucket']);
  });
});

describe('download Content-Disposition', () => {
  it("percent-encodes ' ( ) * ! in filename* (RFC 8187 attr-chars only), and the value decodes back", () => {
    const name = "Intro (Advanced) * 'quoted'! - Seán O'Brien.pdf";
    const header = attachmentDisposition(name);
    const ext = /filename\*=UTF-8''(.*)$/.exec(header)?.[1] ?? '';
    expect(ext).toBe('Intro%20%28Advanced%29%20%2A%20%27quoted%27%21%20-%20Se%C3%A1n%20O%27Brien.pdf');
    // attr-char = ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
    expect(ext).toMatch(/^(?:[A-Za-z0-9#$&+\-.^_`|~]|%[0-9A-F]{2})+$/);
    expect(decodeURIComponent(ext)).toBe(name);
    expect(header).toContain('filename="Intro _Advanced_ _ _quoted_ - Sean O_Brien.pdf"');
  });
});
