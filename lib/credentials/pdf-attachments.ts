import {
  decodePDFRawStream,
  PDFArray,
  PDFDict,
  PDFDocument,
  PDFHexString,
  PDFName,
  PDFRawStream,
  PDFString,
} from 'pdf-lib';

/**
 * Reads the embedded files of a PDF (the /EmbeddedFiles name tree), e.g. the certificate's
 * signed credential. Walks /Kids too, so PDFs re-saved by other tools still work.
 */
export async function readPdfAttachments(pdf: Uint8Array): Promise<Map<string, Uint8Array>> {
  const document = await PDFDocument.load(pdf, { updateMetadata: false, ignoreEncryption: true });
  const files = new Map<string, Uint8Array>();
  const names = document.catalog.lookupMaybe(PDFName.of('Names'), PDFDict);
  const root = names?.lookupMaybe(PDFName.of('EmbeddedFiles'), PDFDict);
  const visit = (node: PDFDict, depth: number): void => {
    if (depth > 16) return;
    const kids = node.lookupMaybe(PDFName.of('Kids'), PDFArray);
    for (let index = 0; kids && index < kids.size(); index += 1) {
      const kid = kids.lookup(index);
      if (kid instanceof PDFDict) visit(kid, depth + 1);
    }
    const pairs = node.lookupMaybe(PDFName.of('Names'), PDFArray);
    for (let index = 0; pairs && index + 1 < pairs.size(); index += 2) {
      const key = pairs.lookup(index);
      const spec = pairs.lookup(index + 1);
      if (!(spec instanceof PDFDict)) continue;
      const name = key instanceof PDFString || key instanceof PDFHexString ? key.decodeText() : undefined;
      const stream = spec.lookupMaybe(PDFName.of('EF'), PDFDict)?.lookup(PDFName.of('F'));
      if (name === undefined || !(stream instanceof PDFRawStream)) continue;
      files.set(name, decodePDFRawStream(stream).decode());
    }
  };
  if (root) visit(root, 0);
  return files;
}
