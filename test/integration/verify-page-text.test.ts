import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PDFDocument, PDFHexString } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type CertificateFacts, scoreLine } from '../../lib/certificates/facts.ts';
import type { CertificateContent, ResolvedTemplate } from '../../lib/certificates/ports.ts';
import { credentialClaims, signCredential } from '../../lib/credentials/credential.ts';
import { jwksDocument } from '../../lib/credentials/jwks.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import {
  type CheckIo,
  type CheckReport,
  CREDENTIAL_ATTACHMENT,
  checkCertificate,
  OPEN_BADGE_ATTACHMENT,
} from '../../lib/credentials/offline-check.ts';
import {
  achievementForCourse,
  buildOpenBadgeCredential,
  signOpenBadgeCredential,
} from '../../lib/credentials/open-badge.ts';
import { jwtSignerFor } from '../../lib/credentials/signer.ts';
import {
  applyPdfMetadata,
  createCertificateRenderer,
  loadDefaultTemplate,
} from '../../lib/render/renderer.ts';
import { pdfPageText, pdfPageTextWithActualText } from '../../scripts/pdf-page-text.ts';
import { pdfPageToPng } from '../../scripts/pdf-raster.ts';
import { pdfTextLayer } from '../../scripts/pdf-text-layer.ts';
import { createObservedPrinter } from '../support/observed-printer.ts';
import { content } from './render-fixtures.ts';

/**
 * `npm run verify` reads a PDF's page (its text layer, through pdf.js and the /ActualText Chromium
 * writes for Arabic and Devanagari) and compares it with the signed facts, on certificates printed
 * by the project's own renderer and Chromium: genuine ones in several scripts verify, pages that
 * show another student, or no text at all, do not.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const VERIFY = 'https://certificates.example.org/verify';
const NAMES_ALL =
  "Page text: names the signed student, course and code; shows the signed score 87.5/100; shows the signed issue date 2026-03-14 (a check of the PDF's text layer: what is drawn can still differ, so compare by eye too)";
// Read by pdf.js alone, an Arabic or Hindi certificate's labels are in letters it does not give
// back, so its dates are not found (lib/credentials/page-dates.ts).
const NO_DATE = 'did not find the issue date by a label it reads (templates may leave it out)';
const NOT_THE_STUDENT =
  'Page text: DOES NOT name the signed student — the page was altered or is not this certificate';

const printer = createObservedPrinter({
  executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH,
  maxPages: 1,
});
const renderer = createCertificateRenderer(printer, { timeoutMs: 30_000 });
let dir: string;
let key: SigningKey;
let jwksFile: string;

/** The real port, as scripts/verify-worker.ts wires it. */
const io: CheckIo = {
  readFile: async (path) => new Uint8Array(await readFile(path)),
  pageText: pdfPageTextWithActualText,
  pageTextReadsShaped: true,
};

beforeAll(async () => {
  dir = await mkdtemp(join(inject('stack').root, 'verify-page-text-'));
  key = await signingKeyFromJwk(await generateSigningJwk());
  jwksFile = join(dir, 'jwks.json');
  await writeFile(
    jwksFile,
    JSON.stringify(
      jwksDocument([{ jwk: key.publicJwk, state: 'current' }], 'https://certs.example.org/api/v1'),
    ),
  );
});
afterAll(async () => {
  await renderer.close();
});

function factsOf(name: string, overrides: Partial<CertificateFacts> = {}): CertificateFacts {
  return {
    code: 'K7Q2M9X4T8B3N6PZ',
    name,
    course: 'Introduction to Testing',
    score: scoreLine(87.5, 100),
    issued: '2026-03-14',
    expires: null,
    issuer: 'Northbridge Academy',
    ...overrides,
  };
}

/**
 * A certificate printed by the renderer with `signed` as its credential (attached with the full
 * facts); `printed` overrides what the page shows, as a forger re-printing the page would.
 */
async function printCertificate(
  file: string,
  signed: CertificateFacts,
  printed: Partial<CertificateContent> = {},
  template?: ResolvedTemplate,
): Promise<{ path: string; pdf: Uint8Array }> {
  const jws = await signCredential(signed, key);
  const { pdf } = await renderer.render(
    content({
      studentName: signed.name,
      courseName: signed.course,
      verificationCode: signed.code,
      verifyUrl: `${VERIFY}/${signed.code}`,
      credential: { jws, facts: signed },
      ...printed,
    }),
    template,
  );
  const path = join(dir, file);
  await writeFile(path, pdf);
  return { path, pdf };
}

/** A PDF of one page drawn by `draw`, carrying the signed credential and facts of a real certificate. */
async function withAttachments(
  file: string,
  signed: CertificateFacts,
  draw: (document: PDFDocument) => Promise<void>,
): Promise<string> {
  const document = await PDFDocument.create();
  await draw(document);
  const pdf = await applyPdfMetadata(
    await document.save(),
    { title: 'Certificate', subject: 'Certificate', keywords: [], author: signed.issuer },
    signed.issued,
    { jws: await signCredential(signed, key), facts: signed, verifyUrl: `${VERIFY}/${signed.code}` },
  );
  const path = join(dir, file);
  await writeFile(path, pdf);
  return path;
}

/**
 * `page` with only some of a genuine certificate's attachments, as a forger who removes the rest
 * leaves it: the signed credential, and the Open Badge when `badge` (its name `badgeName`, else
 * the signed one), never the facts file.
 */
async function stripped(
  file: string,
  page: Uint8Array,
  signed: CertificateFacts,
  options: { badge: boolean; badgeName?: string },
): Promise<string> {
  const document = await PDFDocument.load(page);
  await document.attach(new TextEncoder().encode(await signCredential(signed, key)), CREDENTIAL_ATTACHMENT, {
    mimeType: 'application/jwt',
  });
  if (options.badge) {
    const badge = buildOpenBadgeCredential({
      credentialId: `${VERIFY}/${signed.code}`,
      issuer: { id: 'https://certificates.example.org', name: signed.issuer },
      achievement: achievementForCourse({
        baseUrl: 'https://certificates.example.org',
        course: { id: 'c0ffee00-0000-4000-8000-000000000001', title: signed.course },
        passPercentage: 50,
      }),
      recipient: {
        id: 'urn:uuid:5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01',
        name: options.badgeName ?? signed.name,
      },
      validFrom: new Date(`${signed.issued}T10:00:00Z`),
    });
    const jwt = await signOpenBadgeCredential(badge, jwtSignerFor(key), 'https://certificates.example.org');
    await document.attach(new TextEncoder().encode(jwt), OPEN_BADGE_ATTACHMENT, {
      mimeType: 'application/jwt',
    });
  }
  const path = join(dir, file);
  await writeFile(path, await document.save());
  return path;
}

const report = (path: string): Promise<CheckReport> => checkCertificate(path, jwksFile, io);
const pageLine = (checked: CheckReport) => checked.lines.find((line) => line.startsWith('Page'));

describe('genuine certificates from the renderer name the signed student, course and code', () => {
  const LONG_NAME =
    'Maximilian Alexander Friedrich von Hohenzollern-Sigmaringen und Hechingen Wilhelmina Augusta Theodora';
  const LONG_COURSE =
    'Advanced Topics in Distributed Systems, Consensus Protocols and Byzantine Fault Tolerance for Practitioners';
  const CASES: Array<{ script: string; name: string; locale: string; course?: string }> = [
    { script: 'Latin', name: 'Zoë Ångström-Nørgaard', locale: 'en' },
    { script: 'Cyrillic', name: 'Ёлкин Григорий Щукин', locale: 'ru' },
    { script: 'CJK', name: '欧阳娜娜', locale: 'zh', course: '软件测试导论' },
    { script: 'Japanese kana and kanji', name: 'さくら タナカ 田中', locale: 'ja' },
    { script: 'Korean', name: '김민준 이서연', locale: 'ko' },
    { script: 'Greek', name: 'Αλέξανδρος Παπαδόπουλος', locale: 'en' },
    { script: 'Armenian and Georgian', name: 'Արամ Խաչատրյան გიორგი', locale: 'en' },
    { script: 'emoji', name: 'Sam 🎓✨ Lee 👩🏽‍💻 ♀️', locale: 'en' },
    { script: 'Hebrew with points, right to left', name: 'שָׂרָה כֹּהֵן', locale: 'he', course: 'מבוא לבדיקות' },
    { script: 'Hebrew then Latin (a right-to-left line)', name: 'שרה כהן Levi', locale: 'en' },
    { script: 'Latin, wrapped over two lines', name: LONG_NAME, locale: 'de', course: LONG_COURSE },
    // Characters no shipped font has: printed as boxes with no text, so not compared.
    { script: 'a rare Chinese name character', name: '刘䶮', locale: 'zh' },
    { script: 'a symbol no font has', name: 'Ada 𝄞 Lovelace', locale: 'en' },
  ];

  for (const [index, { script, name, locale, course }] of CASES.entries()) {
    it(`${script}: VALID with the page-text line`, async () => {
      const signed = factsOf(name, course ? { course } : {});
      const { path, pdf } = await printCertificate(`genuine-${index}.pdf`, signed, { locale });
      const checked = await report(path);
      expect(checked.lines).toContain(NAMES_ALL);
      expect(checked.outcome).toBe('valid');
      if (name === LONG_NAME) {
        // The page really wraps it: the comparison has to join the lines.
        const [text = ''] = await pdfPageText(pdf);
        expect(text).not.toContain(LONG_NAME);
        expect(text).toContain('Hohenzollern-\nSigmaringen');
      }
    });
  }

  it('a template that prints the name and course in capitals (text-transform: uppercase)', async () => {
    const base = await loadDefaultTemplate();
    const capitals: ResolvedTemplate = {
      ...base,
      version: 'capitals',
      css: `${base.css}\n.name, .course { text-transform: uppercase; }`,
    };
    const signed = factsOf('Jürgen Straße', { course: 'Einführung in ﬁnite Automaten' });
    const { path, pdf } = await printCertificate('capitals.pdf', signed, { locale: 'de' }, capitals);
    const [text = ''] = await pdfPageText(pdf);
    expect(text).toContain('JÜRGEN STRASSE');
    const checked = await report(path);
    expect(checked.lines).toContain(NAMES_ALL);
    expect(checked.outcome).toBe('valid');
  });

  // Chromium writes their text only as /ActualText: the check reads it there (pdf.js does not).
  const SHAPED: Array<{ script: string; name: string; locale: string; course?: string }> = [
    { script: 'Arabic, an Arabic certificate', name: 'فاطمة الزهراء', locale: 'ar' },
    { script: 'Arabic, an English certificate', name: 'فاطمة الزهراء', locale: 'en' },
    { script: 'Arabic with a digit, an Arabic certificate', name: 'محمد بن سلمان 2', locale: 'ar' },
    { script: 'Arabic with a digit, an English certificate', name: 'محمد بن سلمان 2', locale: 'en' },
    { script: 'Latin, Arabic and "3rd", an English certificate', name: 'Omar عمر الفاروق 3rd', locale: 'en' },
    { script: 'Latin, Arabic and "3rd", an Arabic certificate', name: 'Omar عمر الفاروق 3rd', locale: 'ar' },
    { script: 'Arabic with vowel marks', name: 'مُحَمَّد عَلِيّ', locale: 'ar' },
    { script: 'Persian', name: 'پرستو گلشیری', locale: 'ar' },
    {
      script: 'Arabic name and course, long enough to wrap',
      name: 'عبد الرحمن بن محمد بن عبد الله بن عبد العزيز بن سعود بن فيصل آل سعود الفاروقي',
      locale: 'ar',
      course: 'مقدمة في التعلم الآلي والشبكات العصبية العميقة ومعالجة اللغات الطبيعية للمبتدئين والمحترفين',
    },
    {
      script: 'Devanagari, a Hindi certificate',
      name: 'अनन्या शर्मा',
      locale: 'hi',
      course: 'मशीन लर्निंग का परिचय',
    },
    { script: 'Devanagari, an English certificate', name: 'अनुष्का शर्मा', locale: 'en' },
    { script: 'Devanagari and Arabic', name: 'अनन्या شرما', locale: 'ar', course: 'कंप्यूटर विज्ञान' },
  ];
  for (const [index, { script, name, locale, course }] of SHAPED.entries()) {
    it(`${script}: VALID, the name read from its /ActualText`, async () => {
      const signed = factsOf(name, course ? { course } : {});
      const { path, pdf } = await printCertificate(`shaped-${index}.pdf`, signed, { locale });
      // pdf.js alone does not read the genuine name back.
      const [text = ''] = await pdfPageText(pdf);
      expect(text).not.toContain(name);
      const checked = await report(path);
      expect(pageLine(checked)).toBe(NAMES_ALL);
      expect(checked.outcome).toBe('valid');
    });
  }

  it('what the /ActualText reader gives back: the name in logical order, digits and Latin where the drawing puts them', async () => {
    const read = async (name: string, locale: string) =>
      (await pdfTextLayer((await printCertificate('read-back.pdf', factsOf(name), { locale })).pdf)).split(
        '\n',
      );
    expect(await read('فاطمة الزهراء', 'ar')).toContain('فاطمة الزهراء');
    expect(await read('अनन्या शर्मा', 'hi')).toContain('अनन्या शर्मा');
    // Right-to-left runs put back; a digit or a Latin word inside them stays where it is drawn:
    // the check looks for such a name run by run.
    expect(await read('محمد بن سلمان 2', 'ar')).toContain('2 محمد بن سلمان');
    expect(await read('Omar عمر الفاروق 3rd', 'en')).toContain('Omar 3 عمر الفاروقrd');
  });

  it('Ethiopic names are not compared (no shipped font: printed without text); course and code are', async () => {
    const { path } = await printCertificate('unreadable-ethiopic.pdf', factsOf('Abebe ሰላም'));
    const checked = await report(path);
    expect(pageLine(checked)).toBe(
      "Page text: names the signed course and code; shows the signed score 87.5/100; shows the signed issue date 2026-03-14; the student's name was not compared: it is in Ethiopic script, which this check cannot read back from a certificate's text layer (a check of the PDF's text layer: what is drawn can still differ, so compare by eye too)",
    );
    expect(checked.outcome).toBe('valid');
  });

  it('a caller whose reader does not give /ActualText back (pdf.js alone): Arabic and Devanagari are not compared', async () => {
    const pdfJsOnly: CheckIo = { readFile: io.readFile, pageText: pdfPageText };
    for (const [name, locale, script] of [
      ['فاطمة الزهراء', 'ar', 'Arabic'],
      ['अनुष्का शर्मा', 'hi', 'Devanagari'],
    ] as const) {
      const { path } = await printCertificate(`pdfjs-only-${locale}.pdf`, factsOf(name), { locale });
      const checked = await checkCertificate(path, jwksFile, pdfJsOnly);
      expect(pageLine(checked)).toBe(
        `Page text: names the signed course and code; shows the signed score 87.5/100; ${NO_DATE}; the student's name was not compared: it is in ${script} script, which this check cannot read back from a certificate's text layer (a check of the PDF's text layer: what is drawn can still differ, so compare by eye too)`,
      );
      expect(checked.outcome).toBe('valid');
    }
  });

  it('a PDF stripped to its signed credential, the name cut: the page is COULD NOT CHECK (only the start of the name is signed), and INVALID when even that differs', async () => {
    const signed = factsOf('Maximilian Alexander Friedrich von Hohenzollern');
    const { pdf } = await renderer.render(
      content({ studentName: signed.name, courseName: signed.course, verifyUrl: `${VERIFY}/${signed.code}` }),
    );
    const genuine = await report(await stripped('claims-only.pdf', pdf, signed, { badge: false }));
    // The signed name and course are cut; the page prints them in full.
    const { n: name, t: course } = await credentialClaims(signed);
    expect([name, course].every((claim) => claim.endsWith('…'))).toBe(true);
    expect(genuine.lines).toContain(`  Name:        ${name}`);
    expect(genuine.lines).toContain(`  Course:      ${course}`);
    expect(pageLine(genuine)).toMatch(/^Page text: COULD NOT CHECK — the PDF carries neither its facts file/);
    expect(genuine.outcome).toBe('unchecked');

    const { pdf: other } = await renderer.render(
      content({ studentName: 'Maxine Alexandra Friedrich', verifyUrl: `${VERIFY}/${signed.code}` }),
    );
    const forged = await report(await stripped('claims-only-forged.pdf', other, signed, { badge: false }));
    expect(forged.lines).toContain(NOT_THE_STUDENT);
    expect(forged.outcome).toBe('invalid');
  });

  it('a PDF whose facts file was removed: the signed Open Badge gives the name in full, so another name that starts the same way is INVALID', async () => {
    const signed = factsOf('Mohammed bin Abdullah Al-Saud');
    expect((await credentialClaims(signed)).n).toBe('Mohammed bin Abdullah…');
    const { pdf } = await renderer.render(
      content({ studentName: signed.name, courseName: signed.course, verifyUrl: `${VERIFY}/${signed.code}` }),
    );
    const genuine = await report(await stripped('badge-only.pdf', pdf, signed, { badge: true }));
    expect(genuine.lines).toContain(
      "Facts: the PDF's facts file is missing or damaged; its signed Open Badge states them in full, and they match the signature",
    );
    expect(genuine.lines).toContain(`  Name:        ${signed.name}`);
    expect(pageLine(genuine)).toBe(NAMES_ALL);
    expect(genuine.outcome).toBe('valid');

    const { pdf: other } = await renderer.render(
      content({
        studentName: 'Mohammed bin Abdullah Al-Harbi',
        courseName: signed.course,
        verifyUrl: `${VERIFY}/${signed.code}`,
      }),
    );
    const forged = await report(await stripped('badge-only-forged.pdf', other, signed, { badge: true }));
    expect(pageLine(forged)).toBe(NOT_THE_STUDENT);
    expect(forged.outcome).toBe('invalid');

    // A badge of other facts (its name not the one `h` signs) gives nothing: the page is then
    // compared with the cut claims only, and so not checked.
    const mismatched = await report(
      await stripped('badge-other.pdf', pdf, signed, {
        badge: true,
        badgeName: 'Mohammed bin Abdullah Al-Sau',
      }),
    );
    expect(mismatched.lines.some((line) => line.startsWith("Facts: the PDF's facts file is missing"))).toBe(
      false,
    );
    expect(mismatched.outcome).not.toBe('valid');
  });
});

describe('pages that do not match the credential', () => {
  it('the page re-printed with another name over the genuine attachments is INVALID', async () => {
    for (const [signedName, printedName] of [
      // The signed name inside a longer one, or inside a word the page prints anyway ("ISSUED").
      ['Ann Lee', 'Ann Leeds'],
      ['Ed', 'Bob'],
      ['Alice Andersson', 'Mallory Andersson'],
      ['Alice Andersson', 'Alice Anderson'],
      ['欧阳娜娜', '欧阳娜'],
      ['Ёлкин Григорий', 'Ёлкин Георгий'],
    ] as const) {
      const { path } = await printCertificate(`forged-${printedName}.pdf`, factsOf(signedName), {
        studentName: printedName,
      });
      const checked = await report(path);
      expect(checked.lines).toContain('Facts: the embedded facts match the signature');
      expect(pageLine(checked)).toBe(NOT_THE_STUDENT);
      expect(checked.outcome).toBe('invalid');
    }
  });

  it('a genuine page with an expiry shows both signed dates; one re-printed with a later expiry or another issue date is INVALID', async () => {
    const signed = factsOf('Alice Andersson', { expires: '2027-03-14' });
    // Arabic and Hindi read from the /ActualText reading, where their labels and months are.
    for (const locale of ['en', 'en-GB', 'de-CH', 'ja', 'he', 'ru', 'fr-CA', 'ar', 'ar-EG', 'hi'] as const) {
      const genuine = await report(
        (await printCertificate(`dated-${locale}.pdf`, signed, { locale, expiresOn: '2027-03-14' })).path,
      );
      expect(pageLine(genuine), locale).toContain(
        'shows the signed issue date 2026-03-14; shows the signed expiry date 2027-03-14',
      );
      expect(genuine.outcome, locale).toBe('valid');

      const later = await report(
        (await printCertificate(`later-expiry-${locale}.pdf`, signed, { locale, expiresOn: '2029-03-14' }))
          .path,
      );
      expect(pageLine(later), locale).toBe(
        'Page text: SHOWS ANOTHER EXPIRY DATE (2029-03-14) than the signed 2027-03-14 — the page was altered or is not this certificate',
      );
      expect(later.outcome, locale).toBe('invalid');

      const earlier = await report(
        (
          await printCertificate(`other-issue-${locale}.pdf`, signed, {
            locale,
            issuedOn: '2026-03-15',
            expiresOn: '2027-03-14',
          })
        ).path,
      );
      expect(pageLine(earlier), locale).toBe(
        'Page text: SHOWS ANOTHER ISSUE DATE (2026-03-15) than the signed 2026-03-14 — the page was altered or is not this certificate',
      );
      expect(earlier.outcome, locale).toBe('invalid');
    }
  });

  it('an expiry printed on a certificate whose signed facts have none is INVALID; a page without the signed expiry is reported', async () => {
    const never = await report(
      (await printCertificate('expiry-added.pdf', factsOf('Alice Andersson'), { expiresOn: '2027-03-14' }))
        .path,
    );
    expect(pageLine(never)).toBe(
      'Page text: SHOWS AN EXPIRY DATE (2027-03-14), and the signed facts have none — the page was altered or is not this certificate',
    );
    expect(never.outcome).toBe('invalid');

    // The "Expires on" lines removed (or a template that leaves them out): reported, not held against it.
    const removed = await report(
      (await printCertificate('expiry-removed.pdf', factsOf('Alice Andersson', { expires: '2027-03-14' })))
        .path,
    );
    expect(pageLine(removed)).toContain(
      'did not find the signed expiry date 2027-03-14 by a label it reads (templates may leave it out)',
    );
    expect(removed.outcome).toBe('valid');
  });

  it('a template that prints each caption below its date: VALID, and a later expiry INVALID', async () => {
    const base = await loadDefaultTemplate();
    // Each fact's value, then its caption: the line after "Date of issue" is the expiry date.
    const captionBelow: ResolvedTemplate = {
      ...base,
      version: 'caption-below',
      html: base.html.replace(
        /(<p class="fact-label">[^<]*<\/p>)\s*(<p class="fact-value[^"]*">[\s\S]*?<\/p>)/g,
        '$2\n$1',
      ),
    };
    expect(captionBelow.html.indexOf('{{ issued_on }}')).toBeLessThan(
      captionBelow.html.indexOf('{{ labels.date_of_issue }}'),
    );
    const signed = factsOf('Alice Andersson', { expires: '2027-03-14' });
    const genuine = await report(
      (await printCertificate('caption-below.pdf', signed, { expiresOn: '2027-03-14' }, captionBelow)).path,
    );
    expect(pageLine(genuine)).toContain(
      'shows the signed issue date 2026-03-14; shows the signed expiry date 2027-03-14',
    );
    expect(genuine.outcome).toBe('valid');
    const later = await report(
      (await printCertificate('caption-below-later.pdf', signed, { expiresOn: '2029-03-14' }, captionBelow))
        .path,
    );
    expect(pageLine(later)).toMatch(/^Page text: SHOWS ANOTHER (ISSUE|EXPIRY) DATE \(2029-03-14\)/);
    expect(later.outcome).toBe('invalid');
  });

  it('a template that prints the issue date in its own form after the label: the ISO date is compared, another form is reported as not compared', async () => {
    const base = await loadDefaultTemplate();
    const signed = factsOf('Alice Andersson');
    const iso: ResolvedTemplate = {
      ...base,
      version: 'iso-date',
      html: base.html.replace('{{ issued_on }}', '{{ issued_on_iso }}'),
    };
    expect(iso.html).not.toBe(base.html);
    const isoPage = await report((await printCertificate('iso-date.pdf', signed, {}, iso)).path);
    expect(pageLine(isoPage)).toContain('shows the signed issue date 2026-03-14');
    const isoForged = await report(
      (await printCertificate('iso-date-forged.pdf', signed, { issuedOn: '2026-04-14' }, iso)).path,
    );
    expect(pageLine(isoForged)).toBe(
      'Page text: SHOWS ANOTHER ISSUE DATE (2026-04-14) than the signed 2026-03-14 — the page was altered or is not this certificate',
    );

    const own: ResolvedTemplate = {
      ...base,
      version: 'own-date',
      html: base.html.replace('{{ issued_on }}', 'spring term'),
    };
    const ownPage = await report((await printCertificate('own-date.pdf', signed, {}, own)).path);
    expect(pageLine(ownPage)).toContain(
      'the issue date by its label was not compared (no date beside it in a form this check reads)',
    );
    expect(ownPage.outcome).toBe('valid');
  });

  it('the page re-printed with a better score over the genuine attachments is INVALID, in Latin and in Arabic-Indic digits', async () => {
    for (const locale of ['en', 'ar'] as const) {
      const { path } = await printCertificate(`better-score-${locale}.pdf`, factsOf('Alice Andersson'), {
        score: 98,
        maxScore: 100,
        percentage: 98,
        locale,
      });
      const checked = await report(path);
      expect(checked.lines).toContain('Facts: the embedded facts match the signature');
      expect(pageLine(checked), locale).toBe(
        'Page text: SHOWS ANOTHER SCORE than the signed 87.5/100 — the page was altered or is not this certificate',
      );
      expect(checked.outcome).toBe('invalid');
    }
  });

  const SHAPED_FORGERIES: Array<{ what: string; signed: string; printed: string; locale: string }> = [
    // pdf.js reads a final ة and ه alike.
    { what: 'one Arabic letter', signed: 'فاطمة الزهراء', printed: 'فاطمه الزهراء', locale: 'ar' },
    { what: 'another Arabic name', signed: 'فاطمة الزهراء', printed: 'عائشة الزهراء', locale: 'ar' },
    { what: 'an Arabic letter dropped', signed: 'فاطمة الزهراء', printed: 'فاطمة الزهرا', locale: 'en' },
    // The signed name is a piece of the printed one (Arabic and Hindi are written with spaces).
    { what: 'a longer Arabic name', signed: 'علي', printed: 'علياء', locale: 'ar' },
    {
      what: 'a letter added beside a digit',
      signed: 'محمد بن سلمان 2',
      printed: 'محمد بن سليمان 2',
      locale: 'ar',
    },
    { what: 'another digit', signed: 'محمد بن سلمان 2', printed: 'محمد بن سلمان 3', locale: 'en' },
    // pdf.js reads the printed किरण as करण: only the /ActualText tells them apart.
    { what: 'a Devanagari vowel sign', signed: 'करण मेहता', printed: 'किरण मेहता', locale: 'hi' },
    { what: 'another Devanagari surname', signed: 'अनन्या शर्मा', printed: 'अनन्या वर्मा', locale: 'hi' },
    { what: 'a longer Devanagari name', signed: 'राम', printed: 'रामू', locale: 'hi' },
    // pdf.js's reading of Arabic is left out of the comparison, not skipped like a space.
    { what: 'an Arabic word inside a Latin name', signed: 'Ann Lee', printed: 'Ann فاطمة Lee', locale: 'en' },
  ];
  for (const [index, { what, signed, printed, locale }] of SHAPED_FORGERIES.entries()) {
    it(`an Arabic or Hindi page re-printed with ${what} over the genuine attachments is INVALID (${signed} → ${printed})`, async () => {
      const { path } = await printCertificate(`forged-shaped-${index}.pdf`, factsOf(signed), {
        studentName: printed,
        locale,
      });
      const checked = await report(path);
      expect(checked.lines).toContain('Facts: the embedded facts match the signature');
      expect(pageLine(checked)).toBe(NOT_THE_STUDENT);
      expect(checked.outcome).toBe('invalid');
    });
  }

  it('an Arabic course title changed on the page is INVALID', async () => {
    const signed = factsOf('فاطمة الزهراء', { course: 'مقدمة في التعلم الآلي' });
    const checked = await report(
      (
        await printCertificate('other-arabic-course.pdf', signed, {
          courseName: 'مقدمة في التعلم العميق',
          locale: 'ar',
        })
      ).path,
    );
    expect(pageLine(checked)).toBe(
      'Page text: DOES NOT name the signed course — the page was altered or is not this certificate',
    );
    expect(checked.outcome).toBe('invalid');
  });

  it('another course on the page is INVALID (every template prints it); another code is reported, not held against it (a template may show it only in the QR code)', async () => {
    const signed = factsOf('Alice Andersson');
    const course = await report(
      (await printCertificate('other-course.pdf', signed, { courseName: 'Advanced Brain Surgery' })).path,
    );
    expect(pageLine(course)).toBe(
      'Page text: DOES NOT name the signed course — the page was altered or is not this certificate',
    );
    expect(course.outcome).toBe('invalid');

    const code = await report(
      (
        await printCertificate('other-code.pdf', signed, {
          verificationCode: 'ZZZZ9999ZZZZ9999',
          verifyUrl: `${VERIFY}/ZZZZ9999ZZZZ9999`,
        })
      ).path,
    );
    expect(pageLine(code)).toBe(
      "Page text: names the signed student and course; shows the signed score 87.5/100; shows the signed issue date 2026-03-14; does not show the signed code (templates may show it only in the QR code, but one the page shows is not the signed one) (a check of the PDF's text layer: what is drawn can still differ, so compare by eye too)",
    );
  });

  it("a forged page put in front of the genuine one is not VALID offline: the issuer's certificates have one page", async () => {
    const signed = factsOf('Alice Andersson');
    const genuine = await printCertificate('front-genuine.pdf', signed);
    const forged = await printCertificate('front-forged.pdf', signed, { studentName: 'Mallory Forger' });
    // The genuine file, attachments and all, with the forger's page inserted before its own.
    const document = await PDFDocument.load(genuine.pdf);
    const [front] = await document.copyPages(await PDFDocument.load(forged.pdf), [0]);
    if (!front) throw new Error('no page copied');
    document.insertPage(0, front);
    const path = join(dir, 'front-two-pages.pdf');
    await writeFile(path, await document.save());

    const checked = await report(path);
    expect(checked.lines).toContain('Facts: the embedded facts match the signature');
    expect(pageLine(checked)).toBe(
      "Page text: COULD NOT CHECK — the PDF has 2 pages, and the issuer's certificates have one (pages may have been added to it). Check it online, where the file itself is compared with the issuer's record",
    );
    // Online the file itself is compared (test/unit/verify-forgeries.test.ts).
    expect(checked.outcome).toBe('unchecked');
  });

  it('a page with no text (blank, or the certificate as an image) is INVALID', async () => {
    const signed = factsOf('Alice Andersson');
    const { pdf } = await printCertificate('to-flatten.pdf', signed);
    const png = await pdfPageToPng(pdf, 1, 100 / 72);
    const flattened = await withAttachments('flattened.pdf', signed, async (document) => {
      const image = await document.embedPng(png);
      document.addPage([842, 595]).drawImage(image, { x: 0, y: 0, width: 842, height: 595 });
    });
    const blank = await withAttachments('blank.pdf', signed, async (document) => {
      document.addPage([842, 595]);
    });
    for (const path of [flattened, blank]) {
      const checked = await report(path);
      expect(pageLine(checked)).toBe(
        "Page text: NONE — the page carries no text (an image of a certificate, or flattened), so nothing ties what it shows to the signed credential; the issuer's certificates always carry text",
      );
      expect(checked.outcome).toBe('invalid');
    }
  });

  it('a page pdf.js cannot open (password-protected) is COULD NOT CHECK, with the reason', async () => {
    const signed = factsOf('Alice Andersson');
    const { pdf } = await printCertificate('to-lock.pdf', signed);
    // Standard security with a user password: pdf.js asks for it; the attachments (left unencrypted
    // here) still read, so the signature verifies and only the page is out of reach.
    const document = await PDFDocument.load(pdf);
    const context = document.context;
    context.trailerInfo.Encrypt = context.register(
      context.obj({
        Filter: 'Standard',
        V: 2,
        R: 3,
        Length: 128,
        P: -4,
        O: PDFHexString.of('11'.repeat(32)),
        U: PDFHexString.of('22'.repeat(32)),
      }),
    );
    context.trailerInfo.ID = context.obj([
      PDFHexString.of('33'.repeat(16)),
      PDFHexString.of('33'.repeat(16)),
    ]);
    const path = join(dir, 'locked.pdf');
    await writeFile(path, await document.save());
    const checked = await report(path);
    expect(checked.lines).toContain(`Signature: valid (ES256, key ${key.kid})`);
    expect(pageLine(checked)).toBe(
      'Page text: COULD NOT READ the page (No password given). Compare the name, course, code, score and dates printed on it with the signed facts above.',
    );
    expect(checked.outcome).toBe('unchecked');
  });
});

describe('npm run verify reads the page', () => {
  const run = (...args: string[]) =>
    spawnSync(join(ROOT, 'node_modules/.bin/node'), ['--import', 'tsx', 'scripts/verify.ts', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });

  it('exits 0 for a genuine certificate and 1 for one whose page shows another student', async () => {
    const signed = factsOf('Ada Lovelace');
    const genuine = run((await printCertificate('cli-genuine.pdf', signed)).path, '--jwks', jwksFile);
    expect(genuine.stdout).toContain(NAMES_ALL);
    expect(genuine.stdout).toContain('Verdict: VALID');
    expect(genuine.stderr).toBe('');
    expect(genuine.status).toBe(0);

    const forged = run(
      (await printCertificate('cli-forged.pdf', signed, { studentName: 'Mallory Lovelace' })).path,
      '--jwks',
      jwksFile,
    );
    expect(forged.stdout).toContain(NOT_THE_STUDENT);
    expect(forged.stdout).toContain('Verdict: INVALID');
    expect(forged.status).toBe(1);
  });

  it('checks within its limits: past them, exits 2 and names the limit', async () => {
    const path = (await printCertificate('cli-limited.pdf', factsOf('Ada Lovelace'))).path;
    // A genuine check takes more than 64 MiB (about 350 measured, pdf.js loaded).
    const limited = run(path, '--jwks', jwksFile, '--max-memory', '64');
    // The process's growth or the worker's heap, held to the same size: whichever comes first.
    expect(limited.stdout).toMatch(
      /^Could not check: (the check needed more than 64 MiB of memory|the check's heap reached its limit of 64 MiB); the file may be built to exhaust the checker\nVerdict: COULD NOT CHECK\n$/,
    );
    expect(limited.stderr).toBe('');
    expect(limited.status).toBe(2);

    const refused = run(path, '--jwks', jwksFile, '--max-seconds', '0');
    expect(refused.stderr).toContain('--max-seconds must be a whole number from 1 to 3600, not "0"');
    expect(refused.status).toBe(2);
  });

  it('compares Arabic names too: exits 0 for a genuine one and 1 for another name', async () => {
    const signed = factsOf('فاطمة الزهراء');
    const genuine = run(
      (await printCertificate('cli-genuine-ar.pdf', signed, { locale: 'ar' })).path,
      '--jwks',
      jwksFile,
    );
    expect(genuine.stdout).toContain(NAMES_ALL);
    expect(genuine.stdout).toContain('Verdict: VALID');
    expect(genuine.stderr).toBe('');
    expect(genuine.status).toBe(0);

    const forged = run(
      (await printCertificate('cli-forged-ar.pdf', signed, { studentName: 'فاطمه الزهراء', locale: 'ar' }))
        .path,
      '--jwks',
      jwksFile,
    );
    expect(forged.stdout).toContain(NOT_THE_STUDENT);
    expect(forged.stdout).toContain('Verdict: INVALID');
    expect(forged.status).toBe(1);
  });
});
