import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateFacts } from '../../lib/certificates/facts.ts';
import { signCredential } from '../../lib/credentials/credential.ts';
import { jwksDocument, type PublishedKey } from '../../lib/credentials/jwks.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import { type CheckIo, checkCertificate } from '../../lib/credentials/offline-check.ts';
import { applyPdfMetadata } from '../../lib/render/renderer.ts';
import { pdfPageText } from '../../scripts/pdf-page-text.ts';

// Tests a mutation sweep (2026-12-05) found missing for `npm run verify`'s
// comparison of the signed facts with the issuer's record (offline-check.ts, recordDisagreement).
// A key stolen and not yet reported signs what the forger likes for a real code; only the
// issuer's record of that code can show it.

const ISSUER = 'https://certs.example.org';
const VERIFY = `${ISSUER}/verify`;
const JWKS_URL = `${ISSUER}/.well-known/jwks.json`;

let dir: string;
let key: SigningKey;
let published: PublishedKey[];
/** The issuer's record of each code, as GET /verify/{code} answers it in JSON. */
const records = new Map<string, Record<string, unknown>>();

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const io: CheckIo = {
  readFile: async (path) => new Uint8Array(await readFile(path)),
  fetch: async (url) => {
    const { origin, pathname } = new URL(url);
    if (origin !== ISSUER) throw new TypeError('fetch failed');
    if (pathname === '/.well-known/jwks.json')
      return json(jwksDocument(published, 'https://certs.example.org/api/v1'));
    const code = /^\/verify\/([^/]+)$/.exec(pathname)?.[1]?.toUpperCase();
    const record = code ? records.get(code) : undefined;
    return record ? json(record) : json({}, 404);
  },
};

const recordOf = (facts: CertificateFacts) => ({
  verificationCode: facts.code,
  status: 'valid',
  revokedAt: null,
  pdfSha256: null,
  studentName: facts.name,
  courseTitle: facts.course,
  issuedOn: facts.issued,
});

const genuine: CertificateFacts = {
  code: 'K7Q2M9X4T8B3N6PZ',
  name: 'Ada Lovelace',
  course: 'Analytical Engines 101',
  score: '87/100',
  issued: '2026-03-14',
  expires: null,
  issuer: 'Northbridge Academy',
};

async function link(facts: CertificateFacts) {
  return `${VERIFY}/${facts.code}#${await signCredential(facts, key)}`;
}

/**
 * A PDF with the attachments generate embeds (no Open Badge), signed by `key`: one page holding
 * the code, or the pages given (a page drawn by someone else over genuine attachments).
 */
async function pdf(name: string, facts: CertificateFacts, pages: string[] = [facts.code]): Promise<string> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const text of pages) doc.addPage([842, 595]).drawText(text, { x: 60, y: 400, size: 20, font });
  const bytes = await applyPdfMetadata(
    await doc.save(),
    { title: 'Certificate', subject: 'Certificate', keywords: [], author: facts.issuer },
    facts.issued,
    { jws: await signCredential(facts, key), facts, verifyUrl: `${VERIFY}/${facts.code}` },
  );
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verify-record-'));
  key = await signingKeyFromJwk(await generateSigningJwk());
  published = [{ jwk: key.publicJwk, state: 'current' }];
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the record comparison of npm run verify', () => {
  it('the genuine link and PDF agree with the record: valid', async () => {
    records.set(genuine.code, recordOf(genuine));
    expect((await checkCertificate(await link(genuine), undefined, io)).outcome).toBe('valid');
    expect((await checkCertificate(await pdf('genuine.pdf', genuine), JWKS_URL, io)).outcome).toBe('valid');
  });

  it('a link signed for a real code with another course is invalid by the record', async () => {
    records.set(genuine.code, recordOf(genuine));
    const report = await checkCertificate(await link({ ...genuine, course: 'Forgery 999' }), undefined, io);
    expect(report.lines).toContain(
      `Record: DOES NOT MATCH the signed facts — the issuer's record of ${genuine.code} names another course (${genuine.course})`,
    );
    expect(report.outcome).toBe('invalid');
  });

  it('a link signed for a real code with another issue date is invalid by the record', async () => {
    records.set(genuine.code, recordOf(genuine));
    const report = await checkCertificate(await link({ ...genuine, issued: '2020-01-01' }), undefined, io);
    expect(report.lines).toContain(
      `Record: DOES NOT MATCH the signed facts — the issuer's record of ${genuine.code} says it was issued on ${genuine.issued}`,
    );
    expect(report.outcome).toBe('invalid');
  });

  it("a PDF's full name and course are compared in full, not only as far as the link's cut", async () => {
    const long: CertificateFacts = {
      ...genuine,
      code: 'L0NG00000000000A',
      name: 'Alexandrina Konstantinopoulou-Whitfield',
      course: 'Advanced Topics in Distributed Systems Engineering',
    };
    records.set(long.code, recordOf(long));
    expect((await checkCertificate(await pdf('long.pdf', long), JWKS_URL, io)).outcome).toBe('valid');
    // The same cut in the QR claims (24 and 22 bytes), another person and another course in full.
    const otherName = { ...long, name: 'Alexandrina Konstantinopoulou-Mallory' };
    const byName = await checkCertificate(await pdf('other-name.pdf', otherName), JWKS_URL, io);
    expect(byName.lines).toContain(
      `Record: DOES NOT MATCH the signed facts — the issuer's record of ${long.code} names another student (${long.name})`,
    );
    expect(byName.outcome).toBe('invalid');
    const otherCourse = { ...long, course: 'Advanced Topics in Distributed Forgery' };
    const byCourse = await checkCertificate(await pdf('other-course.pdf', otherCourse), JWKS_URL, io);
    expect(byCourse.lines).toContain(
      `Record: DOES NOT MATCH the signed facts — the issuer's record of ${long.code} names another course (${long.course})`,
    );
    expect(byCourse.outcome).toBe('invalid');
  });

  it("a key file holding a key the issuer's current set never listed does not make the issuer's record vouch for it", async () => {
    records.set(genuine.code, recordOf(genuine));
    const stranger = await signingKeyFromJwk(await generateSigningJwk());
    // The checker was handed a key file with a key that is not the issuer's (beside the issuer's).
    const file = join(dir, 'handed-jwks.json');
    await writeFile(
      file,
      JSON.stringify(
        jwksDocument(
          [...published, { jwk: stranger.publicJwk, state: 'current' }],
          'https://certs.example.org/api/v1',
        ),
      ),
    );
    const forged = `${VERIFY}/${genuine.code}#${await signCredential(genuine, stranger)}`;
    const report = await checkCertificate(forged, file, io, { issuer: ISSUER });
    expect(report.lines).toContain(
      `Key: the issuer's current key set does not list ${stranger.kid}, the key in your file that signed this: not this issuer's certificate, or not this issuer's key file`,
    );
    expect(report.outcome).toBe('invalid');
  });

  it("a PDF the issuer's record shows to be byte for byte its file is valid whatever its text layer says", async () => {
    const facts: CertificateFacts = { ...genuine, code: 'T3XT00000000000B' };
    // A page whose text names neither the holder nor the course (printed as an image, say).
    const doc = await PDFDocument.create();
    const font = await doc.embedFont(StandardFonts.Helvetica);
    doc.addPage([842, 595]).drawText('Certificate of completion', { x: 60, y: 400, size: 20, font });
    const bytes = await applyPdfMetadata(
      await doc.save(),
      { title: 'Certificate', subject: 'Certificate', keywords: [], author: facts.issuer },
      facts.issued,
      { jws: await signCredential(facts, key), facts, verifyUrl: `${VERIFY}/${facts.code}` },
    );
    const path = join(dir, 'text-layer.pdf');
    await writeFile(path, bytes);
    const reading: CheckIo = { ...io, pageText: pdfPageText };
    // Against another fingerprint the file is not the issuer's, and the page does not name the holder.
    records.set(facts.code, { ...recordOf(facts), pdfSha256: 'ab'.repeat(32) });
    const other = await checkCertificate(path, JWKS_URL, reading);
    expect(other.lines).toContain(
      'Page text: DOES NOT name the signed student — the page was altered or is not this certificate',
    );
    expect(other.outcome).toBe('invalid');
    records.set(facts.code, {
      ...recordOf(facts),
      pdfSha256: createHash('sha256').update(bytes).digest('hex'),
    });
    const identical = await checkCertificate(path, JWKS_URL, reading);
    expect(identical.lines.join('\n')).toContain('File: identical to the PDF the issuer issued');
    expect(identical.outcome).toBe('valid');
  });
});

// "File: not compared" (a record without pdfSha256: certificates issued before it was recorded, or
// an issuer that does not publish it) is no byte-for-byte match: the page's own verdict stands
// online as offline. It used to clear it, so such a page came out VALID online.
describe('npm run verify online, when the issuer has no fingerprint of the PDF', () => {
  const reading: CheckIo = { ...io, pageText: pdfPageText };

  it('a page naming someone else is not valid', async () => {
    records.set(genuine.code, recordOf(genuine));
    const path = await pdf('mallory.pdf', genuine, [`Mallory Impostor ${genuine.course} ${genuine.code}`]);
    const report = await checkCertificate(path, JWKS_URL, reading);
    expect(report.lines).toContain(
      'Page text: DOES NOT name the signed student — the page was altered or is not this certificate',
    );
    expect(report.lines.join('\n')).toContain('File: not compared');
    expect(report.outcome, report.lines.join('\n')).not.toBe('valid');
  });

  it('a forged page in front of the genuine one is not valid', async () => {
    records.set(genuine.code, recordOf(genuine));
    const path = await pdf('two.pdf', genuine, [
      `Mallory Impostor ${genuine.course} ${genuine.code}`,
      `${genuine.name} ${genuine.course} ${genuine.code}`,
    ]);
    const report = await checkCertificate(path, JWKS_URL, reading);
    expect(report.outcome, report.lines.join('\n')).not.toBe('valid');
  });
});
