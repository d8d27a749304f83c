import { createCanvas } from '@napi-rs/canvas';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ValidationError } from '../../lib/errors.ts';
import type { AssetObject } from '../../lib/render/assets.ts';
import { createCertificateRenderer, loadDefaultTemplate } from '../../lib/render/renderer.ts';
import { renderPdfPage } from '../../scripts/pdf-raster.ts';
import { createObservedPrinter } from '../support/observed-printer.ts';
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

  it('refuses a bucket object that is not an image', async () => {
    const template = await loadDefaultTemplate();
    await expect(
      renderer.render(content(), { ...template, assets: { logo: 's3://certs/template-assets/evil.html' } }),
    ).rejects.toBeInstanceOf(ValidationError);
  });
});
