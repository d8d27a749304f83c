import { deflateSync } from 'node:zlib';
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFRawStream, PDFRef } from 'pdf-lib';
import { describe, expect, it } from 'vitest';
import { pageComparable, pageFinding, SCORE_NUMBER } from '../../lib/credentials/page-text.ts';
import { pdfTextLayers, TextLayerError } from '../../scripts/pdf-text-layer.ts';

// How `npm run verify` compares a signed name with a page's text layer: what Chromium prints and
// pdf.js extracts of a genuine name must compare equal to it, another name must not.
// (test/integration/verify-page-text.test.ts runs the comparison on printed certificates.)

describe('pageComparable', () => {
  it.each([
    ['a name wrapped over two lines', 'Zoë Ångström-\nNørgaard', 'Zoë Ångström-Nørgaard'],
    ['a hyphen added where a template hyphenates', 'Hohen-\nzollern', 'Hohenzollern'],
    ['spaces pdf.js puts between glyphs', 'N O R T H B R I D G E', 'Northbridge'],
    ['CSS text-transform: uppercase', 'JÜRGEN STRASSE', 'Jürgen Straße'],
    ['a ligature', 'ﬁnn', 'Finn'],
    ['full-width letters', 'ＡＤＡ', 'Ada'],
    ['a soft hyphen where the line did not break', 'AnnaMaria', 'Anna\u00ADMaria'],
    ['emoji without the joiners and U+FE0F', '👩🏽💻 ♀', '👩🏽\u200D💻 ♀\uFE0F'],
    ['the U+0000 pdf.js gives for a glyph without text', 'Ada\u0000 Lovelace', 'Ada Lovelace'],
    ['another apostrophe', "O'Brien", 'O’Brien'],
    ['Turkish capitals', 'İLKAY', 'ilkay'],
    ['a cut claim: its part before the "…"', 'Maximilian Alexander ', 'Maximilian Alexander …'],
  ])('%s', (_, page, fact) => {
    expect(pageComparable(page)).toBe(pageComparable(fact));
  });

  it.each([
    ['another letter', 'Alice', 'Alicia'],
    ['a dropped diacritic', 'Ёлкин', 'Елкин'],
    ['another emoji', 'Sam 🎓', 'Sam 🎒'],
    ['another skin tone', '👩🏽', '👩🏿'],
    ['another digit', 'K7Q2', 'K7Q3'],
  ])('still tells %s apart', (_, page, fact) => {
    expect(pageComparable(page)).not.toBe(pageComparable(fact));
  });
});

describe('pageComparable: Arabic and Devanagari, as the /ActualText reader gives them back', () => {
  it.each([
    ['Arabic presentation forms (what a glyph-by-glyph reader gives)', 'ﻓﺎﻃﻤﺔ ﺍﻟﺰﻫﺮﺍﺀ', 'فاطمة الزهراء'],
    ['Arabic vowel marks kept on both sides', 'مُحَمَّد', 'مُحَمَّد'],
    ['a Devanagari name wrapped over two lines', 'अनन्या\nशर्मा', 'अनन्या शर्मा'],
  ])('%s', (_, page, fact) => {
    expect(pageComparable(page)).toBe(pageComparable(fact));
  });

  it.each([
    ['a final ة from ه', 'فاطمه', 'فاطمة'],
    ['a dropped vowel mark', 'محمد', 'مُحَمَّد'],
    ['a dropped vowel sign (pdf.js reads किरण so)', 'करण', 'किरण'],
    ['a dropped reph (pdf.js reads शर्मा so)', 'शमा', 'शर्मा'],
  ])('still tells %s apart', (_, page, fact) => {
    expect(pageComparable(page)).not.toBe(pageComparable(fact));
  });
});

/**
 * `npm run verify` reads whatever PDF it is handed with scripts/pdf-text-layer.ts: a crafted one
 * must make it reject or answer, promptly, never hang it or exhaust its memory.
 */
describe('the score on the page', () => {
  // The page as pdf.js reads it (Arabic-Indic digits blanked, as the port does) and as the
  // /ActualText reader does (right-to-left runs back in drawing order).
  const finding = (viewers: string, shaped: string, score: string) =>
    pageFinding(
      new Uint8Array(),
      { name: 'Ada Lovelace', course: 'Statistics', code: 'K7Q2M9X4T8B3N6PZ', score },
      async () => [
        { text: `Ada Lovelace Statistics ${viewers}`, shaped: `Ada Lovelace Statistics ${shaped}` },
      ],
      true,
    );
  it.each([
    ['as printed', 'with a final score of 58 / 100 (58%)', '58/100'],
    ['a decimal comma', 'Punktzahl 87,5 / 100', '87.5/100'],
    ['thousands grouped', 'score 990 / 1,000', '990/1000'],
    ['thousands grouped with a point', 'Punktzahl 990 / 1.000', '990/1000'],
    ['beside a course "Part 1/10"', 'Part 1/10: Foundations, score 8 / 10', '8/10'],
    ['beside a date 06/10/2026 and a course 1/10', 'issued 06/10/2026, part 1/10, score 8 / 10', '8/10'],
    // Longer than any score: read past. (What it costs is measured, not asserted: the unbounded
    // pattern took time in the square of such a run's length, page-text.ts NUMBER.)
    ['after a run of 5,000 digit groups', `1${'.000'.repeat(5000)} score 58 / 100`, '58/100'],
  ])('genuine, %s: shown', async (_, text, score) => {
    const found = await finding(text, text, score);
    expect(found.verdict).toBe('consistent');
    expect(found.line).toContain(`shows the signed score ${score}`);
  });

  it('the /ActualText reading counts for the dates only by Arabic and Devanagari labels', async () => {
    const check = (text: string, shaped: string) =>
      pageFinding(
        new Uint8Array(),
        {
          name: 'Ada Lovelace',
          course: 'Statistics',
          code: 'K7Q2M9X4T8B3N6PZ',
          dates: { issued: '2026-03-14', expires: null },
        },
        async () => [{ text, shaped }],
        true,
      );
    // An English label only in that reading (which a forger can point at another page than the
    // viewers see): not read there, either way.
    const english = await check(
      'Ada Lovelace Statistics',
      'Ada Lovelace Statistics\nDate of issue\nMarch 15, 2026',
    );
    expect(english.verdict).toBe('consistent');
    expect(english.line).toContain('did not find the issue date by a label it reads');
    const claimed = await check(
      'Ada Lovelace Statistics',
      'Ada Lovelace Statistics\nDate of issue\nMarch 14, 2026',
    );
    expect(claimed.line).not.toContain('shows the signed issue date');
    // An Arabic label is read there: another date by it is INVALID, the signed one shown.
    const other = await check(
      'Ada Lovelace Statistics',
      'Ada Lovelace Statistics\nتاريخ الإصدار\n15 مارس 2026',
    );
    expect(other.line).toMatch(/^Page text: SHOWS ANOTHER ISSUE DATE \(2026-03-15\)/);
    const shown = await check(
      'Ada Lovelace Statistics',
      'Ada Lovelace Statistics\nتاريخ الإصدار\n14 مارس 2026',
    );
    expect(shown.line).toContain('shows the signed issue date 2026-03-14');
  });

  it('a number is read with bounded repetitions only: none whose work grows with a run of digits', () => {
    // Unbounded (`\d+`, `(...)+`), a forged page's "1.000.000…" with no slash made every start try
    // the whole run: 320,000 characters took 50 s (measured, not asserted here).
    expect(SCORE_NUMBER).not.toMatch(/[+*]/);
  });

  it('in Arabic-Indic digits, read back right to left: shown when genuine, INVALID when another', async () => {
    const genuine = await finding('\uFFFD / \uFFFD', '١٠٠ / ٨٧٫٥', '87.5/100');
    expect(genuine.line).toContain('shows the signed score 87.5/100');
    const forged = await finding('\uFFFD / \uFFFD', '١٠٠ / ٩٨', '87.5/100');
    expect(forged.verdict).toBe('invalid');
  });

  it.each([
    ['a better score', 'with a final score of 98 / 100 (98%)', '58/100'],
    ['a better score out of 1,000', 'score 999 / 1,000', '990/1000'],
  ])('%s: INVALID', async (_, text, score) => {
    const forged = await finding(text, text, score);
    expect(forged.verdict).toBe('invalid');
    expect(forged.line).toMatch(/^Page text: SHOWS ANOTHER SCORE than the signed/);
  });

  it('a date is no score: with none printed, the score is reported missing, not another', async () => {
    const found = await finding('issued 06/10/2026', 'issued 06/10/2026', '8/10');
    expect(found.verdict).toBe('consistent');
    expect(found.line).toContain('does not show the signed score 8/10');
    // A month and year, "10/2027", is not a score out of 10.
    const month = await finding('valid until 10/2027', 'valid until 10/2027', '7/10');
    expect(month.verdict).toBe('consistent');
    expect(month.line).toContain('does not show the signed score 7/10');
  });

  it('the viewers show another score than the /ActualText reader (pointed at the genuine page): INVALID', async () => {
    // pdf-lib can be made to read a page the viewers never show: its reading of ASCII digits
    // does not stand for what the page shows.
    const forged = await finding(
      'with a final score of 98 / 100',
      'with a final score of 58 / 100',
      '58/100',
    );
    expect(forged.verdict).toBe('invalid');
    expect(forged.line).toMatch(/^Page text: SHOWS ANOTHER SCORE than the signed 58\/100/);
    const unseen = await finding('with a final score', 'with a final score of 58 / 100', '58/100');
    expect(unseen.line).toContain('does not show the signed score 58/100');
  });

  it('a fraction inside the signed course is no score: a template without the score is not called altered', async () => {
    const course = 'Statistics Week 1/10';
    const found = await pageFinding(
      new Uint8Array(),
      { name: 'Ada Lovelace', course, code: 'K7Q2M9X4T8B3N6PZ', score: '8/10' },
      async () => [{ text: `Ada Lovelace ${course}`, shaped: `Ada Lovelace ${course}` }],
      true,
    );
    expect(found.verdict).toBe('consistent');
    expect(found.line).toContain('does not show the signed score 8/10');
  });
});

describe('the /ActualText reader on hostile PDFs', () => {
  /** A one-page PDF whose page draws `content`; `setUp` may add to its resources. */
  async function pdfWith(
    content: string | Uint8Array,
    setUp: (document: PDFDocument, resources: PDFDict) => void = () => {},
  ): Promise<Uint8Array> {
    const document = await PDFDocument.create();
    const page = document.addPage([200, 200]);
    const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    page.node.set(PDFName.of('Contents'), document.context.register(document.context.stream(bytes)));
    const resources = document.context.obj({});
    page.node.set(PDFName.of('Resources'), resources);
    setUp(document, resources);
    return document.save({ useObjectStreams: false });
  }

  /** Registers a form XObject drawing `content`, under `name` in `resources`; returns its resources. */
  function addForm(document: PDFDocument, resources: PDFDict, name: string, content: string): PDFDict {
    const own = document.context.obj({});
    const ref = document.context.register(
      document.context.stream(content, {
        Type: 'XObject',
        Subtype: 'Form',
        BBox: [0, 0, 1, 1],
        Resources: own,
      }),
    );
    resources.set(PDFName.of('XObject'), document.context.obj({ [name]: ref }));
    return own;
  }

  const quickly = { timeout: 10_000 };

  it('reads the text of a well-formed page, ActualText spans and all', quickly, async () => {
    const pdf = await pdfWith(
      'BT /F1 12 Tf 1 0 0 1 10 100 Tm /Span <</ActualText <FEFF0641064E> >> BDC <0001> Tj EMC (\\(x\\)) Tj ET',
      (document, resources) => {
        const cmap = document.context.stream(
          'begincmap 1 beginbfchar <28> <0028> endbfchar 1 beginbfrange <78> <79> <0078> endbfrange endcmap',
        );
        resources.set(
          PDFName.of('Font'),
          document.context.obj({
            F1: document.context.obj({
              Type: 'Font',
              Subtype: 'Type1',
              BaseFont: 'Helvetica',
              ToUnicode: document.context.register(cmap),
            }),
          }),
        );
      },
    );
    expect(await pdfTextLayers(pdf)).toEqual(['فَ(x']);
  });

  it('an unterminated hex string or literal string ends the stream', quickly, async () => {
    for (const content of ['BT <0041', 'BT (abc', 'BT [<00 /Span <<', ') > } ] >> EMC EMC Q']) {
      expect(await pdfTextLayers(await pdfWith(content))).toEqual(['']);
    }
  });

  it('a form that draws itself, or forms nested past the limit, reject', quickly, async () => {
    const selfDrawing = await pdfWith('/X0 Do', (document, resources) => {
      const own = addForm(document, resources, 'X0', '/X0 Do');
      own.set(PDFName.of('XObject'), resources.get(PDFName.of('XObject')) ?? document.context.obj({}));
    });
    await expect(pdfTextLayers(selfDrawing)).rejects.toThrow('nests forms too deeply');
  });

  it(
    'forms fanning out (each drawing the next a thousand times) stop at the work limit',
    quickly,
    async () => {
      const fanOut = await pdfWith('/X0 Do', (document, resources) => {
        let at = resources;
        for (let level = 0; level < 6; level += 1) at = addForm(document, at, 'X0', '/X0 Do '.repeat(1000));
      });
      await expect(pdfTextLayers(fanOut)).rejects.toThrow('too much content');
    },
  );

  it('a stream that inflates past the limit rejects, without inflating it all', quickly, async () => {
    const bomb = await pdfWith('', (document, resources) => {
      const page = document.getPage(0);
      const stream = PDFRawStream.of(
        document.context.obj({ Filter: 'FlateDecode' }),
        deflateSync(new Uint8Array(64 * 1024 * 1024)),
      );
      page.node.set(PDFName.of('Contents'), document.context.register(stream));
      void resources;
    });
    await expect(pdfTextLayers(bomb)).rejects.toThrow('more than');
  });

  it(
    'a character map with a range of four billion codes is cut to what a font can have',
    quickly,
    async () => {
      const pdf = await pdfWith('BT /F1 12 Tf <0001> Tj ET', (document, resources) => {
        const cmap = document.context.stream('1 beginbfrange <00000000> <FFFFFFFF> <0041> endbfrange');
        resources.set(
          PDFName.of('Font'),
          document.context.obj({
            F1: document.context.obj({
              Type: 'Font',
              Subtype: 'Type1',
              ToUnicode: document.context.register(cmap),
            }),
          }),
        );
      });
      expect(await pdfTextLayers(pdf)).toEqual(['AB']);
    },
  );

  it('a page tree whose /Kids lead back to itself is walked once', quickly, async () => {
    const document = await PDFDocument.create();
    document.addPage([200, 200]);
    const pagesRef = document.catalog.get(PDFName.of('Pages'));
    const pages = document.catalog.lookup(PDFName.of('Pages'), PDFDict);
    const kids = pages.lookup(PDFName.of('Kids'), PDFArray);
    if (pagesRef instanceof PDFRef) for (let copy = 0; copy < 40; copy += 1) kids.push(pagesRef);
    expect(await pdfTextLayers(await document.save({ useObjectStreams: false }))).toEqual(['']);
  });

  it('what is not a PDF, or an encrypted one, rejects', quickly, async () => {
    await expect(pdfTextLayers(new TextEncoder().encode('not a PDF at all'))).rejects.toThrow(TextLayerError);
    const document = await PDFDocument.load(await pdfWith('BT ET'));
    document.context.trailerInfo.Encrypt = document.context.register(
      document.context.obj({ Filter: 'Standard', V: 2, R: 3, Length: 128, P: -4 }),
    );
    await expect(pdfTextLayers(await document.save())).rejects.toThrow('the PDF is encrypted');
  });
});
