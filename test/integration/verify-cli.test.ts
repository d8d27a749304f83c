import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PDFDocument } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createHandler as createJwksHandler } from '../../functions/http/jwks.ts';
import { createHandler as createVerifyHandler } from '../../functions/http/verify-certificate.ts';
import type { CertificateFacts } from '../../lib/certificates/facts.ts';
import { credentialUrl, signCredential } from '../../lib/credentials/credential.ts';
import { jwksDocument } from '../../lib/credentials/jwks.ts';
import { registerSigningKey } from '../../lib/credentials/key-store.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import { type CheckIo, checkCertificate } from '../../lib/credentials/offline-check.ts';
import { applyPdfMetadata } from '../../lib/render/renderer.ts';
import { insertCertificate } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { type LambdaHttpServer, serveHandlers } from '../support/lambda-http.ts';

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

/** Network-free: a fetch here fails the test. */
const offlineIo: CheckIo = { readFile: async (path) => new Uint8Array(await readFile(path)) };

async function certificatePdf(name: string, jws: string, attachedFacts = facts): Promise<string> {
  const blank = await PDFDocument.create();
  blank.addPage([842, 595]);
  const pdf = await applyPdfMetadata(
    await blank.save(),
    { title: 'Certificate', subject: 'Certificate', keywords: [], author: 'Northbridge Academy' },
    facts.issued,
    { jws, facts: attachedFacts, verifyUrl: VERIFY_URL },
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
  await writeFile(jwksFile, JSON.stringify(jwksDocument([{ jwk: key.publicJwk, state: 'current' }])));
});

describe('npm run verify with a PDF and a JWKS file (no network)', () => {
  it('valid: prints the full facts and says the status was not checked offline', async () => {
    const pdf = await certificatePdf('valid.pdf', await signCredential(facts, key));
    const report = await checkCertificate(pdf, jwksFile, offlineIo);
    expect(report.outcome).toBe('valid');
    expect(report.lines.join('\n')).toContain('李小龍 Bruce Lee');
    expect(report.lines.join('\n')).toContain('not checked (offline)');
  });

  it('invalid: altered facts, a tampered signature, an unknown key, a compromised key', async () => {
    const jws = await signCredential(facts, key);
    const altered = await certificatePdf('altered.pdf', jws, { ...facts, score: '100/100' });
    expect((await checkCertificate(altered, jwksFile, offlineIo)).outcome).toBe('invalid');

    const [header, payload, signature = ''] = jws.split('.');
    const flipped = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    expect(
      (await checkCertificate(await certificatePdf('sig.pdf', flipped), jwksFile, offlineIo)).outcome,
    ).toBe('invalid');

    const stranger = await certificatePdf('stranger.pdf', await signCredential(facts, other));
    const unknown = await checkCertificate(stranger, jwksFile, offlineIo);
    expect(unknown.outcome).toBe('invalid');
    expect(unknown.lines.join('\n')).toContain(`no published key has kid ${other.kid}`);

    const revokedJwks = join(dir, 'revoked-jwks.json');
    await writeFile(
      revokedJwks,
      JSON.stringify(
        jwksDocument([{ jwk: key.publicJwk, state: 'compromised', revokedAt: '2026-05-01T00:00:00Z' }]),
      ),
    );
    const compromised = await checkCertificate(await certificatePdf('c.pdf', jws), revokedJwks, offlineIo);
    expect(compromised.outcome).toBe('invalid');
    expect(compromised.lines.join('\n')).toContain('signed with a revoked key');
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
    const run = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'scripts/verify.ts', ...args],
        {
          cwd: ROOT,
          encoding: 'utf8',
        },
      );
    const valid = run(
      await certificatePdf('run-valid.pdf', await signCredential(facts, key)),
      '--jwks',
      jwksFile,
    );
    expect(valid.stdout).toContain('Verdict: VALID');
    expect(valid.status).toBe(0);
    const invalid = run(
      await certificatePdf('run-bad.pdf', await signCredential(facts, other)),
      '--jwks',
      jwksFile,
    );
    expect(invalid.status).toBe(1);
    expect(run(join(dir, 'nothing.pdf'), '--jwks', jwksFile).status).toBe(2);
    expect(run().status).toBe(2);
  });
});

describe('npm run verify with the URL of a QR code (online)', () => {
  let t: TestEnv;
  let server: LambdaHttpServer;
  beforeAll(async () => {
    t = await createTestEnv();
    server = await serveHandlers({
      'GET /api/v1/verify/{verificationCode}': createVerifyHandler({ sql: t.sql, corsOrigins: [] }),
      'GET /.well-known/jwks.json': createJwksHandler({ sql: t.sql, corsOrigins: [] }),
    });
    await registerSigningKey(t.sql, key);
  });
  afterAll(async () => {
    await server.close();
    await t.cleanup();
  });

  const online: CheckIo = { ...offlineIo, fetch: (url, init) => fetch(url, init) };

  it('valid with the live status; revoked is invalid', async () => {
    for (const status of ['issued', 'revoked'] as const) {
      const certificate = await insertCertificate(t.sql, {
        studentId: '00000000-0000-4000-8000-00000000b0b0',
        status,
      });
      const jws = await signCredential({ ...facts, code: certificate.verificationCode }, key);
      const url = credentialUrl(`${server.baseUrl}/api/v1/verify/${certificate.verificationCode}`, jws);
      const report = await checkCertificate(url, undefined, online);
      expect(report.lines.join('\n')).toContain(`Keys: ${server.baseUrl}/.well-known/jwks.json`);
      expect(report.outcome).toBe(status === 'issued' ? 'valid' : 'invalid');
      expect(report.lines.join('\n')).toContain(`Status: ${status === 'issued' ? 'valid' : 'revoked'}`);
    }
  });
});
