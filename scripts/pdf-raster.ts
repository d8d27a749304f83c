import { createCanvas } from '@napi-rs/canvas';
import { getDocument, VerbosityLevel } from 'pdfjs-dist/legacy/build/pdf.mjs';

/**
 * Rasterises one PDF page to PNG (pdf.js + @napi-rs/canvas): previews and the QR test.
 * Dev tooling (both are devDependencies): scripts/preview.ts and the rendering tests.
 */
export async function pdfPageToPng(pdf: Uint8Array, pageNumber = 1, scale = 2): Promise<Buffer> {
  const { canvas } = await renderPdfPage(pdf, pageNumber, scale);
  return canvas.toBuffer('image/png');
}

export async function renderPdfPage(pdf: Uint8Array, pageNumber = 1, scale = 2) {
  const task = getDocument({
    data: new Uint8Array(pdf),
    // pdf.js warns on every run that it could not compile a PostScript function to WebAssembly
    // (and draws it in JavaScript instead): noise in `npm run preview`'s output. Errors still reject.
    verbosity: VerbosityLevel.ERRORS,
  });
  const document = await task.promise;
  try {
    const page = await document.getPage(pageNumber);
    const viewport = page.getViewport({ scale });
    const canvas = createCanvas(Math.ceil(viewport.width), Math.ceil(viewport.height));
    const context = canvas.getContext('2d');
    await page.render({
      canvas: canvas as unknown as HTMLCanvasElement,
      canvasContext: context as unknown as CanvasRenderingContext2D,
      viewport,
    }).promise;
    return { canvas, context, width: canvas.width, height: canvas.height };
  } finally {
    await task.destroy();
  }
}
