import { inflateSync } from 'node:zlib';
import { PDFArray, PDFDict, PDFDocument, PDFHexString, PDFName, PDFRawStream, PDFString } from 'pdf-lib';

/**
 * The most an embedded file may inflate to. Ours are a few KB; the PDF being checked may be a
 * forger's, and a small compressed stream that inflates to gigabytes must end in "cannot
 * check", not in the checker running out of memory.
 */
export const MAX_ATTACHMENT_BYTES = 1024 * 1024;

/** An embedded file's bytes: uncompressed or FlateDecode (what pdf-lib and most tools write), bounded. */
function attachmentBytes(stream: PDFRawStream, name: string): Uint8Array {
  const filter = stream.dict.lookup(PDFName.of('Filter'));
  const filters = filter instanceof PDFArray ? filter.asArray() : filter === undefined ? [] : [filter];
  const contents = stream.getContents();
  if (filters.length === 0) {
    if (contents.byteLength > MAX_ATTACHMENT_BYTES)
      throw new Error(`${name} is larger than ${MAX_ATTACHMENT_BYTES} bytes`);
    return contents;
  }
  if (filters.length === 1 && filters[0] === PDFName.of('FlateDecode')) {
    try {
      return new Uint8Array(inflateSync(contents, { maxOutputLength: MAX_ATTACHMENT_BYTES }));
    } catch (error) {
      throw new Error(
        `${name} does not inflate within ${MAX_ATTACHMENT_BYTES} bytes (${error instanceof Error ? error.message : String(error)})`,
      );
    }
  }
  throw new Error(`${name} uses a filter this checker does not read`);
}

/**
 * Reads the embedded files of a PDF (the /EmbeddedFiles name tree), e.g. the certificate's
 * signed credential. Walks /Kids too, so PDFs re-saved by other tools still work. Only the
 * names asked for are decoded, each at most MAX_ATTACHMENT_BYTES.
 */
export async function readPdfAttachments(
  pdf: Uint8Array,
  wanted?: readonly string[],
): Promise<Map<string, Uint8Array>> {
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
      if (wanted !== undefined && !wanted.includes(name)) continue;
      if (files.has(name)) continue;
      files.set(name, attachmentBytes(stream, name));
    }
  };
  if (root) visit(root, 0);
  return files;
}
