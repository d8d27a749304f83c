import { deflateSync } from 'node:zlib';
import { PDFHexString, PDFName, PDFString } from 'pdf-lib';

/**
 * Document information and attached files written as a PDF incremental update (ISO 32000-1,
 * 7.5.6): the PDF Chromium printed stays byte for byte, and a few objects follow it (a new
 * information dictionary, the embedded files and their file specifications, the catalog again
 * with the /Names tree), with an xref section and a trailer whose /Prev points at Chromium's.
 * Every reader resolves an object to its latest definition, so the document reads as if it had
 * been written with them.
 *
 * Why not pdf-lib, which did this before: loading and saving the whole document cost ~5.6 ms a
 * certificate (a warm template-once print is ~20 ms), only to change a few hundred bytes.
 *
 * Only the layout Chromium (Skia) writes is handled: a classic xref table and trailer, no
 * encryption, a catalog without /Names or /AF. Anything else answers `undefined`, and the
 * caller takes the pdf-lib path, so an unexpected PDF is slower, never wrong.
 */

export interface PdfInfo {
  title: string;
  author: string;
  subject: string;
  keywords: string[];
  creator: string;
  /** Creation and modification date; absent: left as the printer wrote them. */
  date?: Date;
}

export interface PdfAttachment {
  name: string;
  mimeType: string;
  description: string;
  data: Uint8Array;
}

// Strings, names and dates in PDF syntax come from pdf-lib's own objects (the ones its
// rewrite, the fallback, writes these fields with): only the document is not loaded.

/** A text string as UTF-16BE with a byte order mark, in hex: any script, nothing to escape. */
const textString = (text: string): string => PDFHexString.fromText(text).toString();

/** A byte string of ASCII text (file names): anything else goes through the hex text string. */
function asciiString(text: string): string {
  return /^[\x20-\x7e]*$/.test(text)
    ? `(${text.replace(/[\\()]/g, (char) => `\\${char}`)})`
    : textString(text);
}

/** End (exclusive) of the dictionary starting at `start` ("<<"), skipping strings; -1 if malformed. */
function dictionaryEnd(text: string, start: number): number {
  let depth = 0;
  let index = start;
  while (index < text.length) {
    const char = text[index];
    if (char === '(') {
      let nesting = 0;
      for (; index < text.length; index += 1) {
        const inner = text[index];
        if (inner === '\\') index += 1;
        else if (inner === '(') nesting += 1;
        else if (inner === ')' && --nesting === 0) break;
      }
      index += 1;
    } else if (char === '<' && text[index + 1] === '<') {
      depth += 1;
      index += 2;
    } else if (char === '<') {
      index = text.indexOf('>', index) + 1;
      if (index === 0) return -1;
    } else if (char === '>' && text[index + 1] === '>') {
      depth -= 1;
      index += 2;
      if (depth === 0) return index;
    } else {
      index += 1;
    }
  }
  return -1;
}

interface Layout {
  previousXref: number;
  size: number;
  root: number;
  info: number | undefined;
  /** The catalog's entries, without the enclosing << >>. */
  catalog: string;
  /** Entries of Chromium's information dictionary kept when not replaced (Producer, dates). */
  kept: Record<string, string>;
  /** The page tree's /Count, when it reads as Chromium writes it. */
  pageCount: number | undefined;
}

/** The parts of Chromium's PDF the update builds on, or undefined when the layout is another. */
function readLayout(pdf: Uint8Array): Layout | undefined {
  const text = Buffer.from(pdf.buffer, pdf.byteOffset, pdf.byteLength).toString('latin1');
  const tail = /startxref\s+(\d+)\s+%%EOF\s*$/.exec(text.slice(-64));
  const previousXref = Number(tail?.[1]);
  if (!tail || !text.startsWith('xref', previousXref)) return undefined;
  const trailerAt = text.indexOf('trailer', previousXref);
  const trailerStart = text.indexOf('<<', trailerAt);
  const trailerEnd = trailerAt < 0 ? -1 : dictionaryEnd(text, trailerStart);
  if (trailerEnd < 0) return undefined;
  const trailer = text.slice(trailerStart, trailerEnd);
  if (/\/(Encrypt|Prev|XRefStm)\b/.test(trailer)) return undefined;
  const size = Number(/\/Size\s+(\d+)/.exec(trailer)?.[1]);
  const root = Number(/\/Root\s+(\d+)\s+0\s+R/.exec(trailer)?.[1]);
  const infoMatch = /\/Info\s+(\d+)\s+0\s+R/.exec(trailer);
  if (!Number.isInteger(size) || !Number.isInteger(root)) return undefined;

  // One subsection or several ("first count" lines, then 20-byte entries).
  const offsetOf = (objectNumber: number): number | undefined => {
    let at = text.indexOf('\n', previousXref) + 1;
    while (at > 0 && at < trailerAt) {
      const header = /^(\d+) (\d+)\s*\r?\n/.exec(text.slice(at, at + 32));
      if (!header) return undefined;
      const first = Number(header[1]);
      const count = Number(header[2]);
      at += header[0].length;
      if (objectNumber >= first && objectNumber < first + count) {
        const entry = text.slice(at + (objectNumber - first) * 20, at + (objectNumber - first) * 20 + 18);
        return entry.endsWith(' n') ? Number(entry.slice(0, 10)) : undefined;
      }
      at += count * 20;
    }
    return undefined;
  };
  const objectBody = (objectNumber: number): string | undefined => {
    const offset = offsetOf(objectNumber);
    if (offset === undefined) return undefined;
    const header = new RegExp(`^${objectNumber}\\s+0\\s+obj\\s*`).exec(text.slice(offset, offset + 32));
    if (!header || !text.startsWith('<<', offset + header[0].length)) return undefined;
    const start = offset + header[0].length;
    const end = dictionaryEnd(text, start);
    return end < 0 ? undefined : text.slice(start + 2, end - 2);
  };

  const catalog = objectBody(root);
  if (catalog === undefined || !/\/Type\s*\/Catalog\b/.test(catalog)) return undefined;
  if (/\/(Names|AF)\b/.test(catalog)) return undefined;
  // Our title must show in the window title bar; a catalog that says otherwise is not Chromium's.
  if (/\/ViewerPreferences\b/.test(catalog) && !/\/DisplayDocTitle\s+true\b/.test(catalog)) return undefined;
  const info = infoMatch ? Number(infoMatch[1]) : undefined;
  const oldInfo = info === undefined ? '' : (objectBody(info) ?? '');
  const kept: Record<string, string> = {};
  for (const key of ['Producer', 'CreationDate', 'ModDate']) {
    // Literal strings without escapes or nesting: what Skia writes for these.
    const value = new RegExp(`/${key}\\s*(\\([^()\\\\]*\\))`).exec(oldInfo)?.[1];
    if (value) kept[key] = value;
  }
  const pagesNumber = Number(/\/Pages\s+(\d+)\s+0\s+R/.exec(catalog)?.[1]);
  const pages = Number.isInteger(pagesNumber) ? objectBody(pagesNumber) : undefined;
  const count = Number(/\/Count\s+(\d+)/.exec(pages ?? '')?.[1]);
  const pageCount =
    pages !== undefined && /\/Type\s*\/Pages\b/.test(pages) && Number.isInteger(count) ? count : undefined;
  return { previousXref, size, root, info, catalog, kept, pageCount };
}

/** How many pages a PDF as Chromium writes it has, read from its page tree; undefined for another layout. */
export function chromiumPdfPageCount(pdf: Uint8Array): number | undefined {
  return readLayout(pdf)?.pageCount;
}

/**
 * `pdf` with `info` and `attachments` written as an incremental update, or undefined when the
 * PDF is not laid out as Chromium writes it (then use pdf-lib).
 */
export function appendPdfUpdate(
  pdf: Uint8Array,
  info: PdfInfo,
  attachments: readonly PdfAttachment[],
): Uint8Array | undefined {
  const layout = readLayout(pdf);
  if (!layout) return undefined;
  let next = layout.size;
  const infoNumber = layout.info ?? next++;
  const objects: { number: number; body: Buffer }[] = [];
  const add = (number: number, body: string | Buffer) =>
    objects.push({ number, body: typeof body === 'string' ? Buffer.from(body, 'latin1') : body });

  // Created and modified on the same date (the issue date).
  const date = info.date ? PDFString.fromDate(info.date).toString() : undefined;
  const entries: Record<string, string> = {
    ...layout.kept,
    Title: textString(info.title),
    Author: textString(info.author),
    Subject: textString(info.subject),
    Keywords: textString(info.keywords.join(' ')),
    Creator: textString(info.creator),
    ...(date ? { CreationDate: date, ModDate: date } : {}),
  };
  add(
    infoNumber,
    `<<${Object.entries(entries)
      .map(([key, value]) => `/${key} ${value}`)
      .join('\n')}>>`,
  );

  // A name tree's keys are sorted (7.9.6).
  const sorted = [...attachments].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const specs: { name: string; number: number }[] = [];
  for (const file of sorted) {
    const streamNumber = next++;
    const specNumber = next++;
    const packed = deflateSync(file.data);
    const params = `<</Size ${file.data.byteLength}${date ? ` /CreationDate ${date} /ModDate ${date}` : ''}>>`;
    add(
      streamNumber,
      Buffer.concat([
        Buffer.from(
          `<</Type /EmbeddedFile /Subtype ${PDFName.of(file.mimeType).toString()} /Params ${params} /Filter /FlateDecode /Length ${packed.byteLength}>>\nstream\n`,
          'latin1',
        ),
        packed,
        Buffer.from('\nendstream', 'latin1'),
      ]),
    );
    add(
      specNumber,
      `<</Type /Filespec /F ${asciiString(file.name)} /UF ${textString(file.name)} /EF <</F ${streamNumber} 0 R>> /Desc ${textString(file.description)}>>`,
    );
    specs.push({ name: file.name, number: specNumber });
  }

  const catalogExtras = [
    /\/ViewerPreferences\b/.test(layout.catalog) ? '' : '\n/ViewerPreferences <</DisplayDocTitle true>>',
    specs.length > 0
      ? `\n/Names <</EmbeddedFiles <</Names [${specs.map((spec) => `${textString(spec.name)} ${spec.number} 0 R`).join(' ')}]>>>>` +
        `\n/AF [${specs.map((spec) => `${spec.number} 0 R`).join(' ')}]`
      : '',
  ].join('');
  add(layout.root, `<<${layout.catalog}${catalogExtras}>>`);

  // The update: each object at its offset, then the xref section for exactly those objects.
  const parts: Buffer[] = [Buffer.from('\n', 'latin1')];
  let offset = pdf.byteLength + 1;
  const offsets = new Map<number, number>();
  for (const object of objects) {
    const head = Buffer.from(`${object.number} 0 obj\n`, 'latin1');
    const tail = Buffer.from('\nendobj\n', 'latin1');
    offsets.set(object.number, offset);
    parts.push(head, object.body, tail);
    offset += head.byteLength + object.body.byteLength + tail.byteLength;
  }
  const numbers = [...offsets.keys()].sort((a, b) => a - b);
  let xref = 'xref\n';
  for (let index = 0; index < numbers.length; ) {
    let end = index;
    while (end + 1 < numbers.length && numbers[end + 1] === (numbers[end] ?? 0) + 1) end += 1;
    xref += `${numbers[index]} ${end - index + 1}\n`;
    for (let at = index; at <= end; at += 1)
      xref += `${String(offsets.get(numbers[at] ?? 0)).padStart(10, '0')} 00000 n \n`;
    index = end + 1;
  }
  xref +=
    `trailer\n<</Size ${next}\n/Root ${layout.root} 0 R\n/Info ${infoNumber} 0 R\n/Prev ${layout.previousXref}>>\n` +
    `startxref\n${offset}\n%%EOF\n`;
  parts.push(Buffer.from(xref, 'latin1'));
  const update = Buffer.concat(parts);
  const result = new Uint8Array(pdf.byteLength + update.byteLength);
  result.set(pdf, 0);
  result.set(update, pdf.byteLength);
  return result;
}
