import { PDFDocument } from 'pdf-lib';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readPdfAttachments } from '../../lib/credentials/pdf-attachments.ts';
import { createPdfPrinter } from '../../lib/render/browser.ts';
import { appendPdfUpdate } from '../../lib/render/pdf-update.ts';
import {
  applyPdfMetadata,
  CREDENTIAL_ATTACHMENT,
  FACTS_ATTACHMENT,
  loadDefaultTemplate,
  OPEN_BADGE_ATTACHMENT,
  prepareCertificate,
} from '../../lib/render/renderer.ts';
import { pdfText } from '../support/pdf.ts';
import { content } from './render-fixtures.ts';

// The post-processing pass as an incremental update after Chromium's bytes (pdf-update.ts),
// read back by the readers that matter: pdf-lib (`npm run verify`), pdf.js (browsers' viewer).

const printer = createPdfPrinter({ executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH });
let printed: Uint8Array;
const certificate = content({ studentName: 'Zoë (O’Brien) 龍 محمد 😀', issuerName: 'Académie \\ (Paris)' });
const credential = {
  jws: 'eyJhbGciOiJFUzI1NiJ9.eyJjb2RlIjoiSzdRMk05WDQifQ.c2ln',
  facts: { code: 'K7Q2M9X4', name: certificate.studentName } as never,
  verifyUrl: 'https://certificates.example.org/verify/K7Q2M9X4',
  openBadge: 'eyJhbGciOiJFUzI1NiIsInR5cCI6InZjK2p3dCJ9.e30.b2I',
};

beforeAll(async () => {
  const prepared = await prepareCertificate(certificate, await loadDefaultTemplate());
  printed = await printer.print(prepared.html, { timeoutMs: 60_000 });
});
afterAll(async () => {
  await printer.close();
});

async function meta() {
  return await prepareCertificate(certificate, await loadDefaultTemplate()).then(
    ({ html: _, ...rest }) => rest,
  );
}

/** What a reader sees: document information (pdf-lib and pdf.js), attachments (both), text. */
async function readBack(pdf: Uint8Array) {
  const document = await PDFDocument.load(pdf, { updateMetadata: false });
  const task = getDocument({ data: new Uint8Array(pdf) });
  const viewer = await task.promise;
  try {
    const { info } = (await viewer.getMetadata()) as { info: Record<string, unknown> };
    // pdf.js lists them (name and description; it reads the content only when one is opened).
    const viewerFiles = (await viewer.getAttachments()) as Map<string, { description: string }> | null;
    return {
      pages: document.getPageCount(),
      title: document.getTitle(),
      author: document.getAuthor(),
      subject: document.getSubject(),
      keywords: document.getKeywords(),
      creator: document.getCreator(),
      created: document.getCreationDate()?.toISOString(),
      modified: document.getModificationDate()?.toISOString(),
      viewerInfo: [info.Title, info.Author, info.Subject, info.Keywords, info.Creator],
      files: Object.fromEntries(
        [...(await readPdfAttachments(pdf))].map(([name, data]) => [name, Buffer.from(data).toString()]),
      ),
      viewerFiles: Object.fromEntries(
        [...(viewerFiles ?? new Map())].map(([name, file]) => [name, file.description]),
      ),
      text: await pdfText(pdf),
    };
  } finally {
    await task.destroy();
  }
}

describe('document information and attachments as an incremental update', () => {
  it('keeps Chromium’s bytes, and every reader sees the new title, author, dates and the three files', async () => {
    const updated = await applyPdfMetadata(printed, await meta(), '2026-11-24', credential);
    // An update appended, not a rewrite: Chromium's PDF is a prefix, byte for byte.
    expect(Buffer.from(updated.subarray(0, printed.byteLength)).equals(Buffer.from(printed))).toBe(true);
    expect(Buffer.from(updated.subarray(printed.byteLength)).toString('latin1')).toMatch(
      /\/Prev \d+>>\nstartxref\n\d+\n%%EOF\n$/,
    );

    const seen = await readBack(updated);
    const { title } = await meta();
    expect(title).toContain(certificate.studentName);
    expect(seen).toMatchObject({
      pages: 1,
      title,
      author: 'Académie \\ (Paris)',
      creator: 'course-certificates',
      created: '2026-11-24T00:00:00.000Z',
      modified: '2026-11-24T00:00:00.000Z',
    });
    expect(seen.subject).toContain(certificate.courseName);
    expect(seen.keywords).toContain(certificate.certificateId);
    expect(seen.viewerInfo).toEqual([seen.title, seen.author, seen.subject, seen.keywords, seen.creator]);
    const files = {
      [CREDENTIAL_ATTACHMENT]: credential.jws,
      [FACTS_ATTACHMENT]: JSON.stringify({ verifyUrl: credential.verifyUrl, facts: credential.facts }),
      [OPEN_BADGE_ATTACHMENT]: credential.openBadge,
    };
    expect(seen.files).toEqual(files);
    // Each file's media type: both tokens are JWTs (their `typ` is JWT; the Open Badge is not a
    // VC-JOSE-COSE application/vc+jwt), the facts are JSON.
    const mediaTypes = Buffer.from(updated.subarray(printed.byteLength))
      .toString('latin1')
      .match(/\/Type \/EmbeddedFile \/Subtype \/\S+/g)
      ?.map((found) => found.split(' ').pop());
    expect(mediaTypes?.sort()).toEqual(['/application#2Fjson', '/application#2Fjwt', '/application#2Fjwt']);
    expect(Object.keys(seen.viewerFiles).sort()).toEqual(Object.keys(files).sort());
    expect(seen.viewerFiles[OPEN_BADGE_ATTACHMENT]).toContain('Open Badges 3.0');
    expect(seen.text).toBe(await pdfText(printed));
  });

  it('reads the same as the pdf-lib rewrite it replaces, which still handles PDFs laid out otherwise', async () => {
    const fast = await readBack(await applyPdfMetadata(printed, await meta(), '2026-11-24', credential));
    // pdf-lib's own save (object streams, an xref stream): not Chromium's layout.
    const rewritten = await (await PDFDocument.load(printed)).save({ useObjectStreams: true });
    expect(
      appendPdfUpdate(rewritten, { title: 't', author: 'a', subject: 's', keywords: [], creator: 'c' }, []),
    ).toBeUndefined();
    const slow = await readBack(await applyPdfMetadata(rewritten, await meta(), '2026-11-24', credential));
    expect(slow).toEqual(fast);
  });

  it('without a credential: information only, no attachment; an unparseable date leaves Chromium’s dates', async () => {
    const seen = await readBack(await applyPdfMetadata(printed, await meta(), 'not a date'));
    expect(seen.files).toEqual({});
    expect(seen.viewerFiles).toEqual({});
    expect(seen.creator).toBe('course-certificates');
    expect(seen.created).toBe(
      (await PDFDocument.load(printed, { updateMetadata: false })).getCreationDate()?.toISOString(),
    );
  });
});
