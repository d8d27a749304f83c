import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import chromium from '@sparticuz/chromium';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createHandler as createJwksHandler } from '../../functions/http/jwks.ts';
import { createHandler as createVerifyHandler } from '../../functions/http/verify-certificate.ts';
import type { CertificateFacts } from '../../lib/certificates/facts.ts';
import { signCredential } from '../../lib/credentials/credential.ts';
import { registerSigningKey } from '../../lib/credentials/key-store.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import type { DbDeps } from '../../lib/http/deps.ts';
import { insertCertificate } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { type LambdaHttpServer, serveHandlers } from '../support/lambda-http.ts';

// A test a mutation sweep (2026-12-05) found missing: the verification
// page's script ends anything it did not foresee in "could not be checked" (templates/verify/
// verify.js, the .catch at the end), never in "checking" for ever under "Valid certificate".

let t: TestEnv;
let server: LambdaHttpServer;
let browser: Browser;
let profile: string;
let key: SigningKey;

beforeAll(async () => {
  t = await createTestEnv();
  const deps: DbDeps = { sql: t.sql, corsOrigins: [] };
  server = await serveHandlers({
    'GET /api/v1/verify/{verificationCode}': createVerifyHandler(deps),
    'GET /.well-known/jwks.json': createJwksHandler(deps),
  });
  key = await signingKeyFromJwk(await generateSigningJwk());
  await registerSigningKey(t.sql, key);
  profile = await mkdtemp(join(inject('stack').root, 'verify-page-script-profile-'));
  browser = await puppeteer.launch({
    executablePath: inject('stack').env.CHROMIUM_EXECUTABLE_PATH,
    headless: 'shell',
    userDataDir: profile,
    args: chromium.args.filter((arg) => arg !== '--single-process' && !arg.startsWith('--headless')),
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await rm(profile, { recursive: true, force: true });
  await t.cleanup();
});

describe('the verification page script', () => {
  it('a key set that is JSON but not a key set (a proxy answering null) ends in "could not be checked"', async () => {
    const certificate = await insertCertificate(t.sql, {
      studentId: '00000000-0000-4000-8000-00000000a11d',
      courseTitle: 'Analytical Engines 101',
      status: 'issued',
      studentName: 'Ada Lovelace',
    });
    const facts: CertificateFacts = {
      code: certificate.verificationCode,
      name: 'Ada Lovelace',
      course: 'Analytical Engines 101',
      score: '87/100',
      issued: '2026-11-20',
      expires: null,
      issuer: 'Northbridge Academy',
    };
    const jws = await signCredential(facts, key);
    const context = await browser.createBrowserContext();
    try {
      const tab = await context.newPage();
      await tab.setRequestInterception(true);
      tab.on('request', (request) => {
        if (request.url().endsWith('/.well-known/jwks.json'))
          void request.respond({ status: 200, contentType: 'application/json', body: 'null' });
        else void request.continue();
      });
      await tab.goto(`${server.baseUrl}/api/v1/verify/${certificate.verificationCode}#${jws}`, {
        waitUntil: 'load',
      });
      const settled = await tab
        .waitForFunction(
          () => {
            const result = document.getElementById('signature-result');
            return result?.dataset.result !== undefined && result.dataset.result !== 'checking';
          },
          { timeout: 10_000 },
        )
        .then(() => true)
        .catch(() => false);
      expect(settled).toBe(true);
      expect(await tab.$eval('#signature-result', (element) => element.getAttribute('data-result'))).toBe(
        'unknown',
      );
    } finally {
      await context.close();
    }
  });
});
