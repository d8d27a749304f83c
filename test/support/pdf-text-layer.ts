import { PDFDict, PDFDocument, PDFName } from 'pdf-lib';

// The reader lives with the scripts: `npm run verify` reads pages with it too (scripts may not
// import from test/).
export { pdfTextLayer } from '../../scripts/pdf-text-layer.ts';

/** BaseFont names of every font the PDF embeds (Type3 fonts have none and are listed as "Type3"). */
export async function pdfFontNames(pdf: Uint8Array): Promise<string[]> {
  const document = await PDFDocument.load(pdf, { updateMetadata: false });
  const names = new Set<string>();
  for (const [, object] of document.context.enumerateIndirectObjects()) {
    if (!(object instanceof PDFDict) || object.get(PDFName.of('Type')) !== PDFName.of('Font')) continue;
    const subtype = object.get(PDFName.of('Subtype'));
    if (subtype === PDFName.of('Type3')) names.add('Type3');
    else if (subtype !== PDFName.of('CIDFontType2') && subtype !== PDFName.of('CIDFontType0')) {
      const base = object.get(PDFName.of('BaseFont'));
      if (base instanceof PDFName) names.add(base.decodeText().replace(/^[A-Z]{6}\+/, ''));
    }
  }
  return [...names].sort();
}
