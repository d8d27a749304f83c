import { Readable } from 'node:stream';
import { type GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createCanvas } from '@napi-rs/canvas';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigurationError, ValidationError } from '../../lib/errors.ts';
import {
  AssetNotReadableError,
  type AssetObject,
  inlineAssets,
  MAX_ASSET_BYTES,
} from '../../lib/render/assets.ts';
import { createCertificateRenderer, loadDefaultTemplate } from '../../lib/render/renderer.ts';
import { createS3AssetLoader } from '../../lib/storage/asset-loader.ts';
import { createS3Client } from '../../lib/storage/s3.ts';
import { renderPdfPage } from '../../scripts/pdf-raster.ts';
import { applyS3Credentials, createTestEnv, type TestEnv } from '../support/env.ts';
import { createObservedPrinter } from '../support/observed-printer.ts';
import { s3ConfigFor } from './pipeline-fixtures.ts';
import { content } from './render-fixtures.ts';

/** Template images come from templates/ or the bucket (through the injected loader), inlined. */

function redPng(): Uint8Array {
  const canvas = createCanvas(40, 40);
  const context = canvas.getContext('2d');
  context.fillStyle = '#ff0000';
  context.fillRect(0, 0, 40, 40);
  return new Uint8Array(canvas.toBuffer('image/png'));
}

const requested: string[] = [];
const loader = async (ref: string): Promise<AssetObject> => {
  requested.push(ref);
  if (ref.endsWith('logo.png')) return { contentType: 'image/png', body: redPng() };
  if (ref.endsWith('evil.html'))
    return { contentType: 'text/html', body: new TextEncoder().encode('<script>') };
  throw new Error('not found');
};
const printer = createObservedPrinter({
  executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH,
  maxPages: 1,
});
const renderer = createCertificateRenderer(printer, { timeoutMs: 30_000, assetLoader: loader });
afterAll(async () => {
  await renderer.close();
});

describe('template assets', () => {
  it('inlines a bucket logo fetched by the loader; the page itself fetches nothing', async () => {
    const template = await loadDefaultTemplate();
    const { pdf } = await renderer.render(content(), {
      ...template,
      assets: { ...template.assets, logo: 's3://certs/template-assets/logo.png' },
    });
    expect(requested).toContain('s3://certs/template-assets/logo.png');
    expect(printer.blockedRequests).toEqual([]);
    // The logo sits centred at the top: its pixels are the red of the PNG.
    const { context, width } = await renderPdfPage(pdf, 1, 1);
    const pixel = context.getImageData(Math.round(width / 2), 72, 1, 1).data;
    expect([pixel[0], pixel[1], pixel[2]]).toEqual([255, 0, 0]);
  });

  it('refuses a bucket object that is not an image, as one an operator fixes in the bucket', async () => {
    const template = await loadDefaultTemplate();
    const refused = renderer.render(content(), {
      ...template,
      assets: { logo: 's3://certs/template-assets/evil.html' },
    });
    // A configuration error (generate retries without using up attempts; a preview answers 400),
    // not a ValidationError that would make every certificate of the course dead.
    await expect(refused).rejects.toBeInstanceOf(AssetNotReadableError);
    await expect(refused).rejects.not.toBeInstanceOf(ValidationError);
    await expect(refused).rejects.toMatchObject({
      ref: 's3://certs/template-assets/evil.html',
      message: expect.stringContaining('has type text/html, not an image'),
    });
  });
});

describe('template assets in the bucket', () => {
  let t: TestEnv;
  let restoreEnv: () => void;
  let s3: S3Client;
  beforeAll(async () => {
    t = await createTestEnv();
    restoreEnv = applyS3Credentials(t);
    s3 = createS3Client(s3ConfigFor(t));
  });
  afterAll(async () => {
    s3.destroy();
    await t.cleanup();
    restoreEnv();
  });

  const put = async (key: string, body: Uint8Array, contentType: string): Promise<string> => {
    await s3.send(new PutObjectCommand({ Bucket: t.bucket, Key: key, Body: body, ContentType: contentType }));
    return `s3://${t.bucket}/${key}`;
  };

  /**
   * The real client, with each GetObject answer's body watched: whether anything read it, and
   * whether it was closed.
   */
  function watchedClient() {
    const bodies: { read: boolean; stream: Readable }[] = [];
    const client = createS3Client(s3ConfigFor(t));
    const send = client.send.bind(client);
    client.send = (async (command: GetObjectCommand) => {
      const response = await send(command);
      const body = response.Body;
      if (body instanceof Readable) {
        const watched = { read: false, stream: body };
        bodies.push(watched);
        const markRead =
          <T>(read: () => Promise<T>) =>
          () => {
            watched.read = true;
            return read();
          };
        Object.assign(body, {
          transformToByteArray: markRead(body.transformToByteArray.bind(body)),
          transformToString: markRead(body.transformToString.bind(body)),
          transformToWebStream: () => {
            watched.read = true;
            return body.transformToWebStream();
          },
        });
      }
      return response;
    }) as S3Client['send'];
    return { client, bodies };
  }

  it('refuses an object over the size limit on its Content-Length, without reading its body', async () => {
    const ref = await put('template-assets/huge-logo.png', new Uint8Array(MAX_ASSET_BYTES + 1), 'image/png');
    const watched = watchedClient();
    try {
      const refused = inlineAssets({ logo: ref }, createS3AssetLoader(watched.client, t.bucket));
      await expect(refused).rejects.toBeInstanceOf(AssetNotReadableError);
      await expect(refused).rejects.toMatchObject({
        ref,
        message: `template asset ${ref} is ${MAX_ASSET_BYTES + 1} bytes, more than the ${MAX_ASSET_BYTES} an asset may be`,
      });
      expect(watched.bodies).toHaveLength(1);
      expect(watched.bodies[0]?.read).toBe(false);
      // Closed, not left holding its connection open on the rest of the object.
      expect(watched.bodies[0]?.stream.destroyed).toBe(true);
    } finally {
      watched.client.destroy();
    }
    // The same refusal when a loader hands over the whole body: one outcome, whoever notices.
    const oversized = async (): Promise<AssetObject> => ({
      contentType: 'image/png',
      body: new Uint8Array(MAX_ASSET_BYTES + 1),
    });
    await expect(inlineAssets({ logo: ref }, oversized)).rejects.toMatchObject({
      name: 'AssetNotReadableError',
      message: `template asset ${ref} is ${MAX_ASSET_BYTES + 1} bytes, more than the ${MAX_ASSET_BYTES} an asset may be`,
    });
    // At the limit it is taken.
    const atLimit = await put('template-assets/limit-logo.png', new Uint8Array(MAX_ASSET_BYTES), 'image/png');
    const inlined = await inlineAssets({ logo: atLimit }, createS3AssetLoader(s3, t.bucket));
    expect(inlined.logo?.startsWith('data:image/png;base64,')).toBe(true);
  });

  it('an object with the wrong Content-Type or over the limit is a configuration error, like a missing one', async () => {
    const png = redPng();
    const cases = [
      // What `aws s3api put-object` stores when no type is given.
      await put('template-assets/untyped.png', png, 'binary/octet-stream'),
      await put('template-assets/too-big.png', new Uint8Array(MAX_ASSET_BYTES + 1), 'image/png'),
      `s3://${t.bucket}/template-assets/not-uploaded.png`,
    ];
    const loader = createS3AssetLoader(s3, t.bucket);
    for (const ref of cases) {
      const refused = inlineAssets({ logo: ref }, loader);
      await expect(refused, ref).rejects.toBeInstanceOf(ConfigurationError);
      await expect(refused, ref).rejects.toMatchObject({ ref, dependency: 's3' });
    }
    // The same image uploaded with its type is inlined.
    const typed = await put('template-assets/typed.png', png, 'image/png');
    expect((await inlineAssets({ logo: typed }, loader)).logo).toBe(
      `data:image/png;base64,${Buffer.from(png).toString('base64')}`,
    );
  });
});
