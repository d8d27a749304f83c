import { constants, inflateSync } from 'node:zlib';
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

/** The most one stream, and all of a PDF's streams together, may inflate to before it is parsed. */
export const MAX_STREAM_BYTES = 16 * 1024 * 1024;
export const MAX_STREAMS_BYTES = 64 * 1024 * 1024;

const STREAM = Buffer.from('stream');
const END_STREAM = Buffer.from('endstream');

/**
 * Refuses a PDF any of whose Flate streams inflates past MAX_STREAM_BYTES, or all of them past
 * MAX_STREAMS_BYTES, before a parser decodes them: pdf-lib inflates every object stream whole
 * when it loads a file (and the page-text reader its content streams), so a forged 1.5 MB file
 * of one object stream could take gigabytes. Every `stream ... endstream` is tried, each inflate
 * bounded; what is not zlib data is left to the parser.
 */
function assertStreamsBounded(pdf: Uint8Array): void {
  const bytes = Buffer.from(pdf.buffer, pdf.byteOffset, pdf.byteLength);
  let total = 0;
  for (let at = bytes.indexOf(STREAM); at >= 0; at = bytes.indexOf(STREAM, at + STREAM.length)) {
    if (at >= 3 && bytes.toString('latin1', at - 3, at) === 'end') continue;
    let start = at + STREAM.length;
    if (bytes[start] === 0x0d) start += 1;
    if (bytes[start] === 0x0a) start += 1;
    const end = bytes.indexOf(END_STREAM, start);
    if (end < 0) break;
    let inflated: number;
    try {
      inflated = inflateSync(bytes.subarray(start, end), {
        maxOutputLength: MAX_STREAM_BYTES,
        // A stream cut short (as some writers end them) still counts for what it gives.
        finishFlush: constants.Z_SYNC_FLUSH,
      }).byteLength;
    } catch (error) {
      if (error instanceof RangeError)
        throw new Error(`a stream inflates to more than ${MAX_STREAM_BYTES} bytes`);
      continue; // not zlib data
    }
    total += inflated;
    if (total > MAX_STREAMS_BYTES)
      throw new Error(`its streams inflate to more than ${MAX_STREAMS_BYTES} bytes`);
    at = end;
  }
}

/** Nodes of the /EmbeddedFiles name tree read at most: a certificate's has one. */
const MAX_TREE_NODES = 1000;

/**
 * Reads the embedded files of a PDF (the /EmbeddedFiles name tree), e.g. the certificate's
 * signed credential. Walks /Kids too, so PDFs re-saved by other tools still work. Only the
 * names asked for are decoded, each at most MAX_ATTACHMENT_BYTES.
 */
export async function readPdfAttachments(
  pdf: Uint8Array,
  wanted?: readonly string[],
): Promise<Map<string, Uint8Array>> {
  assertStreamsBounded(pdf);
  const document = await PDFDocument.load(pdf, { updateMetadata: false, ignoreEncryption: true });
  const files = new Map<string, Uint8Array>();
  const names = document.catalog.lookupMaybe(PDFName.of('Names'), PDFDict);
  const root = names?.lookupMaybe(PDFName.of('EmbeddedFiles'), PDFDict);
  // A forger's tree can list a node in its own /Kids, or the same node many times: each node is
  // read once (a node listing itself 4 times made the walk take hours), and at most MAX_TREE_NODES.
  const visited = new Set<PDFDict>();
  const visit = (node: PDFDict, depth: number): void => {
    if (depth > 16 || visited.has(node)) return;
    visited.add(node);
    if (visited.size > MAX_TREE_NODES)
      throw new Error(`its embedded-files tree has more than ${MAX_TREE_NODES} nodes`);
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
