import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CompactSign } from 'jose';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createHandler as createJwksHandler } from '../../functions/http/jwks.ts';
import { createHandler as createVerifyHandler } from '../../functions/http/verify-certificate.ts';
import type { CertificateFacts } from '../../lib/certificates/facts.ts';
import { credentialClaims, credentialUrl, signCredential } from '../../lib/credentials/credential.ts';
import { jwksDocument } from '../../lib/credentials/jwks.ts';
import { markKeyCompromised, registerSigningKey } from '../../lib/credentials/key-store.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import { type CheckIo, checkCertificate } from '../../lib/credentials/offline-check.ts';
import { applyPdfMetadata } from '../../lib/render/renderer.ts';
import { pdfPageText } from '../../scripts/pdf-page-text.ts';
import { insertCertificate } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { type LambdaHttpServer, serveHandlers } from '../support/lambda-http.ts';
import { runScript } from '../support/run-script.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const VERIFY_URL = 'https://certificates.example.org/verify/K7Q2M9X4T8B3N6PZ';
const facts: CertificateFacts = {
  code: 'K7Q2M9X4T8B3N6PZ',
  name: '李小龍 Bruce Lee',
  course: 'Kung Fu Philosophy',
  score: '95/100',
  issued: '2026-03-14',
  expires: null,
  issuer: 'Northbridge Academy',
};

let dir: string;
let key: SigningKey;
let other: SigningKey;
let jwksFile: string;

/**
 * Network-free: a fetch here fails the test. No page reader either, as for a library caller:
 * these PDFs are a blank page with the attachments (test/integration/verify-page-text.test.ts
 * checks pages printed by the renderer).
 */
const offlineIo: CheckIo = { readFile: async (path) => new Uint8Array(await readFile(path)) };

/** A certificate's attachments on a blank page, or on a page with `text` drawn on it (Helvetica). */
async function certificatePdf(
  name: string,
  jws: string,
  attachedFacts = facts,
  text: readonly string[] = [],
  verifyUrl = VERIFY_URL,
): Promise<string> {
  const blank = await PDFDocument.create();
  const page = blank.addPage([842, 595]);
  if (text.length > 0) {
    const font = await blank.embedFont(StandardFonts.Helvetica);
    text.forEach((line, index) => {
      page.drawText(line, { x: 60, y: 500 - index * 40, size: 20, font });
    });
  }
  const pdf = await applyPdfMetadata(
    await blank.save(),
    { title: 'Certificate', subject: 'Certificate', keywords: [], author: 'Northbridge Academy' },
    facts.issued,
    { jws, facts: attachedFacts, verifyUrl },
  );
  const path = join(dir, name);
  await writeFile(path, pdf);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(inject('stack').root, 'verify-cli-'));
  key = await signingKeyFromJwk(await generateSigningJwk());
  other = await signingKeyFromJwk(await generateSigningJwk());
  jwksFile = join(dir, 'jwks.json');
  await writeFile(
    jwksFile,
    JSON.stringify(
      jwksDocument([{ jwk: key.publicJwk, state: 'current' }], 'https://certs.example.org/api/v1'),
    ),
  );
});

describe('npm run verify with a PDF and a JWKS file (no network)', () => {
  it('valid: prints the full facts and says the status was not checked offline', async () => {
    const pdf = await certificatePdf('valid.pdf', await signCredential(facts, key));
    const report = await checkCertificate(pdf, jwksFile, offlineIo);
    expect(report.outcome).toBe('valid');
    expect(report.lines.join('\n')).toContain('李小龍 Bruce Lee');
    expect(report.lines.join('\n')).toContain('not checked (offline)');
    // Without a page reader (a library caller) the page is left to the reader of the report.
    expect(report.lines).toContain(
      'Page: not read by this check. Compare the name, course, code, score and dates printed on it with the signed facts above.',
    );
  });

  it('invalid: altered facts, a tampered signature, a compromised key', async () => {
    const jws = await signCredential(facts, key);
    const altered = await certificatePdf('altered.pdf', jws, { ...facts, score: '100/100' });
    expect((await checkCertificate(altered, jwksFile, offlineIo)).outcome).toBe('invalid');
    // Facts that do not match the signature name nothing the page could be compared with.
    const alteredRead = await checkCertificate(altered, jwksFile, { ...offlineIo, pageText: pdfPageText });
    expect(alteredRead.outcome).toBe('invalid');
    expect(alteredRead.lines).toContain(
      'Page text: not compared (the embedded facts do not match the signature)',
    );

    const [header, payload, signature = ''] = jws.split('.');
    const flipped = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    expect(
      (await checkCertificate(await certificatePdf('sig.pdf', flipped), jwksFile, offlineIo)).outcome,
    ).toBe('invalid');

    const revokedJwks = join(dir, 'revoked-jwks.json');
    await writeFile(
      revokedJwks,
      JSON.stringify(
        jwksDocument(
          [{ jwk: key.publicJwk, state: 'compromised', revokedAt: '2026-05-01T00:00:00Z' }],
          'https://certs.example.org/api/v1',
        ),
      ),
    );
    const compromised = await checkCertificate(await certificatePdf('c.pdf', jws), revokedJwks, offlineIo);
    expect(compromised.outcome).toBe('invalid');
    expect(compromised.lines.join('\n')).toContain('signed with a revoked key');
  });

  it('a key not in the key file is "could not check", not a forgery: keys the issuer added since it was saved are not in it', async () => {
    const stranger = await certificatePdf('stranger.pdf', await signCredential(facts, other));
    const unknown = await checkCertificate(stranger, jwksFile, offlineIo);
    expect(unknown.outcome).toBe('unchecked');
    expect(unknown.lines).toContain(
      `Could not check: your key set (${jwksFile}) has no key ${other.kid}. Keys the issuer added after you saved it are not in it: fetch its current set (https://<the issuer's host>/.well-known/jwks.json) again and check once more`,
    );
  });

  it('could not check: no credential in the PDF, unreadable file, no JWKS', async () => {
    const plain = join(dir, 'plain.pdf');
    await writeFile(plain, await (await PDFDocument.create()).save());
    expect((await checkCertificate(plain, jwksFile, offlineIo)).outcome).toBe('unchecked');
    expect((await checkCertificate(join(dir, 'missing.pdf'), jwksFile, offlineIo)).outcome).toBe('unchecked');
    const pdf = await certificatePdf('nojwks.pdf', await signCredential(facts, key));
    expect((await checkCertificate(pdf, join(dir, 'missing.json'), offlineIo)).outcome).toBe('unchecked');
  });

  it('the command exits 0 valid, 1 invalid, 2 could not check', async () => {
    // The project's Node 22 and tsx, as `npm run verify` runs it; the command reads the page.
    const run = (...args: string[]) =>
      spawnSync(join(ROOT, 'node_modules/.bin/node'), ['--import', 'tsx', 'scripts/verify.ts', ...args], {
        cwd: ROOT,
        encoding: 'utf8',
      });
    const latin = { ...facts, name: 'Bruce Lee' };
    const printed = ['Bruce Lee', latin.course, VERIFY_URL];
    const valid = run(
      await certificatePdf('run-valid.pdf', await signCredential(latin, key), latin, printed),
      '--jwks',
      jwksFile,
    );
    expect(valid.stdout).toContain('Page text: names the signed student, course and code');
    expect(valid.stdout).toContain('Verdict: VALID');
    expect(valid.status).toBe(0);
    const invalid = run(
      await certificatePdf(
        'run-bad.pdf',
        await signCredential(latin, key),
        { ...latin, score: '100/100' },
        printed,
      ),
      '--jwks',
      jwksFile,
    );
    expect(invalid.stdout).toContain('Facts: DO NOT MATCH the signature');
    expect(invalid.status).toBe(1);
    // A genuine credential on a page with no text: nothing ties the page to it.
    const textless = run(
      await certificatePdf('run-blank.pdf', await signCredential(latin, key), latin),
      '--jwks',
      jwksFile,
    );
    expect(textless.stdout).toContain('Page text: NONE');
    expect(textless.status).toBe(1);
    expect(run(join(dir, 'nothing.pdf'), '--jwks', jwksFile).status).toBe(2);
    expect(run().status).toBe(2);
  });
});

describe('npm run verify with a PDF, a JWKS file and --issuer', () => {
  it("asks the issuer's host for the live status; with --offline nothing is asked", async () => {
    // An issuer's host that answers nothing useful: what matters is whether it is asked at all.
    const asked: string[] = [];
    const host = createServer((request, response) => {
      asked.push(`${request.method} ${request.url}`);
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = host.address() as AddressInfo;
      const latin = { ...facts, name: 'Bruce Lee' };
      const pdf = await certificatePdf('issuer.pdf', await signCredential(latin, key), latin, [
        'Bruce Lee',
        latin.course,
        VERIFY_URL,
      ]);
      const issuer = `http://127.0.0.1:${port}`;

      const offline = await runScript('verify', [pdf, '--jwks', jwksFile, '--issuer', issuer, '--offline']);
      expect(offline.stdout).toContain('Status: not checked (offline)');
      expect(asked).toEqual([]);

      const online = await runScript('verify', [pdf, '--jwks', jwksFile, '--issuer', issuer]);
      expect(online.stdout).not.toContain('Status: not checked (offline)');
      expect(asked.length).toBeGreaterThan(0);
      expect(online.code).toBe(2);
    } finally {
      await new Promise((resolve) => host.close(resolve));
    }
  });
});

describe('npm run verify with the URL of a QR code (online)', () => {
  let t: TestEnv;
  let server: LambdaHttpServer;
  beforeAll(async () => {
    t = await createTestEnv();
    server = await serveHandlers({
      'GET /api/v1/verify/{verificationCode}': createVerifyHandler({ sql: t.sql, corsOrigins: [] }),
      'GET /.well-known/jwks.json': createJwksHandler({
        sql: t.sql,
        corsOrigins: [],
        apiBaseUrl: 'https://certs.example.org/api/v1',
      }),
    });
    await registerSigningKey(t.sql, key);
  });
  afterAll(async () => {
    await server.close();
    await t.cleanup();
  });

  const online: CheckIo = { ...offlineIo, fetch: (url, init) => fetch(url, init) };

  /** A certificate on record, and the facts the issuer signed for it (its record's). */
  async function recorded(studentId: string, status: 'issued' | 'revoked') {
    const certificate = await insertCertificate(t.sql, {
      studentId,
      status,
      studentName: facts.name,
      courseTitle: facts.course,
    });
    await t.sql`UPDATE certificates SET issued_on = ${facts.issued} WHERE id = ${certificate.id}`;
    return { certificate, signed: { ...facts, code: certificate.verificationCode } };
  }

  it('valid with the live status; revoked is invalid', async () => {
    for (const status of ['issued', 'revoked'] as const) {
      const { certificate, signed } = await recorded('00000000-0000-4000-8000-00000000b0b0', status);
      const jws = await signCredential(signed, key);
      const url = credentialUrl(`${server.baseUrl}/api/v1/verify/${certificate.verificationCode}`, jws);
      const report = await checkCertificate(url, undefined, online);
      expect(report.lines.join('\n')).toContain(`Keys: ${server.baseUrl}/.well-known/jwks.json`);
      expect(report.outcome).toBe(status === 'issued' ? 'valid' : 'invalid');
      expect(report.lines.join('\n')).toContain(`Status: ${status === 'issued' ? 'valid' : 'revoked'}`);
    }
  });

  it('the command checks a link with keys from a file against the live status only on the host --issuer names', async () => {
    const { certificate, signed } = await recorded('00000000-0000-4000-8000-00000000b0b2', 'revoked');
    const jws = await signCredential(signed, key);
    const link = credentialUrl(`${server.baseUrl}/api/v1/verify/${certificate.verificationCode}`, jws);
    // Asynchronously: the issuer's routes answer from this process.
    const run = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string }>((resolve, reject) => {
        const child = spawn(
          join(ROOT, 'node_modules/.bin/node'),
          ['--import', 'tsx', 'scripts/verify.ts', ...args],
          {
            cwd: ROOT,
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        let stdout = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk;
        });
        child.on('error', reject);
        child.on('close', (status) => resolve({ status, stdout }));
      });
    // The link's own host names no issuer when the keys came from elsewhere: not a verdict.
    const unnamed = await run(link, '--jwks', jwksFile);
    expect(unnamed.stdout).toContain('pass --issuer');
    expect(unnamed.status).toBe(2);
    const named = await run(link, '--jwks', jwksFile, '--issuer', server.baseUrl);
    expect(named.stdout).toContain('Status: revoked');
    expect(named.status).toBe(1);
  });

  const verifyLink = async (code: string, claims: CertificateFacts, signer: SigningKey) =>
    credentialUrl(`${server.baseUrl}/api/v1/verify/${code}`, await signCredential(claims, signer));
  /** A link for `code` signed by `signer`, checked with keys from `jwks` and the issuer named. */
  const checkLink = async (
    code: string,
    claims: CertificateFacts,
    signer: SigningKey,
    jwks: string,
    io: CheckIo = online,
  ) => checkCertificate(await verifyLink(code, claims, signer), jwks, io, { issuer: server.baseUrl });

  it("with keys from a file, the issuer's current key set says which key it has revoked since, and its record which name it issued", async () => {
    const stolen = await signingKeyFromJwk(await generateSigningJwk());
    await registerSigningKey(t.sql, stolen);
    // The verifier's copy, saved while the key was good.
    const savedJwks = join(dir, 'saved-jwks.json');
    await writeFile(
      savedJwks,
      JSON.stringify(
        jwksDocument([{ jwk: stolen.publicJwk, state: 'current' }], 'https://certs.example.org/api/v1'),
      ),
    );
    const { certificate, signed } = await recorded('00000000-0000-4000-8000-00000000b0b3', 'issued');
    const code = certificate.verificationCode;
    const forgedFacts = { ...signed, name: 'Mallory Forger' };
    const currentKeys = `${server.baseUrl}/.well-known/jwks.json`;

    const genuine = await checkLink(code, signed, stolen, savedJwks);
    expect(genuine.lines).toContain(`Key state: read from the issuer's current key set (${currentKeys})`);
    expect(genuine.outcome).toBe('valid');
    // Before the theft is reported, a name signed with the key for a real code is caught by the
    // issuer's record of that code.
    const forged = await checkLink(code, forgedFacts, stolen, savedJwks);
    expect(forged.lines).toContain(
      `Record: DOES NOT MATCH the signed facts — the issuer's record of ${code} names another student (${facts.name})`,
    );
    expect(forged.outcome).toBe('invalid');
    // Nor can it sign a bare "…", which every name would start with: only the cut the issuer makes
    // of a record's name agrees with it (this one is short, so never cut).
    const bare = await new CompactSign(
      new TextEncoder().encode(JSON.stringify({ ...(await credentialClaims(signed)), n: '…', t: '…' })),
    )
      .setProtectedHeader({ alg: 'ES256', kid: stolen.kid })
      .sign(stolen.privateKey);
    const cut = await checkCertificate(
      credentialUrl(`${server.baseUrl}/api/v1/verify/${code}`, bare),
      savedJwks,
      online,
      { issuer: server.baseUrl },
    );
    expect(cut.lines).toContain(
      `Record: DOES NOT MATCH the signed facts — the issuer's record of ${code} names another student (${facts.name})`,
    );
    expect(cut.outcome).toBe('invalid');

    // Once it is reported, nothing the key signed is valid, whatever the saved file says.
    await markKeyCompromised(t.sql, stolen.kid);
    for (const claims of [signed, forgedFacts]) {
      const report = await checkLink(code, claims, stolen, savedJwks);
      expect(report.lines.join('\n')).toContain(
        `Signature: INVALID — signed with a revoked key (${stolen.kid}, revoked 2`,
      );
      // Online, it says what the issuer's record is now (a replacement's code, once superseded).
      expect(report.lines.at(-1)).toMatch(/^Status of the code those facts name \(not of this copy\): /);
      expect(report.lines.at(-1)).toContain(`(live, ${server.baseUrl}/api/v1/verify/${code})`);
      expect(report.outcome).toBe('invalid');
    }

    // The issuer's key set not answering: whether the key was revoked is not known, so no verdict.
    const keysDown: CheckIo = {
      ...online,
      fetch: (url, init) =>
        url.endsWith('/.well-known/jwks.json')
          ? Promise.reject(new TypeError('fetch failed'))
          : fetch(url, init),
    };
    const unknownState = await checkLink(code, signed, key, jwksFile, keysDown);
    expect(unknownState.lines).toContain(
      `Key state: COULD NOT CHECK whether the issuer has revoked a key of your file since you saved it — could not read the JWKS (${currentKeys}): fetch failed`,
    );
    expect(unknownState.lines).toContain(`Status: valid (live, ${server.baseUrl}/api/v1/verify/${code})`);
    expect(unknownState.outcome).toBe('unchecked');
  });

  it("with keys from a file, a key the file lacks is looked up in the issuer's current set: rotated since is could not check, unknown to both is invalid", async () => {
    const newer = await signingKeyFromJwk(await generateSigningJwk());
    // The issuer rotated its key after the verifier saved the file.
    await registerSigningKey(t.sql, newer);
    const { certificate, signed } = await recorded('00000000-0000-4000-8000-00000000b0b4', 'issued');
    const code = certificate.verificationCode;
    const currentKeys = `${server.baseUrl}/.well-known/jwks.json`;

    const rotated = await checkLink(code, signed, newer, jwksFile);
    expect(rotated.lines).toContain(
      `Could not check: your key set (${jwksFile}) has no key ${newer.kid}, which the issuer's current set (${currentKeys}) publishes: save that set again and check once more`,
    );
    expect(rotated.outcome).toBe('unchecked');

    const stranger = await checkLink(code, signed, other, jwksFile);
    expect(stranger.lines).toContain(
      `Signature: INVALID — neither your key set (${jwksFile}) nor the issuer's current set (${currentKeys}) has key ${other.kid}`,
    );
    expect(stranger.outcome).toBe('invalid');
  });

  it("a PDF checked online is compared, byte for byte, with the issuer's record of the PDF it issued", async () => {
    const { certificate, signed } = await recorded('00000000-0000-4000-8000-00000000b0b1', 'issued');
    const verifyUrl = `${server.baseUrl}/api/v1/verify/${certificate.verificationCode}`;
    const path = await certificatePdf(
      `online-${certificate.verificationCode}.pdf`,
      await signCredential(signed, key),
      signed,
      [],
      verifyUrl,
    );
    const bytes = new Uint8Array(await readFile(path));
    const issuedHash = createHash('sha256').update(bytes).digest('hex');
    await t.sql`UPDATE certificates SET pdf_sha256 = ${issuedHash} WHERE id = ${certificate.id}`;
    const jwksUrl = `${server.baseUrl}/.well-known/jwks.json`;

    const genuine = await checkCertificate(path, jwksUrl, online);
    expect(genuine.lines).toContain(
      `File: identical to the PDF the issuer issued (SHA-256 ${issuedHash}, as in the issuer's record)`,
    );
    expect(genuine.outcome).toBe('valid');

    // The same page and attachments, saved again with another title: every signed fact still
    // checks out, the file is not the one issued.
    const copy = await PDFDocument.load(bytes);
    copy.setTitle('Certificate (edited)');
    const copyPath = join(dir, `online-copy-${certificate.verificationCode}.pdf`);
    await writeFile(copyPath, await copy.save());
    const edited = await checkCertificate(copyPath, jwksUrl, online);
    expect(edited.lines).toContain('Facts: the embedded facts match the signature');
    expect(edited.lines.join('\n')).toMatch(
      new RegExp(
        `File: NOT the PDF the issuer issued for this code \\(SHA-256 [0-9a-f]{64}, the issuer's record says ${issuedHash}\\)`,
      ),
    );
    expect(edited.outcome).toBe('invalid');

    // The facts' address is not signed: pointed elsewhere, the issuer is not asked about the
    // file, and the check cannot vouch for it.
    const elsewhere = await certificatePdf(
      `online-elsewhere-${certificate.verificationCode}.pdf`,
      await signCredential(signed, key),
      signed,
      [],
      `https://elsewhere.example/verify/${certificate.verificationCode}`,
    );
    const unasked = await checkCertificate(elsewhere, jwksUrl, online);
    expect(unasked.lines).toContain(
      "File: COULD NOT CHECK — the issuer's record of the PDF it issued for this code could not be read, so whether this is that file is not known",
    );
    expect(unasked.outcome).toBe('unchecked');

    // Offline there is no record to compare with: the file is not judged.
    const offline = await checkCertificate(copyPath, jwksFile, offlineIo);
    expect(offline.lines.join('\n')).not.toContain('File:');
    expect(offline.outcome).toBe('valid');
  });
});
