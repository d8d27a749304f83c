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

// When the issuer's record has no fingerprint of the PDF (pdfSha256 null: certificates issued
// before it was recorded, or an issuer that does not publish it), "File: not compared" is no
// byte-for-byte match: the page's own verdict stands online as offline. It used to clear it, so a
// page naming someone else, or a forged page in front of the genuine one, was VALID online
// (found by the session-17 mutation sweep).

const ISSUER = 'https://certs.example.org';
const VERIFY = `${ISSUER}/verify`;
const JWKS_URL = `${ISSUER}/.well-known/jwks.json`;
let dir: string;
let key: SigningKey;
let published: PublishedKey[];

const ada: CertificateFacts = {
  code: 'ADA0000000000001',
  name: 'Ada Lovelace',
  course: 'Analytical Engines 101',
  score: '87/100',
  issued: '2026-03-14',
  expires: null,
  issuer: 'Northbridge Academy',
};

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const online: CheckIo = {
  readFile: async (path) => new Uint8Array(await readFile(path)),
  pageText: pdfPageText,
  fetch: async (url) => {
    const { pathname } = new URL(url);
    if (pathname === '/.well-known/jwks.json') return json(jwksDocument(published));
    if (pathname === `/verify/${ada.code}`)
      // The issuer's record: valid, the same facts, no fingerprint of the PDF.
      return json({
        verificationCode: ada.code,
        status: 'valid',
        revokedAt: null,
        pdfSha256: null,
        studentName: ada.name,
        courseTitle: ada.course,
        issuedOn: ada.issued,
      });
    return json({}, 404);
  },
};

/** Ada's genuine attachments on a page drawn by someone else. */
async function redrawn(name: string, pages: string[]): Promise<string> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const text of pages) doc.addPage([842, 595]).drawText(text, { x: 60, y: 400, size: 20, font });
  const bytes = await applyPdfMetadata(
    await doc.save(),
    { title: 'Certificate', subject: 'Certificate', keywords: [], author: ada.issuer },
    ada.issued,
    { jws: await signCredential(ada, key), facts: ada, verifyUrl: `${VERIFY}/${ada.code}` },
  );
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zz-finding-s17-'));
  key = await signingKeyFromJwk(await generateSigningJwk());
  published = [{ jwk: key.publicJwk, state: 'current' }];
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run verify online, when the issuer has no fingerprint of the PDF', () => {
  it('a page naming someone else is not valid (offline it is invalid)', async () => {
    const path = await redrawn('mallory.pdf', [`Mallory Impostor ${ada.course} ${ada.code}`]);
    const offline = await checkCertificate(path, JWKS_URL, { ...online, fetch: undefined });
    // (offline the key set URL cannot be read: use the online report's page line instead)
    const report = await checkCertificate(path, JWKS_URL, online);
    expect(report.lines).toContain(
      'Page text: DOES NOT name the signed student — the page was altered or is not this certificate',
    );
    expect(report.outcome, report.lines.join('\n')).not.toBe('valid');
    expect(offline.outcome).not.toBe('valid');
  });

  it('a forged page in front of the genuine one is not valid', async () => {
    const path = await redrawn('two.pdf', [
      `Mallory Impostor ${ada.course} ${ada.code}`,
      `${ada.name} ${ada.course} ${ada.code}`,
    ]);
    const report = await checkCertificate(path, JWKS_URL, online);
    expect(report.outcome, report.lines.join('\n')).not.toBe('valid');
  });
});
