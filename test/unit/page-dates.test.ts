import { describe, expect, it } from 'vitest';
import { datesOnPage } from '../../lib/credentials/page-dates.ts';
import { pageComparable } from '../../lib/credentials/page-text.ts';

/**
 * The dates a page prints by their labels (lib/credentials/page-dates.ts), read from text as
 * pdf.js gives it, one line of the page a line; test/integration/verify-page-text.test.ts checks
 * pages the renderer printed.
 */
const normalisation = { comparable: pageComparable, digits: (line: string) => line };
const read = (text: string, issued = '2026-03-14', expires: string | null = null) =>
  datesOnPage(text, { issued, expires }, normalisation);

describe('dates on a page', () => {
  it('reads the date on the line after its label, or after it on the same line', () => {
    expect(read('D AT E O F I S S U E\nMarch 14, 2026').issued).toEqual({ seen: 'found' });
    expect(read('Date of issue: 14 March 2026').issued).toEqual({ seen: 'found' });
    expect(read('Ausstellungsdatum\n14. März 2026').issued).toEqual({ seen: 'found' });
    expect(read('Date of issue\n2026-03-14').issued).toEqual({ seen: 'found' });
  });

  it('another date after the label is named, whichever form it is in', () => {
    expect(read('Date of issue\nMarch 15, 2026').issued).toEqual({ seen: 'other', shown: '2026-03-15' });
    expect(read('Date of issue\n15 March 2026').issued).toEqual({ seen: 'other', shown: '2026-03-15' });
    expect(read('発行日\n2026年6月12日', '2026-12-06').issued).toEqual({
      seen: 'other',
      shown: '2026-06-12',
    });
    expect(read('Date of issue\n2025-03-14').issued).toEqual({ seen: 'other', shown: '2025-03-14' });
    // One genuine date does not cover another printed after a second label.
    expect(read('Date of issue\nMarch 14, 2026\nDate of issue\nMarch 14, 2027').issued).toEqual({
      seen: 'other',
      shown: '2027-03-14',
    });
  });

  it('what is not a date of the label language is not compared, and no label is no date', () => {
    expect(read('Date of issue\n14/03/2026').issued).toEqual({ seen: 'unread' });
    expect(read('Date of issue\nspring term').issued).toEqual({ seen: 'unread' });
    // A German date after an English label: not a form the label's language writes.
    expect(read('Date of issue\n14. März 2026').issued).toEqual({ seen: 'unread' });
    expect(read('Date of issue\nFebruary 30, 2026').issued).toEqual({ seen: 'unread' });
    expect(read('Certificate of Achievement\nMarch 15, 2026').issued).toEqual({ seen: 'missing' });
  });

  it('the expiry: found, another, or printed where the signed facts have none', () => {
    const page = 'Date of issue\nMarch 14, 2026\nExpires on\nMarch 14, 2027';
    expect(read(page, '2026-03-14', '2027-03-14')).toEqual({
      issued: { seen: 'found' },
      expires: { seen: 'found' },
    });
    expect(read(page, '2026-03-14', '2028-03-14').expires).toEqual({ seen: 'other', shown: '2027-03-14' });
    expect(read(page, '2026-03-14', null).expires).toEqual({ seen: 'other', shown: '2027-03-14' });
  });

  it("reads each shipped language's long forms, its regional ones too", () => {
    expect(read('Date of issue\n14 March 2026').issued).toEqual({ seen: 'found' });
    expect(read('発行日\n2026年3月14日').issued).toEqual({ seen: 'found' });
    expect(read('발급일\n2026년 3월 14일').issued).toEqual({ seen: 'found' });
    expect(read('Дата выдачи\n14 марта 2026 г.').issued).toEqual({ seen: 'found' });
    expect(read('Fecha de emisión\n14 de marzo de 2026').issued).toEqual({ seen: 'found' });
    expect(read('Дата выдачи\n14 апреля 2026 г.').issued).toEqual({ seen: 'other', shown: '2026-04-14' });
  });

  it('a page of many dates after many labels is read line by line, the first other date named', () => {
    const forged = Array.from(
      { length: 50_000 },
      (_, at) => `Date of issue\nMarch ${(at % 28) + 1}, ${2000 + (at % 900)}`,
    );
    expect(read(['Date of issue', 'March 14, 2026', ...forged].join('\n')).issued).toEqual({
      seen: 'other',
      shown: '2000-03-01',
    });
  });

  it('captions printed below their dates: the captions by their signed date show the side, and a later expiry is another date', () => {
    const page = 'March 14, 2026\nDate of issue\nMarch 14, 2027\nExpires on\nCertificate ID';
    expect(read(page, '2026-03-14', '2027-03-14')).toEqual({
      issued: { seen: 'found' },
      expires: { seen: 'found' },
    });
    const later = 'March 14, 2026\nDate of issue\nMarch 14, 2029\nExpires on\nCertificate ID';
    expect(read(later, '2026-03-14', '2027-03-14').expires).toEqual({ seen: 'other', shown: '2029-03-14' });
  });

  it('which side of a caption its date is on, the page says: a date printed before a caption above its value is not its', () => {
    // Captions above their values (the built-in design), a workshop's date before the first.
    const workshop =
      'Workshop held\nMarch 3, 2026\nDate of issue\nMarch 14, 2026\nExpires on\nMarch 14, 2027';
    expect(read(workshop, '2026-03-14', '2027-03-14')).toEqual({
      issued: { seen: 'found' },
      expires: { seen: 'found' },
    });
    // The issue date moved to the signed expiry, the expiry lines left out: that is another date.
    expect(read('Date of issue\nMarch 14, 2027\nCertificate ID', '2026-03-14', '2027-03-14').issued).toEqual({
      seen: 'other',
      shown: '2027-03-14',
    });
    // A caption whose value is not a date this check reads ("never", a template's own): unread; a
    // page whose captions show no side is read as the built-in design prints it, value after.
    const never = 'Workshop held\nMarch 3, 2026\nDate of issue\nMarch 14, 2026\nExpires on\nnever';
    expect(read(never, '2026-03-14', null)).toEqual({
      issued: { seen: 'found' },
      expires: { seen: 'unread' },
    });
    expect(read(never, '2026-03-15', null).issued).toEqual({ seen: 'other', shown: '2026-03-14' });
    // Captions pointing both ways (their signed dates on either side): every date beside one is
    // compared, bar the other signed date; the genuine dates are found.
    const both = 'March 14, 2027\nDate of issue\nMarch 14, 2026\nMarch 14, 2027\nExpires on';
    expect(read(both, '2026-03-14', '2027-03-14')).toEqual({
      issued: { seen: 'found' },
      expires: { seen: 'found' },
    });
    // A caption repeated under the genuine one, with another date: another date.
    const repeated = 'Date of issue\nMarch 14, 2026\nDate of issue\nMarch 14, 2029';
    expect(read(repeated).issued).toEqual({ seen: 'other', shown: '2029-03-14' });
  });

  it('other dates near the captions, genuine and forged', () => {
    // Captions below their values, a completion date after the last: its own caption's is before it.
    const completion = 'March 14, 2026\nDate of issue\nMarch 14, 2027\nExpires on\nMarch 20, 2027';
    expect(read(completion, '2026-03-14', '2027-03-14')).toEqual({
      issued: { seen: 'found' },
      expires: { seen: 'found' },
    });
    // Only the expiry caption a template takes from the locale, the issue date under its own.
    const expiryOnly = 'March 14, 2027\nExpires on\nMarch 14, 2026\nIssued';
    expect(read(expiryOnly, '2026-03-14', '2027-03-14')).toEqual({
      issued: { seen: 'missing' },
      expires: { seen: 'found' },
    });
    // A forged expiry with a caption added (hidden) after it: the page's captions say "after".
    const hidden = 'Date of issue\nMarch 14, 2026\nExpires on\nMarch 14, 2029\nExpires on';
    expect(read(hidden, '2026-03-14', '2027-03-14').expires).toEqual({ seen: 'other', shown: '2029-03-14' });
  });

  it("a template's own form close to a long date is read too", () => {
    expect(read('Date of issue\nMarch 15 2026').issued).toEqual({ seen: 'other', shown: '2026-03-15' });
  });

  it('a date printed letter-spaced reads as the date it is', () => {
    expect(read('D AT E O F I S S U E\nM a r c h 1 4 , 2 0 2 6').issued).toEqual({ seen: 'found' });
    expect(read('D AT E O F I S S U E\nM a r c h 1 4 , 2 0 2 9').issued).toEqual({
      seen: 'other',
      shown: '2029-03-14',
    });
    expect(read('発 行 日\n2 0 2 6 年 3 月 1 4 日').issued).toEqual({ seen: 'found' });
  });

  it('a right-to-left date given back in drawing order', () => {
    expect(read('תאריך הנפקה\n2026 במרץ 14').issued).toEqual({ seen: 'found' });
    expect(read('תאריך הנפקה\n2026 במרץ 15').issued).toEqual({ seen: 'other', shown: '2026-03-15' });
  });
});
