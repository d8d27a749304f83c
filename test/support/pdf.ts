import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { pdfTextItems } from '../../scripts/pdf-page-text.ts';

/** Extracts the text of every page of a PDF (pdf.js), joined by newlines. */
export async function pdfText(pdf: Uint8Array): Promise<string> {
  const pages = await pdfTextItems(pdf);
  return pages.map((items) => items.map((item) => item.str + (item.hasEOL ? '\n' : '')).join('')).join('\n');
}

export async function pdfInfo(pdf: Uint8Array): Promise<{ pages: number; info: Record<string, unknown> }> {
  const task = getDocument({ data: new Uint8Array(pdf) });
  const document = await task.promise;
  try {
    const metadata = await document.getMetadata();
    return { pages: document.numPages, info: metadata.info as Record<string, unknown> };
  } finally {
    await task.destroy();
  }
}
