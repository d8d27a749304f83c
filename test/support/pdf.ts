import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';

/** Extracts the text of every page of a PDF (pdf.js), joined by newlines. */
export async function pdfText(pdf: Uint8Array): Promise<string> {
  const task = getDocument({ data: new Uint8Array(pdf), useSystemFonts: false });
  const document = await task.promise;
  try {
    const pages: string[] = [];
    for (let index = 1; index <= document.numPages; index += 1) {
      const page = await document.getPage(index);
      const content = await page.getTextContent();
      pages.push(
        content.items.map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : '')).join(''),
      );
    }
    return pages.join('\n');
  } finally {
    await task.destroy();
  }
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
