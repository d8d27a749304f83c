import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import chromium from '@sparticuz/chromium';
import { importJWK, jwtVerify } from 'jose';
import { PDFDocument } from 'pdf-lib';
import postgres from 'postgres';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createHandler as createPublicCredentialHandler } from '../../functions/http/get-public-credential.ts';
import { createHandler as createJwksHandler } from '../../functions/http/jwks.ts';
import { createHandler as createVerifyHandler } from '../../functions/http/verify-certificate.ts';
import { eraseStudent } from '../../lib/certificates/erasure.ts';
import type { CertificateFacts } from '../../lib/certificates/facts.ts';
import { signCredential } from '../../lib/credentials/credential.ts';
import { markKeyCompromised, registerSigningKey } from '../../lib/credentials/key-store.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import { createIssuerKey, createJwtSigner } from '../../lib/credentials/signer.ts';
import type { DbDeps } from '../../lib/http/deps.ts';
import { logger } from '../../lib/observability/logger.ts';
import { insertCertificate } from '../e2e/http-fixtures.ts';
import { signWithCriticalExtension } from '../support/critical-jws.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { type LambdaHttpServer, serveHandlers } from '../support/lambda-http.ts';

/** The verification page in the project's Chromium, served by the real handlers over HTTP. */

const STUDENT = '00000000-0000-4000-8000-00000000a11c';
let t: TestEnv;
let server: LambdaHttpServer;
// A database nothing listens for (the discard port): every query is refused, as in an outage.
const deadSql = postgres('postgres://nobody:nothing@127.0.0.1:9/none', {
  max: 1,
  connect_timeout: 5,
  onnotice: () => undefined,
});
let browser: Browser;
let profile: string;
let key: SigningKey;

const LINKS = {
  verifyBaseUrl: 'https://certs.example.org/verify',
  issuer: { organizationName: 'Northbridge Academy' },
};

beforeAll(async () => {
  // The outage tests' refused queries are logged as server faults: not this suite's output.
  logger.setLogLevel('SILENT');
  t = await createTestEnv();
  const deps: DbDeps = { sql: t.sql, corsOrigins: [] };
  server = await serveHandlers({
    'GET /api/v1/verify/{verificationCode}': createVerifyHandler({ ...deps, links: LINKS }),
    'GET /outage/verify/{verificationCode}': createVerifyHandler({
      sql: deadSql,
      corsOrigins: [],
      links: LINKS,
    }),
    'GET /api/v1/verify/{verificationCode}/credential': createPublicCredentialHandler({
      ...deps,
      sign: createJwtSigner(createIssuerKey(t.sql, async () => key, { reloadAfterMs: 3_600_000 })),
      credentials: {
        apiBaseUrl: 'https://certs.example.org/api/v1',
        verifyBaseUrl: LINKS.verifyBaseUrl,
        issuer: { id: 'https://certs.example.org', name: 'Northbridge Academy' },
        statusListTtlSeconds: 300,
      },
    }),
    'GET /.well-known/jwks.json': createJwksHandler({
      ...deps,
      apiBaseUrl: 'https://certs.example.org/api/v1',
    }),
  });
  key = await signingKeyFromJwk(await generateSigningJwk());
  await registerSigningKey(t.sql, key);
  profile = await mkdtemp(join(inject('stack').root, 'verify-page-profile-'));
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
  await deadSql.end({ timeout: 1 });
  await rm(profile, { recursive: true, force: true });
  await t.cleanup();
});

interface Issued {
  code: string;
  jws: string;
  facts: CertificateFacts;
}

/** An issued certificate whose record holds the same facts its JWS signs. */
async function issued(
  options: {
    status?: 'issued' | 'revoked' | 'superseded';
    expiresAt?: string;
    locale?: string;
    signer?: SigningKey;
  } = {},
): Promise<Issued> {
  const certificate = await insertCertificate(t.sql, {
    studentId: STUDENT,
    courseTitle: 'Analytical Engines 101',
    status: options.status ?? 'issued',
    studentName: 'Ada Lovelace',
    ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}),
  });
  const facts: CertificateFacts = {
    code: certificate.verificationCode,
    name: 'Ada Lovelace',
    course: 'Analytical Engines 101',
    score: '87/100',
    issued: '2026-11-20',
    expires: options.expiresAt?.slice(0, 10) ?? null,
    issuer: 'Northbridge Academy',
  };
  const signer = options.signer ?? key;
  const jws = await signCredential(facts, signer);
  await t.sql`
    UPDATE certificates SET issuer_name = ${facts.issuer}, locale = ${options.locale ?? 'en'},
      credential_jws = ${jws}, credential_kid = ${signer.kid}
    WHERE verification_code = ${certificate.verificationCode}`;
  return { code: certificate.verificationCode, jws, facts };
}

interface Opened {
  page: Page;
  close(): Promise<void>;
  status: string | null;
  heading: string;
  text: string;
  requests: string[];
  httpStatus: number | undefined;
  cacheControl: string | undefined;
  cspViolations: string[];
}

/** Opens the page and waits until the script has settled (or, without JS, until load). */
async function open(
  path: string,
  options: {
    javascript?: boolean;
    context?: BrowserContext;
    viewport?: { width: number; height: number };
    headers?: Record<string, string>;
  } = {},
): Promise<Opened> {
  // A fresh context per page unless one is given: no JWKS cached from an earlier test.
  const context = options.context ?? (await browser.createBrowserContext());
  const page = await context.newPage();
  const requests: string[] = [];
  const cspViolations: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => {
    // The CSP's refusals, and any header the browser could not take (a Permissions-Policy
    // feature it does not know is an error on every load).
    if (/Content Security Policy|Permissions-Policy/i.test(message.text()))
      cspViolations.push(message.text());
  });
  await page.setJavaScriptEnabled(options.javascript ?? true);
  if (options.viewport) await page.setViewport(options.viewport);
  if (options.headers) await page.setExtraHTTPHeaders(options.headers);
  const response = await page.goto(`${server.baseUrl}${path}`, { waitUntil: 'load' });
  if (options.javascript ?? true)
    await page.waitForFunction(() => {
      const result = document.getElementById('signature-result');
      return !result || (result.dataset.result !== undefined && result.dataset.result !== 'checking');
    });
  const status = await page.$eval('main', (main) => main.getAttribute('data-status'));
  const heading = await page.$eval('h1', (element) => element.textContent ?? '');
  // biome-ignore lint/performance/useDomNodeTextContent: the visible text is asserted (<noscript> counts only with JS off)
  const text = await page.$eval('body', (body) => body.innerText);
  return {
    page,
    close: () => (options.context ? page.close() : context.close()),
    status,
    heading,
    text,
    requests,
    httpStatus: response?.status(),
    cacheControl: response?.headers()['cache-control'],
    cspViolations,
  };
}

/** Opens the certificate's QR link in `page` and returns the signature verdict the script settles on. */
async function settledSignature(page: Page, certificate: Issued): Promise<string | null> {
  await page.goto(`${server.baseUrl}/api/v1/verify/${certificate.code}#${certificate.jws}`, {
    waitUntil: 'load',
  });
  await page.waitForFunction(() => {
    const result = document.getElementById('signature-result');
    return result?.dataset.result !== undefined && result.dataset.result !== 'checking';
  });
  return await page.$eval('#signature-result', (element) => element.getAttribute('data-result'));
}

function changeOneCharacter(jws: string): string {
  const [header = '', payload = '', signature = ''] = jws.split('.');
  const at = Math.floor(payload.length / 2);
  const swapped = payload[at] === 'A' ? 'B' : 'A';
  return `${header}.${payload.slice(0, at)}${swapped}${payload.slice(at + 1)}.${signature}`;
}

describe('public verification page', () => {
  it('a valid certificate from its QR link: valid, with name, course, issuer and a matching signature', async () => {
    const certificate = await issued();
    const opened = await open(`/api/v1/verify/${certificate.code}#${certificate.jws}`);
    expect(opened.httpStatus).toBe(200);
    // A revocation reaches a cached page within a minute (README: shared caches 60 s).
    expect(opened.cacheControl).toBe('public, max-age=60');
    expect(opened.status).toBe('valid');
    expect(opened.heading).toBe('Valid certificate');
    expect(opened.text).toContain('Ada Lovelace');
    expect(opened.text).toContain('Analytical Engines 101');
    expect(opened.text).toContain('Northbridge Academy');
    expect(opened.text).toContain('the signed facts in the QR code match this record');
    // Only the page and the issuer's own JWKS: nothing third-party, nothing blocked by the CSP.
    expect(opened.requests.map((url) => new URL(url).origin)).toEqual([server.baseUrl, server.baseUrl]);
    expect(opened.requests[1]).toBe(`${server.baseUrl}/.well-known/jwks.json`);
    expect(opened.cspViolations).toEqual([]);
    await opened.close();
  });

  it('one changed character in the fragment: the same page says the signed facts do not match', async () => {
    const certificate = await issued();
    const opened = await open(`/api/v1/verify/${certificate.code}#${changeOneCharacter(certificate.jws)}`);
    expect(opened.status).toBe('tampered');
    expect(opened.heading).toBe('The signed facts do not match');
    expect(opened.text).toContain('do not match this record');
    // The title says it too: a screen reader announces it first, the tab and history keep it.
    expect(await opened.page.title()).toBe('Certificate verification – The signed facts do not match');
    expect(await opened.page.$$('#add-to-wallet, #add-to-linkedin, .actions')).toHaveLength(0);
    await opened.close();
  });

  it('a fragment with broken %-encoding (a damaged link) says tampered, not nothing', async () => {
    const certificate = await issued();
    const opened = await open(`/api/v1/verify/${certificate.code}#${certificate.jws}%E0%A4%A`);
    expect(opened.status).toBe('tampered');
    expect(opened.heading).toBe('The signed facts do not match');
    await opened.close();
  });

  it('a genuine JWS of another certificate does not match this record', async () => {
    const mine = await issued();
    const other = await issued();
    const opened = await open(`/api/v1/verify/${mine.code}#${other.jws}`);
    expect(opened.status).toBe('tampered');
    await opened.close();
  });

  it('an unknown code: 404, not-found', async () => {
    const opened = await open('/api/v1/verify/ZZZZZZZZZZZZZZZZ');
    expect(opened.httpStatus).toBe(404);
    expect(opened.status).toBe('not-found');
    expect(opened.heading).toBe('Unknown verification code');
    // It may be a certificate being issued this minute: no cache may keep saying "unknown".
    expect(opened.cacheControl).toBe('no-store');
    await opened.close();
  });

  it('with JavaScript disabled: facts and verdict rendered by the server, and it says the signature was not checked', async () => {
    const certificate = await issued();
    const opened = await open(`/api/v1/verify/${certificate.code}#${changeOneCharacter(certificate.jws)}`, {
      javascript: false,
    });
    expect(opened.status).toBe('valid');
    expect(opened.heading).toBe('Valid certificate');
    expect(opened.text).toContain('Ada Lovelace');
    expect(opened.text).toContain('JavaScript is off, so the signature in the QR code was not checked');
    await opened.close();
  });

  it('a valid certificate that expires within the minute is cached only until it expires, page and JSON alike', async () => {
    const expiresAt = new Date(Date.now() + 30_000);
    const soon = await issued({ expiresAt: expiresAt.toISOString() });
    const maxAge = (cacheControl: string | null | undefined): number =>
      Number(/^public, max-age=(\d+)$/.exec(cacheControl ?? '')?.[1] ?? Number.NaN);
    // Valid: at most what was left of the 30 s when it was answered (time only moves on), never
    // 60. On a machine slow enough for the 30 s to have passed, it is expired, an answer that keeps.
    const judged = (status: string | null, cacheControl: string | null | undefined, before: boolean) => {
      if (before) expect(status).toBe('valid');
      if (status === 'valid') expect(maxAge(cacheControl)).toBeLessThanOrEqual(30);
      else expect([status, maxAge(cacheControl)]).toEqual(['expired', 60]);
      expect(maxAge(cacheControl)).toBeGreaterThanOrEqual(0);
    };
    const opened = await open(`/api/v1/verify/${soon.code}#${soon.jws}`);
    // Answered before its expiry (it was, if the expiry has not come yet now), it was valid.
    judged(opened.status, opened.cacheControl, Date.now() < expiresAt.getTime());
    await opened.close();
    const json = await fetch(`${server.baseUrl}/api/v1/verify/${soon.code}`, {
      headers: { Accept: 'application/json' },
    });
    const { status } = (await json.json()) as { status: string };
    judged(status, json.headers.get('cache-control'), Date.now() < expiresAt.getTime());
  });

  it('revoked, expired and superseded certificates say so', async () => {
    const revoked = await issued({ status: 'revoked' });
    const page1 = await open(`/api/v1/verify/${revoked.code}#${revoked.jws}`);
    expect(page1.status).toBe('revoked');
    expect(page1.heading).toBe('Revoked certificate');
    expect(page1.text).toMatch(/Revoked on\s+\w+ \d+, \d{4}/);
    // The reason as told publicly ('other' is "withdrawn by the issuer"): staff's own words
    // ('internal note') are not public.
    expect(page1.text).toMatch(/Reason\s+Withdrawn by the issuer/);
    expect(page1.text).not.toContain('internal note');
    await page1.close();

    const expired = await issued({ expiresAt: '2026-01-31T00:00:00Z' });
    const page2 = await open(`/api/v1/verify/${expired.code}#${expired.jws}`);
    expect(page2.status).toBe('expired');
    expect(page2.heading).toBe('Expired certificate');
    expect(page2.text).toContain('January 31, 2026');
    await page2.close();

    const newer = await issued();
    const old = await issued({ status: 'superseded' });
    await t.sql`
      UPDATE certificates SET superseded_by = (SELECT id FROM certificates WHERE verification_code = ${newer.code})
      WHERE verification_code = ${old.code}`;
    const page3 = await open(`/api/v1/verify/${old.code}#${old.jws}`);
    expect(page3.status).toBe('superseded');
    const link = await page3.page.$eval('main a', (anchor) => (anchor as HTMLAnchorElement).href);
    expect(link).toBe(`${server.baseUrl}/api/v1/verify/${newer.code}`);
    await page3.close();
  });

  it('a valid certificate offers "add to wallet" (its Open Badges credential) and Add to LinkedIn; a revoked one neither', async () => {
    const certificate = await issued();
    const opened = await open(`/api/v1/verify/${certificate.code}`);
    expect(opened.text).toContain('Download the Open Badge');
    const wallet = await opened.page.$eval('#add-to-wallet', (anchor) => (anchor as HTMLAnchorElement).href);
    expect(wallet).toBe(`${server.baseUrl}/api/v1/verify/${certificate.code}/credential`);
    // Fetched the way the link downloads it, from the page itself (its CSP allows only 'self').
    const download = await opened.page.evaluate(async (href) => {
      const response = await fetch(href);
      return {
        status: response.status,
        type: response.headers.get('content-type'),
        body: await response.text(),
      };
    }, wallet);
    expect(download).toMatchObject({ status: 200, type: 'text/plain; charset=utf-8' });
    const { payload } = await jwtVerify(download.body, await importJWK(key.publicJwk, 'ES256'));
    expect(payload).toMatchObject({
      jti: `${LINKS.verifyBaseUrl}/${certificate.code}`,
      name: 'Analytical Engines 101',
    });

    const linkedIn = new URL(
      await opened.page.$eval('#add-to-linkedin', (anchor) => (anchor as HTMLAnchorElement).href),
    );
    expect(linkedIn.origin + linkedIn.pathname).toBe('https://www.linkedin.com/profile/add');
    expect(Object.fromEntries(linkedIn.searchParams)).toMatchObject({
      startTask: 'CERTIFICATION_NAME',
      name: 'Analytical Engines 101',
      certId: certificate.code,
      certUrl: `${LINKS.verifyBaseUrl}/${certificate.code}`,
    });
    expect(opened.cspViolations).toEqual([]);
    await opened.close();

    const revoked = await issued({ status: 'revoked' });
    const page = await open(`/api/v1/verify/${revoked.code}`);
    expect(await page.page.$$('#add-to-wallet, #add-to-linkedin')).toHaveLength(0);
    await page.close();
  });

  it("in the certificate's language: Arabic, right to left", async () => {
    const certificate = await issued({ locale: 'ar' });
    const opened = await open(`/api/v1/verify/${certificate.code}#${certificate.jws}`);
    expect(await opened.page.$eval('html', (html) => [html.lang, html.dir])).toEqual(['ar', 'rtl']);
    expect(opened.heading).toBe('شهادة صالحة');
    expect(opened.status).toBe('valid');
    // Latin values (name, course, issuer) and the score stand next to their labels, as Arabic
    // ones do: isolated in <bdi>, not pushed to the far edge of their cell.
    const gaps = await opened.page.$$eval('dl[aria-labelledby] dt', (terms) =>
      terms.map((term) => {
        const value = term.nextElementSibling;
        const range = document.createRange();
        if (value) range.selectNodeContents(value);
        return Math.round(term.getBoundingClientRect().left - range.getBoundingClientRect().right);
      }),
    );
    expect(gaps.length).toBeGreaterThan(4);
    for (const gap of gaps) expect(gap).toBeLessThan(60);
    await opened.close();
  });

  it("the database down: the page in the visitor's language says it could not check, with the 503 and Retry-After, and nothing about the certificate", async () => {
    const certificate = await issued();
    const opened = await open(`/outage/verify/${certificate.code}#${certificate.jws}`, {
      headers: { 'Accept-Language': 'de-DE,de;q=0.9,en;q=0.5' },
    });
    expect(opened.httpStatus).toBe(503);
    expect(opened.status).toBe('unavailable');
    expect(opened.heading).toBe('Prüfung derzeit nicht möglich');
    expect(opened.text).toContain('Bitte versuchen Sie es in einigen Minuten erneut.');
    expect(opened.text).not.toContain('Ada Lovelace');
    expect(opened.text).not.toContain('internal_error');
    expect(opened.cspViolations).toEqual([]);
    expect(opened.cacheControl).toBe('no-store');
    await opened.close();
    // A client asking for JSON keeps the JSON error; the status and Retry-After are the same.
    const json = await fetch(`${server.baseUrl}/outage/verify/${certificate.code}`, {
      headers: { accept: 'application/json' },
    });
    expect(json.status).toBe(503);
    expect(json.headers.get('retry-after')).toBe('5');
    expect(await json.json()).toMatchObject({ error: { code: 'service_unavailable' } });
    const page = await fetch(`${server.baseUrl}/outage/verify/${certificate.code}`);
    expect(page.headers.get('retry-after')).toBe('5');
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  });

  it('a path too long to be a code (a link whose # a rewriter encoded): the unknown-code page for a browser, still a 400', async () => {
    const certificate = await issued();
    const mangled = `${certificate.code}%23${certificate.jws}`;
    const opened = await open(`/api/v1/verify/${mangled}`, { headers: { 'Accept-Language': 'fr' } });
    expect(opened.httpStatus).toBe(400);
    expect(opened.status).toBe('not-found');
    expect(opened.heading).toBe('Code de vérification inconnu');
    await opened.close();
  });

  it('on a phone (320 and 375 px wide), in the language with the longest labels, each value keeps most of the width', async () => {
    // What a scanned QR code opens: a label column as wide as "Срок действия истекает" left the
    // values a few pixels, one or two characters a line (WCAG 2.1 1.4.10 Reflow's 320 px).
    const certificate = await issued({
      locale: 'ru',
      expiresAt: new Date(Date.now() - 86_400_000).toISOString(),
    });
    for (const width of [320, 375]) {
      const opened = await open(`/api/v1/verify/${certificate.code}#${certificate.jws}`, {
        viewport: { width, height: 800 },
      });
      expect(opened.status).toBe('expired');
      const widths = await opened.page.$$eval('dl[aria-labelledby] dd', (values) =>
        values.map((value) => value.getBoundingClientRect().width),
      );
      const list = await opened.page.$eval('dl[aria-labelledby]', (dl) => dl.getBoundingClientRect().width);
      expect(widths.length).toBeGreaterThan(4);
      for (const valueWidth of widths) expect(valueWidth, `${width} px`).toBeGreaterThan(list * 0.55);
      // Nothing wider than the screen: no sideways scrolling.
      expect(await opened.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
        width,
      );
      await opened.close();
    }
  });

  it('without WebCrypto (http:// to another host than this one) the link is "could not check", not checking for ever', async () => {
    const certificate = await issued();
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    // An insecure context has no crypto.subtle; removed before the page's script runs.
    await page.evaluateOnNewDocument(() => {
      Object.defineProperty(globalThis.crypto, 'subtle', { value: undefined });
    });
    expect(await settledSignature(page, certificate)).toBe('unknown');
    await context.close();
  });

  it('a key set that is JSON but not a key set (a proxy answering null): "could not check", not checking for ever', async () => {
    // The script's catch-all (templates/verify/verify.js): anything it did not foresee ends there.
    const certificate = await issued();
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setRequestInterception(true);
    page.on('request', (request) => {
      if (request.url().endsWith('/.well-known/jwks.json'))
        void request.respond({ status: 200, contentType: 'application/json', body: 'null' });
      else void request.continue();
    });
    expect(await settledSignature(page, certificate)).toBe('unknown');
    await context.close();
  });

  it('a JWS signed with a key the issuer never published: does not match', async () => {
    const stranger = await signingKeyFromJwk(await generateSigningJwk());
    const certificate = await issued();
    const forged = await signCredential(certificate.facts, stranger);
    const opened = await open(`/api/v1/verify/${certificate.code}#${forged}`);
    expect(opened.status).toBe('tampered');
    expect(opened.heading).toBe('The signed facts do not match');
    // Its own words: not "could not be checked", which is for keys that did not load.
    expect(opened.text).toContain(
      'The link is signed with a key this issuer has never published: it was not issued by them.',
    );
    expect(opened.text).not.toContain('could not be checked');
    await opened.close();
  });

  it('a link whose JWS header or payload is JSON but not an object (null, a number): does not match, not "checking" for ever', async () => {
    const certificate = await issued();
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    for (const [header, payload] of [
      ['null', '{}'],
      [JSON.stringify({ alg: 'ES256', kid: key.kid }), 'null'],
      ['7', '[]'],
    ] as const) {
      const opened = await open(`/api/v1/verify/${certificate.code}#${b64(header)}.${b64(payload)}.AA`);
      expect(opened.status, header).toBe('tampered');
      expect(
        await opened.page.$eval('#signature-result', (element) => element.getAttribute('data-result')),
      ).toBe('mismatch');
      await opened.close();
    }
  });

  it('a genuine signature whose header lists critical extensions: does not match (RFC 7515 §4.1.11)', async () => {
    const certificate = await issued();
    const opened = await open(
      `/api/v1/verify/${certificate.code}#${await signWithCriticalExtension(certificate.facts, key)}`,
    );
    expect(opened.status).toBe('tampered');
    await opened.close();
  });

  it('a certificate signed with a key marked compromised: signed with a revoked key', async () => {
    const leaked = await signingKeyFromJwk(await generateSigningJwk());
    await registerSigningKey(t.sql, leaked);
    const certificate = await issued({ signer: leaked });
    await markKeyCompromised(t.sql, leaked.kid);
    await registerSigningKey(t.sql, key);
    const opened = await open(`/api/v1/verify/${certificate.code}#${certificate.jws}`);
    expect(opened.status).toBe('tampered');
    expect(opened.heading).toBe('Signed with a revoked key');
    expect(await opened.page.title()).toBe('Certificate verification – Signed with a revoked key');
    // The record is valid, but nothing on this page may hand out a credential that verifies.
    expect(await opened.page.$$('#add-to-wallet, #add-to-linkedin, .actions')).toHaveLength(0);
    await opened.close();
    // The server says so too, before any script: without JavaScript, and to a JSON client.
    const plain = await open(`/api/v1/verify/${certificate.code}`, { javascript: false });
    expect(plain.status).toBe('tampered');
    expect(plain.heading).toBe('Signed with a revoked key');
    expect(plain.text).toContain('A replacement is being issued.');
    expect(await plain.page.$$('#add-to-wallet, #add-to-linkedin, .actions')).toHaveLength(0);
    await plain.close();
    const json = await fetch(`${server.baseUrl}/api/v1/verify/${certificate.code}`, {
      headers: { accept: 'application/json' },
    });
    expect(await json.json()).toMatchObject({ status: 'valid', signedWithRevokedKey: true });
  });

  it("only the credentials key compromised (the Open Badge in its PDF): the page says the copy cannot be trusted, though the QR code's signature is genuine", async () => {
    const certificate = await issued();
    const leakedCredentialsKey = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    await registerSigningKey(t.sql, leakedCredentialsKey);
    await t.sql`
      UPDATE certificates SET open_badge_kid = ${leakedCredentialsKey.kid}
      WHERE verification_code = ${certificate.code}`;
    const before = await open(`/api/v1/verify/${certificate.code}#${certificate.jws}`);
    expect(before.status).toBe('valid');
    await before.close();
    await markKeyCompromised(t.sql, leakedCredentialsKey.kid);
    const opened = await open(`/api/v1/verify/${certificate.code}#${certificate.jws}`);
    expect(opened.status).toBe('tampered');
    expect(opened.heading).toBe('Signed with a revoked key');
    expect(await opened.page.$$('#add-to-wallet, #add-to-linkedin, .actions')).toHaveLength(0);
    // Nor does the line under the heading call this copy genuine.
    expect(
      await opened.page.$eval('#signature-result', (element) => element.getAttribute('data-result')),
    ).toBe('revoked_key');
    await opened.close();
  });

  it('a superseded certificate signed with a key marked compromised (what compromise-key leaves): superseded, with its link, and the signature line says the key is revoked', async () => {
    const leaked = await signingKeyFromJwk(await generateSigningJwk());
    await registerSigningKey(t.sql, leaked);
    const old = await issued({ signer: leaked, status: 'superseded' });
    await markKeyCompromised(t.sql, leaked.kid);
    await registerSigningKey(t.sql, key);
    const newer = await issued();
    await t.sql`
      UPDATE certificates SET superseded_by = (SELECT id FROM certificates WHERE verification_code = ${newer.code})
      WHERE verification_code = ${old.code}`;
    const opened = await open(`/api/v1/verify/${old.code}#${old.jws}`);
    expect(opened.status).toBe('superseded');
    expect(opened.heading).toBe('Superseded certificate');
    expect(
      await opened.page.$eval('#signature-result', (element) => element.getAttribute('data-result')),
    ).toBe('revoked_key');
    expect(await opened.page.$eval('main a', (anchor) => (anchor as HTMLAnchorElement).href)).toBe(
      `${server.baseUrl}/api/v1/verify/${newer.code}`,
    );
    await opened.close();
  });

  it('"Check a PDF file": the file a verifier picks is hashed in the browser and compared with the PDF as issued', async () => {
    const certificate = await issued();
    const pdf = await PDFDocument.create();
    pdf.setTitle('Certificate Ada Lovelace');
    pdf.addPage([842, 595]);
    const genuine = await pdf.save();
    const altered = Uint8Array.from(genuine);
    const middle = Math.floor(altered.length / 2);
    altered[middle] = (genuine[middle] ?? 0) ^ 0x01;
    const genuinePath = join(profile, `genuine-${certificate.code}.pdf`);
    const alteredPath = join(profile, `altered-${certificate.code}.pdf`);
    await writeFile(genuinePath, genuine);
    await writeFile(alteredPath, altered);
    const sha256 = createHash('sha256').update(genuine).digest('hex');
    await t.sql`UPDATE certificates SET pdf_sha256 = ${sha256} WHERE verification_code = ${certificate.code}`;

    // The JSON answer carries the same hash, for `npm run verify` and other clients.
    const json = await fetch(`${server.baseUrl}/api/v1/verify/${certificate.code}`, {
      headers: { accept: 'application/json' },
    });
    expect(((await json.json()) as { pdfSha256: string }).pdfSha256).toBe(sha256);

    const opened = await open(`/api/v1/verify/${certificate.code}#${certificate.jws}`);
    expect(opened.text).toContain('Check a PDF file');
    const input = await opened.page.$('#file-input');
    if (!input) throw new Error('no file input');
    // Screen readers announce it by the section's heading, in the page's language (not the
    // browser's own "Choose File").
    expect(await opened.page.accessibility.snapshot({ root: input })).toMatchObject({
      name: 'Check a PDF file',
    });
    const requestsBefore = opened.requests.length;
    const choose = async (path: string) => {
      await (input as import('puppeteer-core').ElementHandle<HTMLInputElement>).uploadFile(path);
      await opened.page.waitForFunction(() => {
        const result = document.getElementById('file-result')?.dataset.result;
        return result !== undefined && result !== 'reading';
      });
      return opened.page.$eval('#file-result', (element) => ({
        result: element.getAttribute('data-result'),
        text: element.textContent,
      }));
    };
    expect(await choose(genuinePath)).toEqual({
      result: 'match',
      text: 'Identical: this file is exactly the PDF the issuer issued for this certificate.',
    });
    expect(await choose(alteredPath)).toMatchObject({
      result: 'differs',
      text: expect.stringMatching(/^Different: /),
    });
    expect(await choose(genuinePath)).toMatchObject({ result: 'match' });
    // The file went nowhere: no request after the page's own, and no CSP violation.
    expect(opened.requests.slice(requestsBefore)).toEqual([]);
    expect(opened.cspViolations).toEqual([]);
    // The signature verdict is untouched by it.
    expect(opened.status).toBe('valid');
    await opened.close();

    // Without JavaScript there is nothing to hash with, so the section stays hidden.
    const noScript = await open(`/api/v1/verify/${certificate.code}`, { javascript: false });
    expect(noScript.text).not.toContain('Check a PDF file');
    await noScript.close();
  });

  it('keyboard: the superseded link is reachable with Tab and shows a focus ring', async () => {
    const newer = await issued();
    const old = await issued({ status: 'superseded' });
    await t.sql`
      UPDATE certificates SET superseded_by = (SELECT id FROM certificates WHERE verification_code = ${newer.code})
      WHERE verification_code = ${old.code}`;
    const opened = await open(`/api/v1/verify/${old.code}`);
    await opened.page.keyboard.press('Tab');
    const focused = await opened.page.evaluate(() => ({
      tag: document.activeElement?.tagName,
      outline: document.activeElement ? getComputedStyle(document.activeElement).outlineStyle : '',
    }));
    expect(focused).toEqual({ tag: 'A', outline: 'solid' });
    expect(opened.text).toContain('The link carries no signature');
    await opened.close();
  });
});

describe('the verification page of an erased certificate', () => {
  /** An issued certificate of a student of its own, then that student erased. */
  async function erased(): Promise<Issued & { other: Issued }> {
    const certificate = await issued();
    const other = await issued();
    const student = randomUUID();
    await t.sql`
      WITH moved AS (
        UPDATE certificates SET student_id = ${student} WHERE verification_code = ${certificate.code}
        RETURNING test_attempt_id)
      UPDATE test_attempts SET student_id = ${student} WHERE id IN (SELECT test_attempt_id FROM moved)`;
    await eraseStudent(
      { sql: t.sql, log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } },
      { studentId: student, actor: 'erasure-test' },
    );
    return { ...certificate, other };
  }

  it("its genuine QR link shows revoked at the holder's request and the details withdrawn, not tampered", async () => {
    const certificate = await erased();
    const opened = await open(`/api/v1/verify/${certificate.code}#${certificate.jws}`);
    expect(opened.status).toBe('revoked');
    expect(opened.heading).toBe('Revoked certificate');
    expect(await opened.page.title()).toBe('Certificate verification – Revoked certificate');
    expect(opened.text).toMatch(/Reason\s+Withdrawn at the holder's request/);
    expect(opened.text).toContain("The holder's personal details have been withdrawn from this record.");
    expect(
      await opened.page.$eval('#signature-result', (element) => element.getAttribute('data-result')),
    ).toBe('withdrawn');
    expect(opened.text).toContain('Genuine signature for this certificate.');
    expect(opened.text).not.toContain('do not match');
    // No Name and no Score row: neither an empty name nor "0 / 0".
    expect(opened.text).not.toContain('Ada Lovelace');
    expect(opened.text).not.toMatch(/\bName\b|\bScore\b/);
    expect(opened.text).toContain('Analytical Engines 101');
    expect(opened.cspViolations).toEqual([]);
    await opened.close();

    // The JSON answer: no name, no score, no file hash.
    const json = await fetch(`${server.baseUrl}/api/v1/verify/${certificate.code}`, {
      headers: { accept: 'application/json' },
    });
    const body = (await json.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      studentName: null,
      status: 'revoked',
      revocationReason: 'requested-by-holder',
      pdfSha256: null,
    });
    expect(body).not.toHaveProperty('score');
  });

  it("another certificate's genuine JWS, or a changed one, still does not match it", async () => {
    const certificate = await erased();
    const foreign = await open(`/api/v1/verify/${certificate.code}#${certificate.other.jws}`);
    expect(foreign.status).toBe('tampered');
    await foreign.close();
    const changed = await open(`/api/v1/verify/${certificate.code}#${changeOneCharacter(certificate.jws)}`);
    expect(changed.status).toBe('tampered');
    await changed.close();
  });

  it('without JavaScript: revoked, the details withdrawn, no Name or Score row', async () => {
    const certificate = await erased();
    const opened = await open(`/api/v1/verify/${certificate.code}#${certificate.jws}`, { javascript: false });
    expect(opened.status).toBe('revoked');
    expect(opened.text).toContain("The holder's personal details have been withdrawn from this record.");
    expect(opened.text).not.toMatch(/\bName\b|\bScore\b|0 \/ 0/);
    await opened.close();
  });
});

describe('the verification page after a key rotation', () => {
  it('a key published after this browser cached the key set: the issuer is asked again, and the certificate is genuine', async () => {
    const context = await browser.createBrowserContext();
    try {
      const before = await issued();
      const first = await open(`/api/v1/verify/${before.code}#${before.jws}`, { context });
      expect(first.status).toBe('valid');
      await first.close();
      // Rotated: the new key is published, then a certificate is signed with it.
      const rotated = await signingKeyFromJwk(await generateSigningJwk());
      await registerSigningKey(t.sql, rotated);
      const after = await issued({ signer: rotated });
      const second = await open(`/api/v1/verify/${after.code}#${after.jws}`, { context });
      expect(second.status).toBe('valid');
      expect(second.heading).toBe('Valid certificate');
      // The set this browser kept (without the new key), then the issuer's own answer.
      expect(second.requests.filter((url) => url.endsWith('/.well-known/jwks.json'))).toHaveLength(2);
      await second.close();
    } finally {
      await context.close();
    }
  });
});
