import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getDocument, VerbosityLevel } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { type PageText, SHAPED_SCRIPTS } from '../lib/credentials/page-text.ts';
import { logicalOrder, pdfTextLayers } from './pdf-text-layer.ts';

/**
 * The text layer of a PDF as pdf.js reads it: `npm run verify` compares it with the signed facts
 * (the `pageText` port of lib/credentials/offline-check.ts, which cannot import pdf.js: it is a
 * devDependency, and lib/ is what ships), and the tests read certificates with it. For Arabic and
 * Devanagari, whose text Chromium writes only as /ActualText, the check also reads the page with
 * scripts/pdf-text-layer.ts (pdfPageTextWithActualText).
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
  return (await pdfTextItems(pdf)).map((items) =>
    linesOf(items)
      .map((line) =>
        logicalOrder(
          line,
          (item) => item.dir === 'rtl',
          (item) => item.str,
        ).join(''),
      )
      .join('\n'),
  );
}

function linesOf(items: readonly PdfTextItem[]): PdfTextItem[][] {
  const lines: PdfTextItem[][] = [[]];
  for (const item of items) {
    lines.at(-1)?.push(item);
    if (item.hasEOL) lines.push([]);
  }
  return lines;
}

// Letters (and the marks, digits and signs) of the scripts the check reads from /ActualText only.
const SHAPED = new RegExp(SHAPED_SCRIPTS.map((script) => `\\p{scx=${script}}`).join('|'), 'gu');
// What stands in their place: a symbol, which the comparison neither skips (as it does spaces: "Ann
// فاطمة Lee" would read as "Ann Lee") nor takes for part of a word ("Omar" beside it is whole).
const BLANKED = '\uFFFD';

/**
 * The `pageText` port of `npm run verify`, which sets `pageTextReadsShaped`: each page's text as
 * pdf.js reads it (pdfPageText: `text`, what viewers read) and as scripts/pdf-text-layer.ts reads
 * it, honouring the /ActualText Chromium writes for shaped glyphs (`shaped`). The second reading
 * counts only for the letters of SHAPED_SCRIPTS (page-text.ts, sighting): it parses the file with
 * pdf-lib, which a forger can make see another page than the viewers do. Rejects when either
 * cannot read the PDF: a page whose Arabic or Devanagari cannot be read is not a verdict on it.
 *
 * From pdf.js's text the letters of SHAPED_SCRIPTS are blanked out (BLANKED): it reads their
 * glyphs' own Unicode, which drops and confuses letters (a printed "किरण" reads as "करण", a final
 * ة as ه): kept, a page printed with one name would pass for another.
 */
export async function pdfPageTextWithActualText(pdf: Uint8Array): Promise<PageText[]> {
  const glyphs = await pdfPageText(pdf);
  const actual = await pdfTextLayers(pdf);
  return Array.from({ length: Math.max(glyphs.length, actual.length) }, (_, index) => ({
    text: (glyphs[index] ?? '').replace(SHAPED, BLANKED),
    shaped: actual[index] ?? '',
  }));
}
