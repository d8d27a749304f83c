import { constants, inflateSync } from 'node:zlib';
import {
  decodePDFRawStream,
  PDFArray,
  PDFDict,
  PDFDocument,
  PDFHexString,
  PDFName,
  type PDFObject,
  PDFRawStream,
  PDFRef,
  PDFString,
} from 'pdf-lib';

/**
 * Text of a PDF page as a reader copying it would get it, honouring what pdf.js ignores:
 * `/Span <</ActualText ...>>` (Chromium/Skia writes it for shaped glyphs, e.g. Arabic contextual
 * forms and Indic clusters, whose glyphs have no Unicode of their own) and `/ReversedChars`
 * (right-to-left runs are drawn in visual order). Lines break where the baseline moves.
 * Handles the operators Skia emits (Tf, Tm, Td, Tj, TJ, BDC/BMC/EMC, Do) and the other text
 * operators; not a general parser (text comes from ToUnicode maps only, lines from baselines only).
 *
 * `npm run verify` reads pages it is handed with it (scripts/pdf-page-text.ts), so it must stand
 * up to a crafted PDF: whatever it cannot read rejects (the check then says it could not read the
 * page), and its work is bounded (LIMITS) so that no input makes it run for long or exhaust
 * memory: decompression stops at a size, form XObjects nest only so deep and each draw of one
 * counts against the same budget (a form drawing another twice, ten levels deep, would otherwise
 * mean a thousand passes), and the page tree is walked once per node (pdf-lib's own walk follows
 * shared or cyclic /Kids).
 */
export async function pdfTextLayer(pdf: Uint8Array, pageIndex = 0): Promise<string> {
  const pages = await pdfTextLayers(pdf);
  const page = pages[pageIndex];
  if (page === undefined) throw new TextLayerError(`the PDF has no page ${pageIndex + 1}`);
  return page;
}

/** The text of every page, as pdfTextLayer reads it. Rejects on anything it cannot read. */
export async function pdfTextLayers(pdf: Uint8Array): Promise<string[]> {
  let document: PDFDocument;
  try {
    document = await PDFDocument.load(pdf, { updateMetadata: false, ignoreEncryption: true });
  } catch (error) {
    throw new TextLayerError(`the PDF cannot be parsed (${error instanceof Error ? error.message : error})`);
  }
  // pdf-lib does not decrypt: an encrypted page's content would be read as noise.
  if (document.isEncrypted) throw new TextLayerError('the PDF is encrypted');
  const budget = new Budget();
  const reader = new Reader(document, budget);
  return pagesOf(document, budget).map(({ contents, resources }) => {
    const out = new TextSink();
    // A page's content streams form one stream: tokens and the text state run on across them.
    const source = contents.map((stream) => reader.streamText(stream)).join('\n');
    reader.interpret(source, resources, out, 0);
    return out.text();
  });
}

/** A PDF this reader cannot read, or will not (past its limits). */
export class TextLayerError extends Error {
  override name = 'TextLayerError';
}

/**
 * Bounds on the work one PDF can cause. A certificate's page decodes to some 50 kB and 10,000
 * tokens; these are two orders of magnitude above that, and still about a second of reading.
 */
const LIMITS = {
  pages: 64,
  /** Decoded bytes of one stream, and of all streams together. */
  streamBytes: 16 * 1024 * 1024,
  totalBytes: 64 * 1024 * 1024,
  /** Tokens read and glyph codes and character-map entries processed, all streams together. */
  work: 2_000_000,
  formDepth: 12,
  /** Operands waiting for their operator (a real operator takes at most a handful). */
  operands: 100_000,
} as const;

class Budget {
  private bytes = 0;
  private work = 0;
  spendBytes(count: number): void {
    this.bytes += count;
    if (this.bytes > LIMITS.totalBytes)
      throw new TextLayerError(`the PDF's streams decode to more than ${LIMITS.totalBytes} bytes`);
  }
  spendWork(count = 1): void {
    this.work += count;
    if (this.work > LIMITS.work) throw new TextLayerError('the PDF has too much content to read');
  }
}

interface PageSource {
  contents: PDFRawStream[];
  resources: PDFDict | undefined;
}

/** The pages in order, with their inherited resources; each page-tree node is visited once. */
function pagesOf(document: PDFDocument, budget: Budget): PageSource[] {
  const root = document.context.lookup(document.catalog.get(PDFName.of('Pages')));
  if (!(root instanceof PDFDict)) throw new TextLayerError('the PDF has no page tree');
  const pages: PageSource[] = [];
  const seen = new Set<PDFDict>();
  const stack: Array<{ node: PDFDict; inherited: PDFDict | undefined }> = [
    { node: root, inherited: undefined },
  ];
  while (stack.length > 0) {
    const { node, inherited } = stack.pop() ?? { node: root, inherited: undefined };
    if (seen.has(node)) continue;
    seen.add(node);
    budget.spendWork();
    const resources = lookupDict(document, node.get(PDFName.of('Resources'))) ?? inherited;
    const kids = document.context.lookup(node.get(PDFName.of('Kids')));
    if (kids instanceof PDFArray) {
      // Last kid first onto the stack: the first comes off first.
      for (let index = kids.size() - 1; index >= 0; index -= 1) {
        const kid = document.context.lookup(kids.get(index));
        if (kid instanceof PDFDict) stack.push({ node: kid, inherited: resources });
      }
      continue;
    }
    if (pages.length >= LIMITS.pages) throw new TextLayerError(`the PDF has more than ${LIMITS.pages} pages`);
    const contents = document.context.lookup(node.get(PDFName.of('Contents')));
    const streams: PDFRawStream[] = [];
    if (contents instanceof PDFArray) {
      for (let index = 0; index < contents.size(); index += 1) {
        const item = document.context.lookup(contents.get(index));
        if (item instanceof PDFRawStream) streams.push(item);
      }
    } else if (contents instanceof PDFRawStream) streams.push(contents);
    pages.push({ contents: streams, resources });
  }
  return pages;
}

function lookupDict(document: PDFDocument, value: PDFObject | undefined): PDFDict | undefined {
  const resolved = value instanceof PDFRef ? document.context.lookup(value) : value;
  return resolved instanceof PDFDict ? resolved : undefined;
}

/** The filters a stream names, in the order they are undone. */
function filtersOf(document: PDFDocument, stream: PDFRawStream): PDFName[] {
  const filter = document.context.lookup(stream.dict.get(PDFName.of('Filter')));
  if (filter === undefined) return [];
  if (filter instanceof PDFName) return [filter];
  if (filter instanceof PDFArray)
    return filter.asArray().map((item) => {
      const name = document.context.lookup(item);
      if (!(name instanceof PDFName)) throw new TextLayerError('a stream has a malformed /Filter');
      return name;
    });
  throw new TextLayerError('a stream has a malformed /Filter');
}

/**
 * A stream's decoded bytes, refused past LIMITS.streamBytes. Flate goes through zlib, which stops
 * at the limit (pdf-lib's decoder inflates a whole deflate block at once, and one block can
 * inflate a thousandfold); the rarer filters through pdf-lib, read up to the limit.
 */
function decodeStream(document: PDFDocument, stream: PDFRawStream): Uint8Array {
  let bytes = stream.contents;
  for (const filter of filtersOf(document, stream)) {
    if (bytes.length > LIMITS.streamBytes) break;
    if (filter === PDFName.of('FlateDecode')) {
      try {
        // Z_SYNC_FLUSH: a stream cut short still gives what it has, as pdf.js reads it.
        bytes = inflateSync(bytes, {
          maxOutputLength: LIMITS.streamBytes + 1,
          finishFlush: constants.Z_SYNC_FLUSH,
        });
      } catch (error) {
        if (error instanceof RangeError && 'code' in error && error.code === 'ERR_BUFFER_TOO_LARGE')
          throw new TextLayerError(`a stream decodes to more than ${LIMITS.streamBytes} bytes`);
        throw new TextLayerError(
          `a stream cannot be inflated (${error instanceof Error ? error.message : String(error)})`,
        );
      }
    } else {
      const decoder = decodePDFRawStream(PDFRawStream.of(document.context.obj({ Filter: filter }), bytes));
      // In chunks: asking for the limit at once would allocate it.
      const chunks: Uint8Array[] = [];
      let length = 0;
      for (;;) {
        const chunk = decoder.getBytes(64 * 1024);
        if (chunk.length === 0) break;
        chunks.push(new Uint8Array(chunk));
        length += chunk.length;
        if (length > LIMITS.streamBytes) break;
      }
      bytes = Buffer.concat(chunks);
    }
  }
  if (bytes.length > LIMITS.streamBytes)
    throw new TextLayerError(`a stream decodes to more than ${LIMITS.streamBytes} bytes`);
  return bytes;
}

interface Unit {
  text: string;
  /** Drawn inside /ReversedChars: part of a right-to-left run, stored in visual order. */
  rtl: boolean;
}

class TextSink {
  private lines: Unit[][] = [];
  private current: Unit[] = [];
  private lastY: number | undefined;
  private reversedDepth = 0;

  moveTo(y: number, fontSize: number): void {
    // Marks (Arabic vowels, Indic signs) are drawn slightly above or below the baseline: only a
    // move of more than half the font size starts a new line.
    if (this.lastY !== undefined && Math.abs(y - this.lastY) <= Math.max(1, fontSize * 0.5)) return;
    if (this.lastY !== undefined) {
      this.lines.push(this.current);
      this.current = [];
    }
    this.lastY = y;
  }
  add(text: string): void {
    this.current.push({ text, rtl: this.reversedDepth > 0 });
  }
  beginReversed(): void {
    this.reversedDepth += 1;
  }
  endReversed(): void {
    this.reversedDepth = Math.max(0, this.reversedDepth - 1);
  }
  text(): string {
    return [...this.lines, this.current]
      .map((line) =>
        logicalOrder(
          line,
          (unit) => unit.rtl,
          (unit) => unit.text,
        ).join(''),
      )
      .join('\n');
  }
}

/**
 * Visual to logical order, for any reader's pieces of one line: a right-to-left run is drawn left
 * to right piece by piece (Skia marks each, a word: spaces come from another font, with
 * /ReversedChars; pdf.js gives such pieces `dir: 'rtl'`). A run is the longest stretch of
 * right-to-left pieces joined by whitespace; it is read back to front. The pieces' texts, in order.
 */
export function logicalOrder<T>(
  pieces: readonly T[],
  rtl: (piece: T) => boolean,
  text: (piece: T) => string,
): string[] {
  const result: string[] = [];
  let index = 0;
  while (index < pieces.length) {
    const piece = pieces[index];
    if (piece === undefined || !rtl(piece)) {
      result.push(piece === undefined ? '' : text(piece));
      index += 1;
      continue;
    }
    let end = index;
    for (let probe = index + 1; probe < pieces.length; probe += 1) {
      const next = pieces[probe];
      if (next !== undefined && rtl(next)) end = probe;
      else if (!/^\s*$/u.test(next === undefined ? '' : text(next))) break;
    }
    for (let at = end; at >= index; at -= 1) {
      const back = pieces[at];
      result.push(back === undefined ? '' : text(back));
    }
    index = end + 1;
  }
  return result;
}

// ---- content-stream tokens ----

/** A string operand, literal or hex, as its bytes (one character per byte, 0-255). */
interface Bytes {
  bytes: string;
}
type Operand =
  | number
  | boolean
  | null
  | Bytes
  | { name: string }
  | { dict: Map<string, Operand> }
  | Operand[];
type Token = { kind: 'op'; value: string } | { kind: 'operand'; value: Operand };

const isBytes = (value: Operand | undefined): value is Bytes =>
  typeof value === 'object' && value !== null && 'bytes' in value;
const isName = (value: Operand | undefined): value is { name: string } =>
  typeof value === 'object' && value !== null && 'name' in value;
const isDict = (value: Operand | undefined): value is { dict: Map<string, Operand> } =>
  typeof value === 'object' && value !== null && 'dict' in value;

// PDF whitespace (NUL, tab, LF, FF, CR, space) and delimiters.
const WHITESPACE = new Set(['\0', '\t', '\n', '\f', '\r', ' ']);
const DELIMITER = new Set(['(', ')', '<', '>', '[', ']', '{', '}', '/', '%']);
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' };
const INLINE_IMAGE_END = /[\0\t\n\f\r ]EI(?=[\0\t\n\f\r ]|$)/g;

/**
 * The tokens of a content stream (or a CMap: the same syntax), operands inside arrays and
 * dictionaries gathered into them. Every step moves forward, each token costs one unit of work.
 */
function* tokens(source: string, budget: Budget): Generator<Token> {
  const containers: Array<{ kind: 'array' | 'dict'; items: Operand[] }> = [];
  let index = 0;
  function* emit(value: Operand): Generator<Token> {
    const top = containers.at(-1);
    if (top) top.items.push(value);
    else yield { kind: 'operand', value };
  }
  while (index < source.length) {
    const char = source[index] ?? '';
    if (WHITESPACE.has(char)) {
      index += 1;
      continue;
    }
    budget.spendWork();
    if (char === '%') {
      while (index < source.length && source[index] !== '\n' && source[index] !== '\r') index += 1;
    } else if (source.startsWith('<<', index)) {
      containers.push({ kind: 'dict', items: [] });
      index += 2;
    } else if (source.startsWith('>>', index)) {
      index += 2;
      if (containers.at(-1)?.kind !== 'dict') continue;
      const items = containers.pop()?.items ?? [];
      const dict = new Map<string, Operand>();
      for (let at = 0; at + 1 < items.length; at += 2) {
        const key = items[at];
        if (isName(key)) dict.set(key.name, items[at + 1] ?? null);
      }
      yield* emit({ dict });
    } else if (char === '<') {
      let end = source.indexOf('>', index + 1);
      // Unterminated: the rest of the stream is the string.
      if (end === -1) end = source.length;
      const digits = source.slice(index + 1, end).replace(/[^0-9a-fA-F]/g, '');
      // An odd final digit is followed by 0 (PDF 32000-1, 7.3.4.3).
      yield* emit({
        bytes: Buffer.from(digits.length % 2 ? `${digits}0` : digits, 'hex').toString('latin1'),
      });
      index = end + 1;
    } else if (char === '(') {
      const { bytes, next } = literalString(source, index + 1);
      yield* emit({ bytes });
      index = next;
    } else if (char === '[') {
      containers.push({ kind: 'array', items: [] });
      index += 1;
    } else if (char === ']') {
      index += 1;
      if (containers.at(-1)?.kind !== 'array') continue;
      yield* emit(containers.pop()?.items ?? []);
    } else if (char === '/') {
      let end = index + 1;
      while (end < source.length && !WHITESPACE.has(source[end] ?? '') && !DELIMITER.has(source[end] ?? ''))
        end += 1;
      const name = source
        .slice(index + 1, end)
        .replace(/#([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
      yield* emit({ name });
      index = end;
    } else if (DELIMITER.has(char)) {
      // A stray ')', '>', '{' or '}': nothing Skia writes; skipped.
      index += 1;
    } else {
      let end = index + 1;
      while (end < source.length && !WHITESPACE.has(source[end] ?? '') && !DELIMITER.has(source[end] ?? ''))
        end += 1;
      const word = source.slice(index, end);
      index = end;
      if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(word)) yield* emit(Number(word));
      else if (word === 'true' || word === 'false') yield* emit(word === 'true');
      else if (word === 'null') yield* emit(null);
      else if (containers.length === 0) {
        yield { kind: 'op', value: word };
        // An inline image's data is binary, not tokens: skip to its EI.
        if (word === 'ID') {
          INLINE_IMAGE_END.lastIndex = index + 1;
          const match = INLINE_IMAGE_END.exec(source);
          index = match ? match.index + match[0].length : source.length;
        }
      }
    }
  }
}

/** A literal string from just after its "(" on: its bytes, and where the source goes on. */
function literalString(source: string, start: number): { bytes: string; next: number } {
  let depth = 1;
  let bytes = '';
  let index = start;
  while (index < source.length) {
    const char = source[index] ?? '';
    if (char === '\\') {
      const next = source[index + 1] ?? '';
      const octal = /^[0-7]{1,3}/.exec(source.slice(index + 1, index + 4))?.[0];
      if (octal) {
        bytes += String.fromCharCode(Number.parseInt(octal, 8) & 0xff);
        index += 1 + octal.length;
      } else if (next === '\r' || next === '\n') {
        // A backslash at the end of a line continues the string on the next.
        index += source.startsWith('\r\n', index + 1) ? 3 : 2;
      } else {
        bytes += ESCAPES[next] ?? next;
        index += 2;
      }
      continue;
    }
    if (char === '(') depth += 1;
    if (char === ')') {
      depth -= 1;
      if (depth === 0) return { bytes, next: index + 1 };
    }
    bytes += char;
    index += 1;
  }
  return { bytes, next: index };
}

/** Bytes as UTF-16BE (a leading byte-order mark skipped). */
function utf16(bytes: string): string {
  const start = bytes.startsWith('\xfe\xff') ? 2 : 0;
  let text = '';
  for (let at = start; at + 1 < bytes.length; at += 2)
    text += String.fromCharCode((bytes.charCodeAt(at) << 8) | bytes.charCodeAt(at + 1));
  return text;
}

/** A PDF text string (an /ActualText): UTF-16BE with its byte-order mark, else PDFDocEncoding. */
function textString(bytes: string): string {
  // PDFDocEncoding is Latin-1 for the letters that matter here.
  return bytes.startsWith('\xfe\xff') ? utf16(bytes) : bytes;
}

/** A character code's value from its bytes (big-endian). */
function codeOf(bytes: string): number {
  let code = 0;
  for (let at = 0; at < bytes.length && at < 4; at += 1) code = code * 256 + bytes.charCodeAt(at);
  return code;
}

/** A ToUnicode CMap's bfchar and bfrange entries: character code to text. */
function parseToUnicode(source: string, budget: Budget): Map<number, string> {
  const map = new Map<number, string>();
  let operands: Operand[] = [];
  for (const token of tokens(source, budget)) {
    if (token.kind === 'operand') {
      operands.push(token.value);
      if (operands.length > LIMITS.operands) throw new TextLayerError('a character map is malformed');
      continue;
    }
    if (token.value === 'endbfchar') {
      for (let at = 0; at + 1 < operands.length; at += 2) {
        const code = operands[at];
        const text = operands[at + 1];
        if (isBytes(code) && isBytes(text)) map.set(codeOf(code.bytes), utf16(text.bytes));
      }
    } else if (token.value === 'endbfrange') {
      for (let at = 0; at + 2 < operands.length; at += 3) {
        const low = operands[at];
        const high = operands[at + 1];
        const target = operands[at + 2];
        if (!(isBytes(low) && isBytes(high))) continue;
        const from = codeOf(low.bytes);
        // A range past 2^16 codes is none a font has (two-byte codes at most).
        const to = Math.min(codeOf(high.bytes), from + 0xffff);
        budget.spendWork(Math.max(0, to - from + 1));
        if (isBytes(target)) {
          const base = utf16(target.bytes);
          if (base === '') continue;
          const last = base.charCodeAt(base.length - 1);
          for (let code = from; code <= to; code += 1)
            map.set(code, base.slice(0, -1) + String.fromCharCode((last + code - from) & 0xffff));
        } else if (Array.isArray(target)) {
          for (let code = from; code <= to; code += 1) {
            const item = target[code - from];
            if (isBytes(item)) map.set(code, utf16(item.bytes));
          }
        }
      }
    }
    operands = [];
  }
  return map;
}

/**
 * The /ActualText of a marked-content property list: inline (as Skia writes it) or named in the
 * resources' /Properties (as other producers may).
 */
function actualTextOf(
  props: Operand | undefined,
  named: (name: string) => PDFObject | undefined,
): string | undefined {
  if (isDict(props)) {
    const actual = props.dict.get('ActualText');
    return isBytes(actual) ? textString(actual.bytes) : undefined;
  }
  if (!isName(props)) return undefined;
  const dict = named(props.name);
  const actual = dict instanceof PDFDict ? dict.get(PDFName.of('ActualText')) : undefined;
  return actual instanceof PDFHexString || actual instanceof PDFString ? actual.decodeText() : undefined;
}

// ---- the interpreter ----

class Reader {
  private readonly decoded = new Map<PDFRawStream, string>();
  private readonly cmaps = new Map<PDFDict, Map<number, string>>();

  constructor(
    private readonly document: PDFDocument,
    private readonly budget: Budget,
  ) {}

  /** A stream's decoded bytes, one character per byte; each stream decoded once. */
  streamText(stream: PDFRawStream): string {
    let text = this.decoded.get(stream);
    if (text === undefined) {
      const bytes = decodeStream(this.document, stream);
      this.budget.spendBytes(bytes.length);
      text = Buffer.from(bytes).toString('latin1');
      this.decoded.set(stream, text);
    }
    return text;
  }

  private cmapOf(font: PDFDict | undefined): Map<number, string> {
    if (!font) return new Map();
    let cmap = this.cmaps.get(font);
    if (cmap) return cmap;
    const stream = this.document.context.lookup(font.get(PDFName.of('ToUnicode')));
    cmap = stream instanceof PDFRawStream ? parseToUnicode(this.streamText(stream), this.budget) : new Map();
    this.cmaps.set(font, cmap);
    return cmap;
  }

  interpret(source: string, resources: PDFDict | undefined, out: TextSink, depth: number): void {
    const document = this.document;
    const resource = (kind: string, name: string): PDFObject | undefined =>
      document.context.lookup(lookupDict(document, resources?.get(PDFName.of(kind)))?.get(PDFName.of(name)));

    let font: PDFDict | undefined;
    // Composite (Type0) fonts use two-byte codes (Skia: Identity-H); simple and Type3 fonts (Skia
    // draws colour emoji as Type3) one byte.
    let codeBytes = 1;
    let fontSize = 10;
    // Text line matrix: baseline y and vertical scale (Skia flips it: d = -1); ty accumulates Td.
    let lineY = 0;
    let scaleY = 1;
    let ty = 0;
    let leading = 0;
    let operands: Operand[] = [];
    // One entry per open marked-content sequence: what to do at its EMC.
    const marked: Array<'actual' | 'reversed' | 'other'> = [];
    let actualDepth = 0;
    // ActualText is emitted with the span's first glyph, after the Tm that places it.
    let pendingActual: string | undefined;

    const nextLine = (dy: number) => {
      ty += dy;
      out.moveTo(lineY + scaleY * ty, fontSize * Math.abs(scaleY));
    };
    const show = (value: Operand | undefined) => {
      if (!isBytes(value)) return;
      if (actualDepth > 0) {
        // The span's text stands for all its glyphs.
        if (pendingActual !== undefined) out.add(pendingActual);
        pendingActual = undefined;
        return;
      }
      const cmap = this.cmapOf(font);
      const { bytes } = value;
      this.budget.spendWork(bytes.length);
      for (let at = 0; at + codeBytes <= bytes.length; at += codeBytes) {
        const unit = cmap.get(codeOf(bytes.slice(at, at + codeBytes)));
        if (unit) out.add(unit);
      }
    };
    const number = (value: Operand | undefined, fallback: number): number =>
      typeof value === 'number' && Number.isFinite(value) ? value : fallback;

    for (const token of tokens(source, this.budget)) {
      if (token.kind === 'operand') {
        operands.push(token.value);
        if (operands.length > LIMITS.operands) throw new TextLayerError('a content stream is malformed');
        continue;
      }
      const args = operands;
      operands = [];
      switch (token.value) {
        case 'Tf': {
          const name = args[0];
          if (isName(name)) {
            const found = resource('Font', name.name);
            font = found instanceof PDFDict ? found : undefined;
            codeBytes = font?.get(PDFName.of('Subtype')) === PDFName.of('Type0') ? 2 : 1;
          }
          fontSize = Math.abs(number(args[1], fontSize));
          break;
        }
        case 'BT':
          lineY = 0;
          scaleY = 1;
          ty = 0;
          break;
        case 'Tm':
          scaleY = number(args[3], 1);
          lineY = number(args[5], 0);
          ty = 0;
          out.moveTo(lineY, fontSize * Math.abs(scaleY));
          break;
        case 'TL':
          leading = number(args[0], leading);
          break;
        case 'Td':
          nextLine(number(args[1], 0));
          break;
        case 'TD':
          leading = -number(args[1], 0);
          nextLine(number(args[1], 0));
          break;
        case 'T*':
          nextLine(-leading);
          break;
        case 'Tj':
          show(args[0]);
          break;
        case "'":
        case '"':
          nextLine(-leading);
          show(args.at(-1));
          break;
        case 'TJ': {
          const array = args[0];
          if (Array.isArray(array)) for (const item of array) show(item);
          break;
        }
        case 'BDC': {
          const actual = actualTextOf(args[1], (name) => resource('Properties', name));
          // A span inside a span: the outer text already stands for everything in it.
          if (actual !== undefined && actualDepth === 0) {
            pendingActual = actual;
            actualDepth += 1;
            marked.push('actual');
          } else marked.push('other');
          break;
        }
        case 'BMC': {
          const tag = args[0];
          if (isName(tag) && tag.name === 'ReversedChars') {
            out.beginReversed();
            marked.push('reversed');
          } else marked.push('other');
          break;
        }
        case 'EMC': {
          const kind = marked.pop();
          if (kind === 'actual') {
            actualDepth -= 1;
            if (pendingActual !== undefined) out.add(pendingActual);
            pendingActual = undefined;
          }
          if (kind === 'reversed') out.endReversed();
          break;
        }
        case 'Do': {
          const name = args[0];
          if (!isName(name)) break;
          const stream = resource('XObject', name.name);
          if (
            !(stream instanceof PDFRawStream) ||
            stream.dict.get(PDFName.of('Subtype')) !== PDFName.of('Form')
          )
            break;
          if (depth >= LIMITS.formDepth) throw new TextLayerError('the PDF nests forms too deeply');
          const inner = lookupDict(document, stream.dict.get(PDFName.of('Resources'))) ?? resources;
          this.interpret(this.streamText(stream), inner, out, depth + 1);
          break;
        }
        default:
          break;
      }
    }
  }
}
