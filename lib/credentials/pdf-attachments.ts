import { constants, inflateRawSync, inflateSync } from 'node:zlib';
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
 * The filter names a PDF of the issuer's may carry: Flate (what Chromium and pdf-lib compress
 * with, measured below) and DCT (JPEG images, which reading text or attachments never decodes),
 * and `Standard`, the security handler an encryption dictionary names under the same key (an
 * encrypted PDF is refused later). Anything else is refused, not looked up: pdf.js and pdf-lib
 * decode LZW, ASCIIHex, ASCII85, RunLength and, in pdf.js 6, Brotli, none bounded here, and the
 * text encodings in front of a Flate hide its zlib header.
 */
const KNOWN_FILTERS = new Set(['FlateDecode', 'DCTDecode', 'Standard']);

/** A PDF name token with its #xx escapes decoded (ISO 32000 7.3.5): /Filt#65r is /Filter. */
function decodeName(raw: string): string {
  return raw.replace(/#([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

// A character of a name: not a delimiter or whitespace, or a #xx escape.
const NAME_CHARACTER = String.raw`(?:[^\s/[\]<>(){}%#]|#[0-9A-Fa-f]{2})`;
const NAME_TOKEN = new RegExp(String.raw`\/(${NAME_CHARACTER}+)`, 'g');
// An indirect reference, `n g R`.
const REFERENCE_TOKEN = String.raw`\d+\s+\d+\s+R`;
const FILTER_VALUE = new RegExp(String.raw`\s*(\[[^\]]*\]|\/${NAME_CHARACTER}*|${REFERENCE_TOKEN})?`, 'y');
// An array of names only, and whitespace.
const NAMES_ARRAY = new RegExp(String.raw`^\[(?:\s*\/${NAME_CHARACTER}+)*\s*\]$`);
// An array of names and references (n g R), and whitespace: what a filter array may hold.
const FILTER_ARRAY = new RegExp(String.raw`^\[(?:\s*(?:\/${NAME_CHARACTER}+|${REFERENCE_TOKEN}))*\s*\]$`);
const REFERENCE = new RegExp(`^${REFERENCE_TOKEN}$`);

/** An object's number and generation as one key, however its digits were written (`007`). */
const objectKey = (number: string, generation: string): string => `${Number(number)} ${Number(generation)}`;

// The character after `obj` is looked at, not taken: it may begin the next definition.
const OBJECT_DEFINITION = /(?<![0-9])(\d+)\s+(\d+)\s+obj\s*(?=([\s\S]))/g;

/**
 * The objects that open a dictionary (a stream's, such as an embedded file's) in every definition
 * of them in the file, read in one pass: a name or an array there, or an object kept inside a
 * compressed object stream (out of this scan's sight, and never a stream), could be filters that
 * pdf.js and pdf-lib look up behind an /F.
 */
function dictionaryObjects(text: string): Set<string> {
  const opens = new Map<string, boolean>();
  for (const [, number, generation, first] of text.matchAll(OBJECT_DEFINITION)) {
    const key = objectKey(number ?? '', generation ?? '');
    opens.set(key, (opens.get(key) ?? true) && first === '<');
  }
  return new Set([...opens].filter(([, dictionary]) => dictionary).map(([key]) => key));
}

/**
 * Every value of a /Filter key in the file, and of /F (pdf.js takes /F for /Filter in a stream
 * dictionary; elsewhere /F is a file name or a reference to an embedded file, left alone): a
 * name, an array of names, a reference, or '' when it is none of these. Keys are decoded, so a
 * name spelt with escapes is found too. Read over the whole file rather than per stream
 * dictionary, which a forger can make hard to delimit.
 */
function* filterValues(text: string): Generator<{ key: string; value: string }> {
  let dictionaries: Set<string> | undefined;
  const namesDictionary = (reference: string): boolean => {
    dictionaries ??= dictionaryObjects(text);
    const [number = '', generation = ''] = reference.split(/\s+/);
    return dictionaries.has(objectKey(number, generation));
  };
  for (const match of text.matchAll(NAME_TOKEN)) {
    const key = decodeName(match[1] ?? '');
    if (key !== 'Filter' && key !== 'F') continue;
    FILTER_VALUE.lastIndex = (match.index ?? 0) + match[0].length;
    const value = FILTER_VALUE.exec(text)?.[1] ?? '';
    // /F n g R: an embedded file (/EF), a stream, passes; anything else it names is refused.
    if (key === 'F' && REFERENCE.test(value) && namesDictionary(value)) continue;
    if (key === 'F' && !value.startsWith('/') && !value.startsWith('[') && !REFERENCE.test(value)) continue;
    yield { key, value };
  }
}

/**
 * Decoders whose output is not bounded here: what /F (two characters, which compressed data
 * holds by chance now and then) is refused for naming, where /Filter is held to KNOWN_FILTERS.
 */
const UNBOUNDED_DECODERS = new Set([
  'LZWDecode',
  'LZW',
  'ASCIIHexDecode',
  'AHx',
  'ASCII85Decode',
  'A85',
  'RunLengthDecode',
  'RL',
  'BrotliDecode',
  'Crypt',
]);

/**
 * Whether a filter value can be bounded: for /Filter, one of KNOWN_FILTERS alone (a chain could
 * decode past any bound); for /F, not a chain and no UNBOUNDED_DECODERS.
 */
function boundedFilter(key: string, value: string): boolean {
  const names = [...value.matchAll(NAME_TOKEN)].map((match) => decodeName(match[1] ?? ''));
  // A filter behind a reference is not read here: pdf.js and pdf-lib follow it (an array of
  // them, /Filter [5 0 R 6 0 R], hid a hex-then-Flate chain).
  if (REFERENCE.test(value)) return false;
  if (key === 'F') {
    // Compressed data holds "/F[" by chance now and then, but rarely runs on as names,
    // references and spaces alone to its "]": such an array is filters; any other is chance.
    if (value.startsWith('[') && !FILTER_ARRAY.test(value)) return true;
    if (value.startsWith('[') && !NAMES_ARRAY.test(value)) return false;
    return names.length <= 1 && !names.some((name) => UNBOUNDED_DECODERS.has(name));
  }
  if (value.startsWith('['))
    return NAMES_ARRAY.test(value) && names.length <= 1 && names.every((name) => KNOWN_FILTERS.has(name));
  return value.startsWith('/') && names.length === 1 && KNOWN_FILTERS.has(names[0] ?? '');
}

// A zlib header as the PDF readers take it: compression method 8 (deflate) in the low nibble of
// CMF, whatever window its high nibble names (pdf.js's inflate does not hold it to 32 KiB, as
// Node's zlib does), CMF·256 + FLG a multiple of 31, no preset dictionary.
function zlibHeaderAt(bytes: Buffer, at: number): boolean {
  const cmf = bytes[at] ?? 0;
  const flg = bytes[at + 1] ?? 0;
  return (cmf & 0x0f) === 8 && (cmf * 256 + flg) % 31 === 0 && (flg & 0x20) === 0;
}

/**
 * Headers the bound tries at most: a certificate has a few dozen streams and about one chance
 * header a kilobyte of compressed data; a file of nothing but header pairs would otherwise cost
 * an inflate attempt every second byte (minutes for a megabyte).
 */
export const MAX_ZLIB_HEADERS = 10_000;
function headerBudget(size: number): number {
  return MAX_ZLIB_HEADERS + Math.floor(size / 256);
}

/** The first input window an attempt reads (doubled while the stream goes on). */
const FIRST_WINDOW = 1024;
/**
 * Bytes all attempts may read: each stream of a genuine file is read about twice (the doubling
 * window), and each chance header in compressed data a window or two; eight times the file is
 * far past that, and caps a forged file's work near linear in its size.
 */
function readingBudget(size: number): number {
  return 8 * size + MAX_ZLIB_HEADERS * 2 * FIRST_WINDOW;
}

/**
 * Bytes all attempts may inflate, the tries that failed counted at their output window: a genuine
 * file's streams inflate once or twice over (at most MAX_STREAMS_BYTES in all) and its chance
 * headers a window or two each.
 */
const INFLATE_BUDGET = 4 * MAX_STREAMS_BYTES;

/**
 * Refuses a PDF that could decode past MAX_STREAM_BYTES in one stream, or MAX_STREAMS_BYTES in
 * all, before a parser decodes it: pdf-lib inflates every object stream whole when it loads a
 * file (and the page-text readers its content streams), so a forged 1.5 MB file could take
 * gigabytes. Every zlib stream in the file is found by its header, not through `stream` keywords
 * and /Length, which a forger can plant and misstate, and inflated (raw, past the header)
 * bounded, and what it gives again when that is zlib data too (a Flate inside a Flate); a filter
 * other than KNOWN_FILTERS is refused.
 */
function assertStreamsBounded(pdf: Uint8Array): void {
  const bytes = Buffer.from(pdf.buffer, pdf.byteOffset, pdf.byteLength);
  for (const { key, value } of filterValues(bytes.toString('latin1')))
    if (!boundedFilter(key, value))
      throw new Error(
        `a stream is encoded with /${key} ${value || '(nothing readable)'}, which this checker does not decode (the issuer's PDFs use one filter, FlateDecode or DCTDecode)`,
      );
  let total = 0;
  // What the attempts may read in all: every header is tried (below), so data made to run on
  // for long (empty stored blocks, say) would otherwise be read again from each header in it.
  let readBudget = readingBudget(bytes.length);
  // And what they may inflate in all, failed attempts included: data that inflates to just under
  // the bound and then turns out not to be deflate data would otherwise cost that much from every
  // header placed in front of it, uncounted.
  let inflateBudget = INFLATE_BUDGET;
  const charge = (read: number, inflated: number): void => {
    readBudget -= read;
    inflateBudget -= inflated;
    if (readBudget < 0 || inflateBudget < 0)
      throw new Error('its compressed data would have to be read over and over, which no certificate needs');
  };
  const inflateWithin = (input: Buffer): Buffer | undefined => {
    // Windows that double, on what is read until the stream ends inside it and on what it gives
    // until it stops short of the bound: each try is charged what it read and what it gave (its
    // output window when it failed), the stream's real size at most about twice over, and an
    // attempt that fails early costs little.
    let output = FIRST_WINDOW;
    for (let window = FIRST_WINDOW; ; ) {
      const slice = input.subarray(0, window);
      let result: { buffer: Buffer; engine: { bytesWritten: number } };
      try {
        result = inflateRawSync(slice, {
          maxOutputLength: output,
          // A stream cut short (as some writers end them, or as the window ends) counts for what it gives.
          finishFlush: constants.Z_SYNC_FLUSH,
          info: true,
        }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
      } catch (error) {
        charge(slice.byteLength, output);
        if (!(error instanceof RangeError)) return undefined; // not deflate data after all
        if (output >= MAX_STREAM_BYTES)
          throw new Error(`a stream inflates to more than ${MAX_STREAM_BYTES} bytes`);
        output = Math.min(output * 2, MAX_STREAM_BYTES);
        continue;
      }
      charge(slice.byteLength, result.buffer.byteLength);
      // It stopped inside the window (its end), or the window is all there is.
      if (result.engine.bytesWritten < slice.byteLength || slice.byteLength === input.byteLength)
        return result.buffer;
      window *= 2;
    }
  };
  const measure = (data: Buffer, depth: number): void => {
    const inflated = inflateWithin(data.subarray(2));
    if (!inflated) return;
    total += inflated.byteLength;
    if (total > MAX_STREAMS_BYTES)
      throw new Error(`its streams inflate to more than ${MAX_STREAMS_BYTES} bytes`);
    if (depth < 3 && zlibHeaderAt(inflated, 0)) measure(inflated, depth + 1);
  };
  const budget = headerBudget(bytes.length);
  let tried = 0;
  for (let at = 0; at < bytes.length - 1; at += 1) {
    if (!zlibHeaderAt(bytes, at)) continue;
    if (++tried > budget)
      throw new Error(`it holds more than ${budget} zlib headers, which no certificate does`);
    // Every header is tried, inside a stream measured already too: skipping what a stream
    // consumed let a stored block planted in a comment swallow the next object's real stream,
    // which then went unmeasured (1 GB from a 1 MB file). The budgets bound the attempts and
    // what they read.
    measure(bytes.subarray(at), 0);
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
