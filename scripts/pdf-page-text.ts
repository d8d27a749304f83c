import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getDocument, VerbosityLevel } from 'pdfjs-dist/legacy/build/pdf.mjs';

/**
 * The text layer of a PDF as pdf.js reads it: `npm run verify` compares it with the signed facts
 * (the `pageText` port of lib/credentials/offline-check.ts, which cannot import pdf.js: it is a
 * devDependency, and lib/ is what ships), and the tests read certificates with it.
 */

/** One piece of text as pdf.js extracts it: its string, its direction, whether a line ends after it. */
export interface PdfTextItem {
  str: string;
  dir: string;
  hasEOL: boolean;
}

// Character maps and standard-font data: without them pdf.js cannot map the glyph codes of a PDF
// that uses a predefined CJK CMap or an unembedded standard font (another tool's re-save of a
// certificate may) and would miss that text.
const PDFJS_ROOT = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));

/** The text items of every page, page by page. Rejects when pdf.js cannot open the document. */
export async function pdfTextItems(pdf: Uint8Array): Promise<PdfTextItem[][]> {
  const task = getDocument({
    // A copy: pdf.js may take over the buffer it is given, and the caller still needs its bytes.
    data: new Uint8Array(pdf),
    useSystemFonts: false,
    cMapUrl: `${join(PDFJS_ROOT, 'cmaps')}/`,
    standardFontDataUrl: `${join(PDFJS_ROOT, 'standard_fonts')}/`,
    // Warnings about a damaged file would end up in the report's output; errors still reject.
    verbosity: VerbosityLevel.ERRORS,
  });
  try {
    const document = await task.promise;
    const pages: PdfTextItem[][] = [];
    for (let index = 1; index <= document.numPages; index += 1) {
      const page = await document.getPage(index);
      const content = await page.getTextContent();
      pages.push(
        content.items.flatMap((item) =>
          'str' in item ? [{ str: item.str, dir: item.dir, hasEOL: item.hasEOL }] : [],
        ),
      );
    }
    return pages;
  } finally {
    await task.destroy();
  }
}

/**
 * The text of each page in reading order, one line of the page a line of text: the `pageText`
 * port of `npm run verify`.
 *
 * pdf.js returns each right-to-left piece (a Hebrew word, a letter and its points) with its
 * characters in logical order but the pieces in visual order, left to right: "שרה כהן" comes back
 * as "כהן", " ", "שרה". Each line's runs of right-to-left pieces (joined by whitespace only) are
 * read back to front. That is the reading order of a right-to-left run in a left-to-right line,
 * and of a line that is right-to-left throughout; where digits or Latin words sit inside a
 * right-to-left line, lib/credentials/offline-check.ts compares the runs one by one.
 */
export async function pdfPageText(pdf: Uint8Array): Promise<string[]> {
  return (await pdfTextItems(pdf)).map((items) => linesOf(items).map(logicalOrder).join('\n'));
}

function linesOf(items: readonly PdfTextItem[]): PdfTextItem[][] {
  const lines: PdfTextItem[][] = [[]];
  for (const item of items) {
    lines.at(-1)?.push(item);
    if (item.hasEOL) lines.push([]);
  }
  return lines;
}

function logicalOrder(line: readonly PdfTextItem[]): string {
  const out: string[] = [];
  let index = 0;
  while (index < line.length) {
    if (line[index]?.dir !== 'rtl') {
      out.push(line[index]?.str ?? '');
      index += 1;
      continue;
    }
    let end = index;
    for (let probe = index + 1; probe < line.length; probe += 1) {
      const next = line[probe];
      if (next?.dir === 'rtl') end = probe;
      else if (!/^\s*$/u.test(next?.str ?? '')) break;
    }
    for (let at = end; at >= index; at -= 1) out.push(line[at]?.str ?? '');
    index = end + 1;
  }
  return out.join('');
}
