import { describe, expect, it } from 'vitest';
import { pageComparable } from '../../lib/credentials/offline-check.ts';

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
