import {
  decodePDFRawStream,
  PDFArray,
  PDFDict,
  PDFDocument,
  PDFName,
  type PDFObject,
  PDFRawStream,
  PDFRef,
} from 'pdf-lib';

/**
 * Text of a PDF page as a reader copying it would get it, honouring what pdf.js ignores:
 * `/Span <</ActualText ...>>` (Chromium/Skia writes it for shaped glyphs, e.g. Arabic contextual
 * forms and Indic clusters, whose glyphs have no Unicode of their own) and `/ReversedChars`
 * (right-to-left runs are drawn in visual order). Lines break where the baseline moves.
 * Handles the operators Skia emits (Tf, Tm, Td, Tj, TJ, BDC/BMC/EMC, Do); not a general parser.
 */
export async function pdfTextLayer(pdf: Uint8Array, pageIndex = 0): Promise<string> {
  const document = await PDFDocument.load(pdf, { updateMetadata: false });
  const page = document.getPage(pageIndex);
  const out = new TextSink();
  const contents = page.node.Contents();
  const streams: PDFRawStream[] = [];
  if (contents instanceof PDFArray) {
    for (let index = 0; index < contents.size(); index += 1) {
      const item = document.context.lookup(contents.get(index));
      if (item instanceof PDFRawStream) streams.push(item);
    }
  } else if (contents instanceof PDFRawStream) streams.push(contents);
  const resources = page.node.Resources();
  for (const stream of streams) interpret(document, decode(stream), resources, out);
  return out.text();
}

function decode(stream: PDFRawStream): string {
  return Buffer.from(decodePDFRawStream(stream).decode()).toString('latin1');
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
    return [...this.lines, this.current].map((line) => logicalOrder(line).join('')).join('\n');
  }
}

/**
 * Visual to logical order: a right-to-left run is drawn left to right glyph by glyph, and Skia
 * marks each piece (a word: spaces come from another font) with /ReversedChars. A run is the
 * longest stretch of such units joined by whitespace; it is read back to front.
 */
function logicalOrder(units: Unit[]): string[] {
  const result: string[] = [];
  let index = 0;
  while (index < units.length) {
    const unit = units[index];
    if (!unit?.rtl) {
      result.push(unit?.text ?? '');
      index += 1;
      continue;
    }
    let end = index;
    for (let probe = index + 1; probe < units.length; probe += 1) {
      const next = units[probe];
      if (next?.rtl) end = probe;
      else if (!/^\s*$/.test(next?.text ?? '')) break;
    }
    for (let at = end; at >= index; at -= 1) result.push(units[at]?.text ?? '');
    index = end + 1;
  }
  return result;
}

type Token = { kind: 'op'; value: string } | { kind: 'operand'; value: Operand };
type Operand =
  | number
  | string
  | { hex: string }
  | { name: string }
  | { dict: Record<string, Operand> }
  | Operand[];

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  const stack: Operand[][] = [];
  const dictStack: Operand[][] = [];
  const push = (value: Operand) => {
    const top = stack.at(-1) ?? dictStack.at(-1);
    if (top) top.push(value);
    else tokens.push({ kind: 'operand', value });
  };
  while (index < source.length) {
    const char = source[index] ?? '';
    if (/\s/.test(char)) {
      index += 1;
    } else if (char === '%') {
      while (index < source.length && source[index] !== '\n') index += 1;
    } else if (source.startsWith('<<', index)) {
      dictStack.push([]);
      index += 2;
    } else if (source.startsWith('>>', index)) {
      const items = dictStack.pop() ?? [];
      const dict: Record<string, Operand> = {};
      for (let at = 0; at + 1 < items.length; at += 2) {
        const key = items[at];
        if (key && typeof key === 'object' && 'name' in key) dict[key.name] = items[at + 1] ?? 0;
      }
      push({ dict });
      index += 2;
    } else if (char === '<') {
      const end = source.indexOf('>', index);
      push({ hex: source.slice(index + 1, end).replace(/\s/g, '') });
      index = end + 1;
    } else if (char === '(') {
      let depth = 1;
      let value = '';
      index += 1;
      while (index < source.length && depth > 0) {
        const c = source[index] ?? '';
        if (c === '\\') {
          value += source[index + 1] ?? '';
          index += 2;
          continue;
        }
        if (c === '(') depth += 1;
        if (c === ')') depth -= 1;
        if (depth > 0) value += c;
        index += 1;
      }
      push(value);
    } else if (char === '[') {
      stack.push([]);
      index += 1;
    } else if (char === ']') {
      const array = stack.pop() ?? [];
      push(array);
      index += 1;
    } else if (char === '/') {
      const match = /^\/[^\s/<>[\]()]*/.exec(source.slice(index, index + 200)) ?? ['/'];
      push({ name: match[0].slice(1) });
      index += match[0].length;
    } else {
      const match = /^[^\s/<>[\]()]+/.exec(source.slice(index, index + 200)) ?? [char];
      const word = match[0];
      index += word.length;
      if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(word)) push(Number(word));
      else if (stack.length === 0 && dictStack.length === 0) tokens.push({ kind: 'op', value: word });
    }
  }
  return tokens;
}

function hexToUtf16(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  let start = 0;
  if (bytes[0] === 0xfe && bytes[1] === 0xff) start = 2;
  let text = '';
  for (let at = start; at + 1 < bytes.length; at += 2)
    text += String.fromCharCode(((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0));
  return text;
}

function parseToUnicode(cmap: string): Map<number, string> {
  const map = new Map<number, string>();
  for (const block of cmap.matchAll(/beginbfchar([\s\S]*?)endbfchar/g)) {
    for (const pair of (block[1] ?? '').matchAll(/<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]*)>/g))
      map.set(Number.parseInt(pair[1] ?? '0', 16), hexToUtf16(pair[2] ?? ''));
  }
  for (const block of cmap.matchAll(/beginbfrange([\s\S]*?)endbfrange/g)) {
    for (const range of (block[1] ?? '').matchAll(
      /<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>/g,
    )) {
      const from = Number.parseInt(range[1] ?? '0', 16);
      const to = Number.parseInt(range[2] ?? '0', 16);
      const base = hexToUtf16(range[3] ?? '');
      for (let code = from; code <= to; code += 1)
        map.set(
          code,
          base.slice(0, -1) + String.fromCharCode(base.charCodeAt(base.length - 1) + code - from),
        );
    }
  }
  return map;
}

function lookupDict(document: PDFDocument, value: PDFObject | undefined): PDFDict | undefined {
  const resolved = value instanceof PDFRef ? document.context.lookup(value) : value;
  return resolved instanceof PDFDict ? resolved : undefined;
}

function interpret(
  document: PDFDocument,
  source: string,
  resources: PDFDict | undefined,
  out: TextSink,
): void {
  const fonts = lookupDict(document, resources?.get(PDFName.of('Font')));
  const xobjects = lookupDict(document, resources?.get(PDFName.of('XObject')));
  const cmaps = new Map<string, Map<number, string>>();
  const widths = new Map<string, number>();
  // Composite (Type0) fonts use two-byte codes; simple and Type3 fonts (Skia draws colour
  // emoji as Type3) one byte.
  const codeWidth = (fontName: string): number => {
    let width = widths.get(fontName);
    if (width === undefined) {
      const font = lookupDict(document, fonts?.get(PDFName.of(fontName)));
      width = font?.get(PDFName.of('Subtype')) === PDFName.of('Type0') ? 4 : 2;
      widths.set(fontName, width);
    }
    return width;
  };
  const cmapFor = (fontName: string): Map<number, string> => {
    let cmap = cmaps.get(fontName);
    if (cmap) return cmap;
    cmap = new Map();
    const font = lookupDict(document, fonts?.get(PDFName.of(fontName)));
    const toUnicode = font?.get(PDFName.of('ToUnicode'));
    const stream = toUnicode instanceof PDFRef ? document.context.lookup(toUnicode) : toUnicode;
    if (stream instanceof PDFRawStream) cmap = parseToUnicode(decode(stream));
    cmaps.set(fontName, cmap);
    return cmap;
  };

  let font = '';
  let fontSize = 10;
  // Text line matrix: baseline y and vertical scale (Skia flips it: d = -1); ty accumulates Td.
  let lineY = 0;
  let scaleY = 1;
  let ty = 0;
  const operands: Operand[] = [];
  // One entry per open marked-content sequence: what to do at its EMC.
  const marked: Array<'actual' | 'reversed' | 'other'> = [];
  let actualDepth = 0;
  // ActualText is emitted with the span's first glyph, after the Tm that places it.
  let pendingActual: string | undefined;

  const show = (hex: string) => {
    if (actualDepth > 0) {
      if (pendingActual !== undefined) out.add(pendingActual);
      pendingActual = undefined;
      return;
    }
    const cmap = cmapFor(font);
    const step = codeWidth(font);
    for (let at = 0; at + step <= hex.length; at += step) {
      const unit = cmap.get(Number.parseInt(hex.slice(at, at + step), 16));
      if (unit) out.add(unit);
    }
  };

  for (const token of tokenize(source)) {
    if (token.kind === 'operand') {
      operands.push(token.value);
      continue;
    }
    const args = operands.splice(0);
    switch (token.value) {
      case 'Tf': {
        const name = args[0];
        if (name && typeof name === 'object' && 'name' in name) font = name.name;
        fontSize = Math.abs(Number(args[1] ?? fontSize));
        break;
      }
      case 'Tm':
        scaleY = Number(args[3] ?? 1);
        lineY = Number(args[5] ?? 0);
        ty = 0;
        out.moveTo(lineY, fontSize * Math.abs(scaleY));
        break;
      case 'Td':
      case 'TD':
        ty += Number(args[1] ?? 0);
        out.moveTo(lineY + scaleY * ty, fontSize * Math.abs(scaleY));
        break;
      case 'Tj':
      case "'":
      case '"': {
        const value = args.at(-1);
        if (value && typeof value === 'object' && 'hex' in value) show(value.hex);
        break;
      }
      case 'TJ': {
        const array = args[0];
        if (Array.isArray(array))
          for (const item of array) if (item && typeof item === 'object' && 'hex' in item) show(item.hex);
        break;
      }
      case 'BDC': {
        const props = args[1];
        const actual =
          props && typeof props === 'object' && 'dict' in props ? props.dict.ActualText : undefined;
        if (actual !== undefined) {
          pendingActual =
            typeof actual === 'object' && 'hex' in actual ? hexToUtf16(actual.hex) : String(actual);
          actualDepth += 1;
          marked.push('actual');
        } else marked.push('other');
        break;
      }
      case 'BMC': {
        const tag = args[0];
        if (tag && typeof tag === 'object' && 'name' in tag && tag.name === 'ReversedChars') {
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
        if (!(name && typeof name === 'object' && 'name' in name)) break;
        const ref = xobjects?.get(PDFName.of(name.name));
        const stream = ref instanceof PDFRef ? document.context.lookup(ref) : ref;
        if (stream instanceof PDFRawStream && stream.dict.get(PDFName.of('Subtype')) === PDFName.of('Form')) {
          const inner = lookupDict(document, stream.dict.get(PDFName.of('Resources'))) ?? resources;
          interpret(document, decode(stream), inner, out);
        }
        break;
      }
      default:
        break;
    }
  }
}

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
