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

/**
 * Decoders pdf-lib or pdf.js run whose output this checker cannot bound before they do: LZW (a
 * bomb like Flate's), and the text encodings, which in front of a Flate hide its zlib header.
 * Image decoders are not run to read text or attachments; an unknown name decodes nothing.
 */
const UNBOUNDED_FILTERS = new Set([
  'LZWDecode',
  'LZW',
  'ASCIIHexDecode',
  'AHx',
  'ASCII85Decode',
  'A85',
  'RunLengthDecode',
  'RL',
  'Crypt',
]);

/**
 * Every /Filter the file names, as written: a name, an array of names, or a reference. Read over
 * the whole file rather than per stream dictionary, which a forger can make hard to delimit.
 */
function* filterValues(text: string): Generator<string> {
  for (const match of text.matchAll(/\/Filter(?![\w#])\s*(\[[^\]]*\]|\/[^\s/[\]<>()%]*|\d+\s+\d+\s+R)?/g))
    yield match[1] ?? '';
}

function boundedName(name: string): boolean {
  return name !== '' && !name.includes('#') && !UNBOUNDED_FILTERS.has(name);
}

/**
 * Whether a /Filter value is one this checker bounds: a single filter (Flate is measured below)
 * that is not one of UNBOUNDED_FILTERS. A chain (two Flates in a row, hex before one), a name
 * written with # escapes, or a reference to the filters elsewhere could decode past any bound set
 * here. (An encryption dictionary's /Filter, a security handler's name, passes.)
 */
function boundedFilter(value: string): boolean {
  if (value.startsWith('[')) {
    const names = value
      .slice(1, -1)
      .trim()
      .split(/\s*\/+/)
      .filter(Boolean);
    return names.length <= 1 && names.every(boundedName);
  }
  return value.startsWith('/') && boundedName(value.slice(1));
}

// A zlib header: deflate with a window of at most 32 KiB (CMF 0x78), FLG making CMF·256 + FLG a
// multiple of 31, no preset dictionary.
const ZLIB_SECOND_BYTES = new Set([0x01, 0x5e, 0x9c, 0xda]);

/**
 * Refuses a PDF that could decode past MAX_STREAM_BYTES in one stream, or MAX_STREAMS_BYTES in
 * all, before a parser decodes it: pdf-lib inflates every object stream whole when it loads a
 * file (and the page-text readers its content streams), so a forged 1.5 MB file could take
 * gigabytes. Every zlib stream in the file is found by its header, not through `stream` keywords
 * and /Length, which a forger can plant and misstate, and inflated bounded, and what it gives
 * again when that is zlib data too (a Flate inside a Flate); a filter that cannot be bounded so
 * (boundedFilter) is refused. One pass: each stream found is skipped whole.
 */
function assertStreamsBounded(pdf: Uint8Array): void {
  const bytes = Buffer.from(pdf.buffer, pdf.byteOffset, pdf.byteLength);
  for (const value of filterValues(bytes.toString('latin1')))
    if (!boundedFilter(value))
      throw new Error(
        `a stream is encoded with /Filter ${value || '(nothing readable)'}, which this checker does not decode (the issuer's PDFs use one filter, FlateDecode or DCTDecode)`,
      );
  let total = 0;
  const measure = (data: Buffer, depth: number): number => {
    let consumed: number;
    let output: Buffer;
    try {
      const result = inflateSync(data, {
        maxOutputLength: MAX_STREAM_BYTES,
        // A stream cut short (as some writers end them) still counts for what it gives.
        finishFlush: constants.Z_SYNC_FLUSH,
        info: true,
      }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
      output = result.buffer;
      consumed = result.engine.bytesWritten;
    } catch (error) {
      if (error instanceof RangeError)
        throw new Error(`a stream inflates to more than ${MAX_STREAM_BYTES} bytes`);
      return 0; // not zlib data after all
    }
    total += output.byteLength;
    if (total > MAX_STREAMS_BYTES)
      throw new Error(`its streams inflate to more than ${MAX_STREAMS_BYTES} bytes`);
    if (depth < 3 && output.byteLength >= 2 && output[0] === 0x78 && ZLIB_SECOND_BYTES.has(output[1] ?? -1))
      measure(output, depth + 1);
    return consumed;
  };
  for (let at = bytes.indexOf(0x78); at >= 0 && at < bytes.length - 1; at = bytes.indexOf(0x78, at + 1)) {
    if (!ZLIB_SECOND_BYTES.has(bytes[at + 1] ?? -1)) continue;
    const consumed = measure(bytes.subarray(at), 0);
    if (consumed > 0) at += consumed - 1;
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
