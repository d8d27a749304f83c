import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, deflateRawSync, deflateSync } from 'node:zlib';
import { SignJWT } from 'jose';
import { PDFDocument, PDFName, type PDFObject, StandardFonts } from 'pdf-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateFacts } from '../../lib/certificates/facts.ts';
import { signCredential } from '../../lib/credentials/credential.ts';
import { jwksDocument, type PublishedKey } from '../../lib/credentials/jwks.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import { type CheckIo, checkCertificate, MAX_FETCHED_BYTES } from '../../lib/credentials/offline-check.ts';
import {
  achievementForCourse,
  buildOpenBadgeCredential,
  openBadgeJwtClaims,
  signOpenBadgeCredential,
} from '../../lib/credentials/open-badge.ts';
import {
  MAX_STREAM_BYTES,
  MAX_ZLIB_HEADERS,
  readPdfAttachments,
} from '../../lib/credentials/pdf-attachments.ts';
import { jwtSignerFor } from '../../lib/credentials/signer.ts';
import {
  type BitstringStatusListCredential,
  buildStatusListCredential,
  createBitstring,
  type StatusPurpose,
  signStatusListCredential,
  statusListEntry,
  withBit,
} from '../../lib/credentials/status-list.ts';
import { applyPdfMetadata } from '../../lib/render/renderer.ts';
import { pdfPageText } from '../../scripts/pdf-page-text.ts';

// What `npm run verify` concludes about forged and altered certificates, against an issuer
// simulated by `fetch` (its JWKS, its verification JSON and its status lists) and a forger's
// host. The verdict that matters: none of these may come out "valid".

const ISSUER = 'https://certs.example.org';
const API = `${ISSUER}/api/v1`;
const VERIFY = `${ISSUER}/verify`;
const JWKS_URL = `${ISSUER}/.well-known/jwks.json`;
const LIST = '11111111-1111-4111-8111-111111111111';
const OTHER_LIST = '22222222-2222-4222-8222-222222222222';

let dir: string;
/** The issuer's facts key (ES256) and credentials key (RS256), as generate holds them. */
let issuerKey: SigningKey;
let credentialKey: SigningKey;
let forgerKey: SigningKey;
let published: PublishedKey[];
/** What the issuer's routes answer: per code, the live status; per list, the bits and overrides. */
const statusByCode = new Map<string, string>();
/** Per code, the SHA-256 the issuer's record has of the PDF it issued (none: not published). */
const pdfShaByCode = new Map<string, string>();
/** Per superseded code, the code of the certificate that replaced it. */
const successorByCode = new Map<string, string>();
let bits: Record<string, Uint8Array> = {};
let listAnswer: ((listId: string) => Promise<string>) | undefined;

const ada: CertificateFacts = {
  code: 'ADA0000000000001',
  name: 'Ada Lovelace',
  course: 'Analytical Engines 101',
  score: '87/100',
  issued: '2026-03-14',
  expires: null,
  issuer: 'Northbridge Academy',
};
const bob: CertificateFacts = { ...ada, code: 'BOB0000000000002', name: 'Bob Forger' };

/**
 * A status list credential signed as the issuer signs one, or, with `exp` or `validUntil: null`,
 * as a replay a forger might try: the JWT's `exp` set apart from the list's `validUntil`
 * (`null` leaves either out).
 */
async function signedList(
  listId: string,
  options: {
    purpose?: StatusPurpose;
    key?: SigningKey;
    validUntil?: Date | null;
    exp?: number | null;
    /** Rewrites the credential before it is signed: a list off the spec, genuinely signed. */
    reshape?: (credential: BitstringStatusListCredential) => object;
  } = {},
) {
  const credential = buildStatusListCredential({
    baseUrl: API,
    listId,
    issuer: ISSUER,
    purpose: options.purpose ?? 'revocation',
    bits: bits[listId] ?? createBitstring(),
    validFrom: new Date('2026-03-01T00:00:00Z'),
    validUntil: options.validUntil ?? new Date(Date.now() + 600_000),
  });
  const sign = jwtSignerFor(options.key ?? credentialKey);
  if (options.reshape)
    return sign(
      { ...options.reshape(structuredClone(credential)), iss: ISSUER, jti: credential.id },
      { typ: 'vc+jwt', cty: 'vc' },
    );
  if (options.exp === undefined && options.validUntil !== null)
    return signStatusListCredential(credential, sign);
  const { validUntil, ...withoutValidUntil } = credential;
  return sign(
    {
      ...(options.validUntil === null ? withoutValidUntil : { ...withoutValidUntil, validUntil }),
      iss: ISSUER,
      jti: credential.id,
      ...(typeof options.exp === 'number' ? { exp: options.exp } : {}),
    },
    { typ: 'vc+jwt', cty: 'vc' },
  );
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const network: NonNullable<CheckIo['fetch']> = async (url) => {
  const { origin, pathname } = new URL(url);
  if (origin === ISSUER) {
    if (pathname === '/.well-known/jwks.json')
      return json(jwksDocument(published, 'https://certs.example.org/api/v1'));
    const verify = /^\/verify\/([^/]+)$/.exec(pathname);
    if (verify) {
      const code = decodeURIComponent(verify[1] ?? '').toUpperCase();
      const status = statusByCode.get(code);
      return status
        ? json({
            verificationCode: code,
            status,
            revokedAt: null,
            supersededBy: successorByCode.get(code) ?? null,
            pdfSha256: pdfShaByCode.get(code) ?? null,
          })
        : json({}, 404);
    }
    const list = /^\/api\/v1\/status\/([^/]+)$/.exec(pathname);
    if (list) return new Response(await (listAnswer ?? signedList)(list[1] ?? ''));
  }
  if (origin === 'https://evil.example') {
    if (pathname === '/.well-known/jwks.json')
      return json(
        jwksDocument([{ jwk: forgerKey.publicJwk, state: 'current' }], 'https://certs.example.org/api/v1'),
      );
    return json({ status: 'valid', revokedAt: null });
  }
  throw new TypeError('fetch failed');
};
const online: CheckIo = { readFile: async (path) => new Uint8Array(await readFile(path)), fetch: network };
const offline: CheckIo = { readFile: online.readFile };

/** The Open Badges credential the issuer builds for a certificate, on status list LIST at `index`. */
function badgeCredential(
  facts: CertificateFacts,
  index: number,
  validFrom = new Date('2026-03-14T10:00:00Z'),
  validUntil?: Date,
) {
  return buildOpenBadgeCredential({
    credentialId: `${VERIFY}/${facts.code}`,
    issuer: { id: ISSUER, name: facts.issuer },
    achievement: achievementForCourse({
      baseUrl: API,
      course: { id: 'c0ffee00-0000-4000-8000-000000000001', title: facts.course },
      passPercentage: 50,
    }),
    recipient: { id: 'urn:uuid:5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01', name: facts.name },
    validFrom,
    ...(validUntil ? { validUntil } : {}),
    credentialStatus: statusListEntry({ baseUrl: API, listId: LIST, index }),
  });
}

async function openBadge(facts: CertificateFacts, index: number, key = credentialKey, validFrom?: Date) {
  return signOpenBadgeCredential(badgeCredential(facts, index, validFrom), jwtSignerFor(key), API);
}

/** A certificate PDF carrying the attachments the generate function embeds (or some of them). */
async function pdf(
  name: string,
  facts: CertificateFacts,
  attach: {
    key?: SigningKey;
    verifyUrl?: string;
    facts?: boolean;
    badgeIndex?: number | null;
    badgeFrom?: Date;
    /** An Open Badges JWT to attach as it is, instead of the issuer's. */
    badgeJwt?: string;
  },
): Promise<string> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  doc.addPage([842, 595]).drawText(`${facts.name} ${facts.code}`, { x: 60, y: 400, size: 20, font });
  const key = attach.key ?? issuerKey;
  const badgeIndex = attach.badgeIndex === undefined ? 5 : attach.badgeIndex;
  const withAttachments = await applyPdfMetadata(
    await doc.save(),
    { title: 'Certificate', subject: 'Certificate', keywords: [], author: facts.issuer },
    facts.issued,
    {
      jws: await signCredential(facts, key),
      facts,
      verifyUrl: attach.verifyUrl ?? `${VERIFY}/${facts.code}`,
      ...(attach.badgeJwt
        ? { openBadge: attach.badgeJwt }
        : badgeIndex === null
          ? {}
          : { openBadge: await openBadge(facts, badgeIndex, attach.key ?? credentialKey, attach.badgeFrom) }),
    },
  );
  let bytes = withAttachments;
  if (attach.facts === false) {
    // Keep only the signed credential: a forger deleting what tells the checker where to look.
    const bare = await PDFDocument.load(await doc.save());
    await bare.attach(new TextEncoder().encode(await signCredential(facts, key)), 'certificate.jwt', {
      mimeType: 'application/jwt',
    });
    bytes = await bare.save();
  }
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verify-forgeries-'));
  issuerKey = await signingKeyFromJwk(await generateSigningJwk());
  credentialKey = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
  forgerKey = await signingKeyFromJwk(await generateSigningJwk());
  published = [
    { jwk: issuerKey.publicJwk, state: 'current' },
    { jwk: credentialKey.publicJwk, state: 'current' },
  ];
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function reset() {
  statusByCode.clear();
  pdfShaByCode.clear();
  successorByCode.clear();
  statusByCode.set(ada.code, 'valid');
  statusByCode.set(bob.code, 'valid');
  bits = { [LIST]: createBitstring(), [OTHER_LIST]: createBitstring() };
  listAnswer = undefined;
}

/** A page with the signed credential attached, and one more stream that `stream` makes. */
async function withStream(stream: (document: PDFDocument) => PDFObject): Promise<Buffer> {
  const document = await PDFDocument.create();
  document.addPage([842, 595]);
  await document.attach(new TextEncoder().encode(await signCredential(ada, issuerKey)), 'certificate.jwt', {
    mimeType: 'application/jwt',
  });
  document.context.register(stream(document));
  return Buffer.from(await document.save({ useObjectStreams: false }));
}

describe('npm run verify against forgeries', () => {
  it('a genuine certificate is valid, as a PDF with the issuer named and as its URL', async () => {
    reset();
    const genuine = await pdf('genuine.pdf', ada, {});
    expect((await checkCertificate(genuine, JWKS_URL, online)).outcome).toBe('valid');
    const url = `${VERIFY}/${ada.code.toLowerCase()}#${await signCredential(ada, issuerKey)}`;
    expect((await checkCertificate(url, undefined, online)).outcome).toBe('valid');
  });

  it('after the credentials key rotates, a badge signed by the new key is "could not check" against a saved key file that lacks it, never a forgery', async () => {
    reset();
    const rotated = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    const file = join(dir, 'saved-before-rotation.json');
    await writeFile(file, JSON.stringify(jwksDocument(published, API)));
    // The facts key has not rotated: the facts' signature checks with the file.
    const path = await pdf('rotated-badge.pdf', ada, { badgeJwt: await openBadge(ada, 5, rotated) });
    const offlineReport = await checkCertificate(path, file, offline);
    expect(offlineReport.outcome).toBe('unchecked');
    expect(offlineReport.lines.join('\n')).toContain(
      `Open Badge: COULD NOT CHECK — your key set (${file}) has no key ${rotated.kid}. Keys the issuer added after you saved it are not in it`,
    );
    // Online, the issuer's current set publishes it: the file is stale, save it again.
    published.push({ jwk: rotated.publicJwk, state: 'current' });
    try {
      const onlineReport = await checkCertificate(path, file, online, { issuer: ISSUER });
      expect(onlineReport.outcome).toBe('unchecked');
      expect(onlineReport.lines.join('\n')).toContain(
        `Open Badge: COULD NOT CHECK — your key set (${file}) has no key ${rotated.kid}, which the issuer's current set (${JWKS_URL}) publishes`,
      );
    } finally {
      published.pop();
    }
    // Neither the file nor the issuer's current set has it: not the issuer's badge.
    const forged = await checkCertificate(path, file, online, { issuer: ISSUER });
    expect(forged.outcome).toBe('invalid');
    expect(forged.lines.join('\n')).toContain(
      `Open Badge: INVALID — no published key has kid ${rotated.kid}`,
    );
  });

  it("a genuine certificate's Open Badge is RS256 with the credentials key; one signed before that key existed (ES256, the facts key) still verifies", async () => {
    reset();
    const report = await checkCertificate(await pdf('rs256.pdf', ada, {}), JWKS_URL, online);
    expect(report.outcome).toBe('valid');
    expect(report.lines.join('\n')).toContain(
      `Open Badge: valid OpenBadgeCredential (RS256, key ${credentialKey.kid})`,
    );
    const earlier = await signOpenBadgeCredential(badgeCredential(ada, 5), jwtSignerFor(issuerKey), API);
    const before = await checkCertificate(
      await pdf('es256.pdf', ada, { badgeJwt: earlier }),
      JWKS_URL,
      online,
    );
    expect(before.outcome).toBe('valid');
    expect(before.lines.join('\n')).toContain(
      `Open Badge: valid OpenBadgeCredential (ES256, key ${issuerKey.kid})`,
    );
  });

  it('the key decides the algorithm: an Open Badge whose header names another than its key is refused', async () => {
    reset();
    const claims = openBadgeJwtClaims(badgeCredential(ada, 5));
    const keyUrl = (kid: string) => `${API}/keys/${kid}`;
    // A genuine ES256 signature of the issuer's facts key, its kid pointing at the RSA key; and
    // an RS256 header naming the P-256 key.
    const confused = [
      await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: keyUrl(credentialKey.kid) })
        .sign(issuerKey.privateKey),
      await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: keyUrl(issuerKey.kid) })
        .sign(credentialKey.privateKey),
    ];
    const expected = [
      `unexpected algorithm ES256 for RS256 key ${credentialKey.kid}`,
      `unexpected algorithm RS256 for ES256 key ${issuerKey.kid}`,
    ];
    for (const [index, badgeJwt] of confused.entries()) {
      const report = await checkCertificate(
        await pdf(`confused-${index}.pdf`, ada, { badgeJwt }),
        JWKS_URL,
        online,
      );
      expect(report.outcome).toBe('invalid');
      expect(report.lines).toContain(`Open Badge: INVALID — ${expected[index]}`);
    }
  });

  it('a PDF cannot name its own issuer: without --jwks it is not checked, and says which host it claims', async () => {
    reset();
    const forged = await pdf(
      'forged.pdf',
      { ...ada, name: 'Mallory Impostor' },
      {
        key: forgerKey,
        verifyUrl: `https://evil.example/verify/${ada.code}`,
      },
    );
    const report = await checkCertificate(forged, undefined, online);
    expect(report.outcome).toBe('unchecked');
    expect(report.lines.join('\n')).toMatch(/cannot name its own issuer.*https:\/\/evil\.example/);
    // Named against the real issuer, the forgery is what it is.
    expect((await checkCertificate(forged, JWKS_URL, online)).outcome).toBe('invalid');
  });

  it('a superseded certificate is invalid and names its replacement; its Open Badge bit is told as revoked or superseded', async () => {
    reset();
    statusByCode.set(ada.code, 'superseded');
    successorByCode.set(ada.code, 'ADA0000000000009');
    bits[LIST] = withBit(createBitstring(), 5, true);
    const report = await checkCertificate(await pdf('superseded.pdf', ada, {}), JWKS_URL, online);
    expect(report.outcome).toBe('invalid');
    expect(report.lines).toContain(
      `Status: superseded by ADA0000000000009 (${VERIFY}/ADA0000000000009) (live, ${VERIFY}/${ada.code})`,
    );
    expect(report.lines.join('\n')).toMatch(
      /Open Badge status: REVOKED — its bit is set on the revocation list, as the issuer sets it for a revoked or a superseded certificate; the live status says which/,
    );
    // A successor that is not a code is not made into an address.
    successorByCode.set(ada.code, '../../evil');
    const odd = await checkCertificate(await pdf('superseded-odd.pdf', ada, {}), JWKS_URL, online);
    expect(odd.lines).toContain(`Status: superseded (live, ${VERIFY}/${ada.code})`);
  });

  it("a revoked certificate whose facts point at another certificate's page is not valid", async () => {
    reset();
    statusByCode.set(ada.code, 'revoked');
    const pointing = await pdf('pointing.pdf', ada, { verifyUrl: `${VERIFY}/${bob.code}`, badgeIndex: null });
    const report = await checkCertificate(pointing, JWKS_URL, online);
    expect(report.outcome).not.toBe('valid');
    expect(report.lines.join('\n')).toContain(`no verification address for code ${ada.code}`);
  });

  it('a revoked certificate stripped down to its signature, or pointing at a dead host, is not valid online', async () => {
    reset();
    statusByCode.set(ada.code, 'revoked');
    const bare = await pdf('bare.pdf', ada, { facts: false });
    expect((await checkCertificate(bare, JWKS_URL, online)).outcome).toBe('unchecked');
    const dead = await pdf('dead.pdf', ada, {
      verifyUrl: `https://down.example/verify/${ada.code}`,
      badgeIndex: null,
    });
    expect((await checkCertificate(dead, JWKS_URL, online)).outcome).toBe('unchecked');
    // With the page on the issuer's host, the revocation shows.
    const intact = await pdf('intact.pdf', ada, { badgeIndex: null });
    expect((await checkCertificate(intact, JWKS_URL, online)).outcome).toBe('invalid');
  });

  it('a revoked certificate whose verifyUrl is moved to a forger\'s host answering "valid" for it is not valid', async () => {
    reset();
    statusByCode.set(ada.code, 'revoked');
    // The forger re-points the unsigned verifyUrl of a revoked PDF at their own host and drops the
    // Open Badge (its status list would show the revocation). Their host answers as the issuer's
    // would: Ada's code, "valid", and the forged file's own hash. Only the issuer's origin may say.
    const moved = await pdf('moved-live.pdf', ada, {
      verifyUrl: `https://evil.example/verify/${ada.code}`,
      badgeIndex: null,
    });
    const pdfSha256 = createHash('sha256')
      .update(await readFile(moved))
      .digest('hex');
    const forgerHost: NonNullable<CheckIo['fetch']> = async (url, init) =>
      new URL(url).origin === 'https://evil.example'
        ? json({ verificationCode: ada.code, status: 'valid', revokedAt: null, pdfSha256 })
        : network(url, init);
    const report = await checkCertificate(moved, JWKS_URL, { ...online, fetch: forgerHost });
    expect(report.outcome).toBe('unchecked');
    expect(report.lines.join('\n')).toContain(
      `no verification address for code ${ada.code} on the issuer's host (${ISSUER})`,
    );
  });

  it("a revoked certificate's link moved to another host is not valid when the keys come from a file", async () => {
    reset();
    statusByCode.set(ada.code, 'revoked');
    const jwksFile = join(dir, 'issuer-jwks.json');
    await writeFile(jwksFile, JSON.stringify(jwksDocument(published, 'https://certs.example.org/api/v1')));
    const jws = await signCredential(ada, issuerKey);
    // The genuine signature behind a host that answers "valid" about anything.
    const moved = `https://evil.example/verify/${ada.code}#${jws}`;
    const unnamed = await checkCertificate(moved, jwksFile, online);
    expect(unnamed.outcome).toBe('unchecked');
    expect(unnamed.lines.join('\n')).toContain('pass --issuer');
    expect((await checkCertificate(moved, jwksFile, online, { issuer: ISSUER })).outcome).toBe('unchecked');
    // On the issuer's own host, named by the checker, the revocation shows; a valid one passes.
    const genuine = `${VERIFY}/${ada.code}#${jws}`;
    expect((await checkCertificate(genuine, jwksFile, online, { issuer: ISSUER })).outcome).toBe('invalid');
    statusByCode.set(ada.code, 'valid');
    expect((await checkCertificate(genuine, jwksFile, online, { issuer: ISSUER })).outcome).toBe('valid');
    // Offline, the signature is all there is, and the report says the status was not checked.
    const offlineReport = await checkCertificate(moved, jwksFile, offline);
    expect(offlineReport.outcome).toBe('valid');
    expect(offlineReport.lines.join('\n')).toContain('Status: not checked (offline)');
    // A PDF with keys from a file reads the live status when the checker names the issuer.
    statusByCode.set(ada.code, 'revoked');
    const intact = await pdf('intact-file-keys.pdf', ada, { badgeIndex: null });
    expect((await checkCertificate(intact, jwksFile, online, { issuer: ISSUER })).outcome).toBe('invalid');
    expect((await checkCertificate(moved, jwksFile, online, { issuer: 'certs.example.org' })).outcome).toBe(
      'unchecked',
    );
  });

  it("a link whose record the issuer reports signed with a revoked key (the PDF's Open Badge key) is invalid, as its page says", async () => {
    reset();
    const jws = await signCredential(ada, issuerKey);
    const link = `${VERIFY}/${ada.code}#${jws}`;
    expect((await checkCertificate(link, undefined, online)).outcome).toBe('valid');
    const revokedKey: NonNullable<CheckIo['fetch']> = async (url, init) =>
      new URL(url).pathname.startsWith('/verify/')
        ? json({ verificationCode: ada.code, status: 'valid', revokedAt: null, signedWithRevokedKey: true })
        : network(url, init);
    const report = await checkCertificate(link, undefined, { ...online, fetch: revokedKey });
    expect(report.outcome).toBe('invalid');
    expect(report.lines.join('\n')).toContain('Status: SIGNED WITH A REVOKED KEY');
  });

  it('a PDF whose unsigned verify address points off the issuer is never valid online: its file could not be compared', async () => {
    reset();
    // The signed list answers for the Open Badge; nothing answers for the file, which is the one
    // check that covers the page as drawn.
    const moved = await pdf('moved.pdf', ada, { verifyUrl: `https://evil.example/verify/${ada.code}` });
    const report = await checkCertificate(moved, JWKS_URL, online);
    expect(report.outcome).toBe('unchecked');
    expect(report.lines.join('\n')).toContain('File: COULD NOT CHECK');
  });

  it('an Open Badge signed with a credentials key the issuer reports compromised is invalid, though the facts key is good', async () => {
    reset();
    const genuine = await pdf('badge-key-leaked.pdf', ada, {});
    const jwksFile = join(dir, 'jwks-credentials-compromised.json');
    const saved = (state: 'current' | 'compromised') =>
      writeFile(
        jwksFile,
        JSON.stringify(
          jwksDocument(
            [
              { jwk: issuerKey.publicJwk, state: 'current' },
              {
                jwk: credentialKey.publicJwk,
                state,
                ...(state === 'compromised' ? { revokedAt: '2026-05-01T00:00:00Z' } : {}),
              },
            ],
            'https://certs.example.org/api/v1',
          ),
        ),
      );
    await saved('current');
    expect((await checkCertificate(genuine, jwksFile, offline)).outcome).toBe('valid');
    await saved('compromised');
    const report = await checkCertificate(genuine, jwksFile, offline);
    expect(report.outcome).toBe('invalid');
    expect(report.lines.join('\n')).toMatch(/Open Badge: INVALID — signed with a revoked key/);
  });

  it("an entry of more than one bit (statusSize, another issuer's) is not read as a revocation flag", async () => {
    reset();
    // Bit 5 clear: read as a one-bit flag it would say "not revoked", but a 2-bit entry's bits
    // are 10 and 11 (Bitstring Status List §2.1).
    const credential = badgeCredential(ada, 5);
    const twoBits = { ...credential, credentialStatus: { ...credential.credentialStatus, statusSize: 2 } };
    const badgeJwt = await signOpenBadgeCredential(
      twoBits as typeof credential,
      jwtSignerFor(credentialKey),
      API,
    );
    const report = await checkCertificate(await pdf('two-bits.pdf', ada, { badgeJwt }), JWKS_URL, online);
    expect(report.lines.join('\n')).toContain('statusSize 2 is not supported');
    expect(report.lines.join('\n')).not.toContain('Open Badge status: not revoked');
  });

  it('a code the issuer has no record of is invalid, not "could not check"', async () => {
    reset();
    const ghost: CertificateFacts = { ...ada, code: 'GHOST00000000009' };
    const report = await checkCertificate(
      `${VERIFY}/${ghost.code}#${await signCredential(ghost, issuerKey)}`,
      undefined,
      online,
    );
    expect(report.outcome).toBe('invalid');
    expect(report.lines).toContain('Status: the issuer has no record of this certificate');
  });

  it('a live answer that does not name the certificate it is about is not taken as its status', async () => {
    reset();
    const jws = await signCredential(ada, issuerKey);
    const anonymous: NonNullable<CheckIo['fetch']> = async (url) =>
      new URL(url).pathname.startsWith('/verify/')
        ? json({ status: 'valid', revokedAt: null })
        : network(url);
    const report = await checkCertificate(`${VERIFY}/${ada.code}#${jws}`, undefined, {
      ...online,
      fetch: anonymous,
    });
    expect(report.outcome).toBe('unchecked');
  });

  it('a live answer about another certificate is not taken as its status', async () => {
    reset();
    const jws = await signCredential(ada, issuerKey);
    // Asked at Ada's address on the issuer's host, an answer naming Bob's code (misrouted, or a
    // cache keyed wrongly) says nothing about Ada.
    const aboutBob: NonNullable<CheckIo['fetch']> = async (url, init) =>
      new URL(url).pathname.startsWith('/verify/')
        ? json({ verificationCode: bob.code, status: 'valid', revokedAt: null })
        : network(url, init);
    const report = await checkCertificate(`${VERIFY}/${ada.code}#${jws}`, undefined, {
      ...online,
      fetch: aboutBob,
    });
    expect(report.outcome).toBe('unchecked');
    expect(report.lines.join('\n')).toContain(`the issuer answered about ${bob.code}, not ${ada.code}`);
  });

  it('a status list that is not the one the credential names does not stand in for it', async () => {
    reset();
    bits[LIST] = withBit(createBitstring(), 5, true); // Ada revoked on her list
    statusByCode.delete(ada.code); // and no live page to say so: only the list can
    const revoked = await pdf('listed.pdf', ada, { verifyUrl: `https://down.example/verify/${ada.code}` });
    expect((await checkCertificate(revoked, JWKS_URL, online)).outcome).toBe('invalid');
    // Rewritten but unchanged, a list still counts: the rewrites below fail for what they change.
    listAnswer = (listId) => signedList(listId, { reshape: (credential) => credential });
    expect((await checkCertificate(revoked, JWKS_URL, online)).outcome).toBe('invalid');
    const forgeries: [string, (listId: string) => Promise<string>][] = [
      ['another genuine list', () => signedList(OTHER_LIST)],
      ['a list for another purpose', (listId) => signedList(listId, { purpose: 'suspension' })],
      ["a list signed by the forger's key", (listId) => signedList(listId, { key: forgerKey })],
      [
        'a replayed list past its validity',
        (listId) => signedList(listId, { validUntil: new Date(Date.now() - 1000) }),
      ],
      [
        // Checked on its own: the row above carries an exp too, which would refuse it anyway.
        'a replayed list past its validUntil, with no JWT exp',
        (listId) => signedList(listId, { validUntil: new Date(Date.now() - 1000), exp: null }),
      ],
      [
        'a replayed list whose JWT exp has passed, with no validUntil',
        (listId) => signedList(listId, { validUntil: null, exp: Math.floor(Date.now() / 1000) - 1 }),
      ],
      // Bitstring Status List 1.0 §2.2: the subject's type "MUST be BitstringStatusList", and
      // "conforming processors MUST produce errors when non-conforming documents are consumed".
      [
        'a list whose subject is not a BitstringStatusList',
        (listId) =>
          signedList(listId, {
            reshape: (credential) => ({
              ...credential,
              credentialSubject: { ...credential.credentialSubject, type: 'StatusList2021' },
            }),
          }),
      ],
      [
        'a list without the VC 2.0 context first',
        (listId) =>
          signedList(listId, {
            reshape: (credential) => ({
              ...credential,
              '@context': ['https://www.w3.org/2018/credentials/v1'],
            }),
          }),
      ],
    ];
    for (const [what, answer] of forgeries) {
      bits[LIST] = createBitstring(); // the forged answers show the bit clear
      listAnswer = answer;
      const report = await checkCertificate(revoked, JWKS_URL, online);
      expect(report.outcome, what).toBe('unchecked');
      expect(report.lines.join('\n'), what).toContain('Open Badge status: could not be resolved');
    }
  });

  it('an expired certificate is invalid offline too: its expiry date is signed', async () => {
    reset();
    const expired = await pdf('expired.pdf', { ...ada, expires: '2026-04-01' }, { badgeIndex: null });
    const jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify(jwksDocument(published, 'https://certs.example.org/api/v1')));
    const report = await checkCertificate(expired, jwksFile, {
      ...offline,
      now: () => new Date('2026-06-01T00:00:00Z'),
    });
    expect(report.outcome).toBe('invalid');
    expect(report.lines).toContain('Expiry: EXPIRED (expired on 2026-04-01, signed)');
    // Labelled as the PDF prints it: expired on that day, not "valid until" it.
    expect(report.lines.join('\n')).toContain('Expires on: 2026-04-01');
    expect(report.lines.join('\n')).not.toContain('Valid until');
    // "Expires on 2026-04-01" means from that day's 00:00 UTC, as the issuer counts it.
    const onTheDay = await checkCertificate(expired, jwksFile, {
      ...offline,
      now: () => new Date('2026-04-01T00:00:00Z'),
    });
    expect(onTheDay.outcome).toBe('invalid');
    const before = await checkCertificate(expired, jwksFile, {
      ...offline,
      now: () => new Date('2026-03-31T23:59:59Z'),
    });
    expect(before.outcome).toBe('valid');
  });

  it('an Open Badge that is not valid yet makes the certificate invalid', async () => {
    reset();
    const early = await pdf('early.pdf', ada, { badgeFrom: new Date('2099-01-01T00:00:00Z') });
    const report = await checkCertificate(early, JWKS_URL, online);
    expect(report.outcome).toBe('invalid');
    expect(report.lines).toContain('Open Badge: NOT YET VALID (validFrom 2099-01-01T00:00:00Z)');
  });

  it("an Open Badge whose JWT claims contradict its credential is invalid (OB 3.0's claim checks)", async () => {
    reset();
    const credential = badgeCredential(ada, 5, undefined, new Date('2027-03-14T10:00:00Z'));
    const claims = openBadgeJwtClaims(credential);
    const sign = jwtSignerFor(credentialKey);
    const badgeWith = (payload: Record<string, unknown>) =>
      sign(payload, { typ: 'JWT' }, { keyUrl: (thumbprint) => `${API}/keys/${thumbprint}` });
    const { sub: _sub, ...withoutSub } = claims;
    const cases: [string, Record<string, unknown>, string][] = [
      ['iss of another issuer', { ...claims, iss: 'https://evil.example' }, 'iss https://evil.example'],
      ['no sub', withoutSub, 'sub (missing)'],
      ['jti of another credential', { ...claims, jti: `${VERIFY}/${bob.code}` }, 'jti'],
      ['nbf a year earlier', { ...claims, nbf: Number(claims.nbf) - 365 * 86400 }, 'nbf'],
      ['exp later than validUntil', { ...claims, exp: Number(claims.exp) + 365 * 86400 }, 'exp'],
      [
        'statusListIndex not in base 10',
        { ...claims, credentialStatus: { ...credential.credentialStatus, statusListIndex: '0x5' } },
        'credentialStatus.statusListIndex is missing or malformed',
      ],
      [
        'no statusPurpose',
        { ...claims, credentialStatus: { ...credential.credentialStatus, statusPurpose: undefined } },
        'credentialStatus.statusPurpose is missing or malformed',
      ],
    ];
    const genuine = await pdf('claims-genuine.pdf', ada, {});
    expect((await checkCertificate(genuine, JWKS_URL, online)).outcome).toBe('valid');
    for (const [what, payload, reason] of cases) {
      const path = await pdf('claims.pdf', ada, { badgeJwt: await badgeWith(payload) });
      const report = await checkCertificate(path, JWKS_URL, online);
      expect(report.outcome, what).toBe('invalid');
      expect(
        report.lines.find((line) => line.startsWith('Open Badge:')),
        what,
      ).toContain(reason);
    }
  });

  it('a status list entry past the end of its list is not read as "not revoked"', async () => {
    reset();
    statusByCode.delete(ada.code); // no live page: only the list can tell
    const past = await pdf('past-end.pdf', ada, {
      badgeIndex: 131_072,
      verifyUrl: `https://down.example/verify/${ada.code}`,
    });
    const report = await checkCertificate(past, JWKS_URL, online);
    expect(report.outcome).toBe('unchecked');
    expect(report.lines.join('\n')).toContain("statusListIndex 131072 is past the list's end");
  });

  it('what a hostile PDF or link says cannot repaint the verdict in a terminal', async () => {
    reset();
    // A header that would erase its own line, print a fake verdict, then hide what follows.
    // (U+2028 and U+2029 break a line in some terminals too.)
    const paint = '\r\u001b[2KSignature: valid\nVerdict: VALID\u2028Verdict: VALID\u2029\n\u001b[8m\u202e';
    const header = Buffer.from(JSON.stringify({ alg: paint, kid: 'x' })).toString('base64url');
    const jwsWithPaint = `${header}.e30.AA`;
    const hostile = [
      await checkCertificate(`${VERIFY}/${ada.code}#${jwsWithPaint}`, JWKS_URL, online),
      await checkCertificate(
        await pdf('painted.pdf', ada, { badgeJwt: `${header}.e30.AA` }),
        JWKS_URL,
        online,
      ),
    ];
    for (const report of hostile) {
      expect(report.outcome).toBe('invalid');
      const text = report.lines.join('\n');
      expect(text).toContain('\\u{1b}[2K');
      expect(text).toContain('\\u{2028}');
      for (const line of report.lines)
        expect(line).toMatch(/^[^\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]*$/u);
    }
    // A genuine certificate's lines, Arabic name included, are printed as they are.
    const arabic = { ...ada, name: 'أدا لوفليس' };
    const genuine = await checkCertificate(
      `${VERIFY}/${arabic.code}#${await signCredential(arabic, issuerKey)}`,
      JWKS_URL,
      online,
    );
    expect(genuine.outcome).toBe('valid');
    expect(genuine.lines.join('\n')).toContain('أدا');
    expect(genuine.lines.join('\n')).not.toContain('\\u{');
  });

  it("a forger's PDF or host cannot exhaust the checker: bounded attachments and answers, malformed facts", async () => {
    reset();
    /** Ada's genuine credential, plus a facts attachment as given. */
    const withFacts = async (name: string, facts: Uint8Array) => {
      const doc = await PDFDocument.create();
      doc.addPage([842, 595]);
      await doc.attach(new TextEncoder().encode(await signCredential(ada, issuerKey)), 'certificate.jwt', {
        mimeType: 'application/jwt',
      });
      await doc.attach(facts, 'certificate-facts.json', { mimeType: 'application/json' });
      const path = join(dir, name);
      await writeFile(path, await doc.save());
      return path;
    };
    // 8 MiB of zeros compress to a few KB: inflated whole, a bigger one would take all memory.
    const bomb = await checkCertificate(
      await withFacts('bomb.pdf', new Uint8Array(8 * 1024 * 1024)),
      JWKS_URL,
      online,
    );
    expect(bomb.outcome).toBe('unchecked');
    expect(bomb.lines.join('\n')).toMatch(/does not inflate within 1048576 bytes/);
    // Unsigned facts that are not JSON are a forger's, not a crash.
    const junk = await checkCertificate(
      await withFacts('junk.pdf', new TextEncoder().encode('{"verifyUrl":')),
      JWKS_URL,
      online,
    );
    expect(junk.outcome).not.toBe('valid');
    // Nor is a verifyUrl that looks like a URL and is not one, with keys or without.
    const badUrl = new TextEncoder().encode(
      JSON.stringify({ verifyUrl: 'https://exa mple.org/verify/ABC', facts: ada }),
    );
    const spaced = await withFacts('bad-url.pdf', badUrl);
    expect((await checkCertificate(spaced, JWKS_URL, online)).outcome).not.toBe('valid');
    expect((await checkCertificate(spaced, undefined, online)).outcome).toBe('unchecked');

    // Any stream of the file, before the parser inflates it (object streams, page content):
    // 64 MiB of zeros compress to ~64 KB.
    const bombPath = join(dir, 'object-bomb.pdf');
    await writeFile(
      bombPath,
      await withStream((document) => document.context.flateStream(new Uint8Array(64 * 1024 * 1024))),
    );
    const refused = await checkCertificate(bombPath, JWKS_URL, online);
    expect(refused.outcome).toBe('unchecked');
    expect(refused.lines.join('\n')).toMatch(/a stream inflates to more than 16777216 bytes/);
    // Nor past it by how the filters are written: a chain (a Flate inside a Flate, 2 GiB from 4 KB
    // once decoded twice; hex in front of a Flate, which hides its zlib header), the key spelt
    // with an escape or as /F (pdf.js reads both), Brotli (pdf.js decodes it), or a zlib header
    // other than Node's 0x78 (pdf.js takes any deflate window).
    const zeros = new Uint8Array(64 * 1024 * 1024);
    const bombs: [string, Uint8Array, Record<string, string | string[]>, string?][] = [
      ['flate-flate.pdf', deflateSync(deflateSync(zeros)), { Filter: ['FlateDecode', 'FlateDecode'] }],
      [
        'hex-flate.pdf',
        Buffer.from(deflateSync(zeros).toString('hex')),
        { Filter: ['ASCIIHexDecode', 'FlateDecode'] },
      ],
      [
        'escaped-key.pdf',
        deflateSync(deflateSync(zeros)),
        { Filter: ['FlateDecode', 'FlateDecode'] },
        '/Filt#65r',
      ],
      ['f-key.pdf', deflateSync(deflateSync(zeros)), { F: ['FlateDecode', 'FlateDecode'] }],
      ['brotli.pdf', new Uint8Array(64), { Filter: 'BrotliDecode' }],
      [
        'window-16k.pdf',
        Buffer.concat([Buffer.from([0x68, 0x05]), deflateRawSync(zeros)]),
        { Filter: 'FlateDecode' },
      ],
    ];
    for (const [name, data, dict, key] of bombs) {
      let bytes = await withStream((document) => document.context.stream(data, dict));
      if (key) {
        const text = bytes.toString('latin1');
        const chain = /\/Filter(\s*\[\s*\/FlateDecode\s+\/FlateDecode\s*\])/;
        expect(chain.test(text), name).toBe(true);
        bytes = Buffer.from(text.replace(chain, `${key}$1`), 'latin1');
      }
      const chainedPath = join(dir, name);
      await writeFile(chainedPath, bytes);
      const chainedCheck = await checkCertificate(chainedPath, JWKS_URL, online);
      expect(chainedCheck.outcome, name).toBe('unchecked');
      expect(chainedCheck.lines.join('\n'), name).toMatch(
        /a stream is encoded with \/(Filter|F) .*, which this checker does not decode|inflates to more than/,
      );
    }
    // A file of nothing but zlib header pairs: each would cost an inflate attempt (minutes for a
    // megabyte); past the cap the check stops at once.
    const headersPath = join(dir, 'headers.pdf');
    await writeFile(
      headersPath,
      Buffer.concat([
        Buffer.from('%PDF-1.7\n'),
        Buffer.alloc(MAX_ZLIB_HEADERS * 6, Buffer.from([0x78, 0x01])),
      ]),
    );
    const headers = await checkCertificate(headersPath, JWKS_URL, online);
    expect(headers.outcome).toBe('unchecked');
    expect(headers.lines.join('\n')).toMatch(/more than \d+ zlib headers, which no certificate does/);

    // A host that answers without end: the checker stops reading and cannot check. The stream
    // does end, far past the limit, so a checker that lost its limit fails this test on what it
    // read instead of reading for ever (a worker grew to 23 GB so).
    let served = 0;
    const endless: NonNullable<CheckIo['fetch']> = async (url, init) => {
      if (new URL(url).pathname.startsWith('/verify/'))
        return new Response(
          new ReadableStream({
            pull(controller) {
              if (served >= 4 * MAX_FETCHED_BYTES) return controller.close();
              served += 64 * 1024;
              controller.enqueue(new Uint8Array(64 * 1024).fill(32));
            },
          }),
          { headers: { 'content-type': 'application/json' } },
        );
      return network(url, init);
    };
    const jws = await signCredential(ada, issuerKey);
    const flood = await checkCertificate(`${VERIFY}/${ada.code}#${jws}`, JWKS_URL, {
      ...online,
      fetch: endless,
    });
    expect(flood.outcome).not.toBe('valid');
    expect(flood.lines.join('\n')).toMatch(/more than 4194304 bytes/);
    // Read no further than the limit (and what the stream had queued ahead of the reader).
    expect(served).toBeLessThan(2 * MAX_FETCHED_BYTES);
  });

  it('filters behind references, and a stored block planted to hide the next stream, are refused before a parser reads them', async () => {
    // pdf.js and pdf-lib follow a reference wherever a filter may be: hex in front of a Flate
    // hides its zlib header from the scan, and decodes 64 MiB from 128 KB.
    const hexBomb = Buffer.from(deflateSync(new Uint8Array(64 * 1024 * 1024)).toString('hex'));
    // The genuine attachment's /EF << /F n 0 R >>, a reference /F, stays accepted.
    const forged = (dict: (document: PDFDocument) => Record<string, PDFObject>) =>
      withStream((document) => document.context.stream(hexBomb, dict(document)));
    const name = (document: PDFDocument, value: string) => document.context.register(PDFName.of(value));
    const chain = (document: PDFDocument) =>
      document.context.register(
        document.context.obj([PDFName.of('ASCIIHexDecode'), PDFName.of('FlateDecode')]),
      );
    const cases: [string, (document: PDFDocument) => Record<string, PDFObject>][] = [
      [
        '/Filter [n 0 R m 0 R]',
        (d) => ({ Filter: d.context.obj([name(d, 'ASCIIHexDecode'), name(d, 'FlateDecode')]) }),
      ],
      [
        '/F [n 0 R m 0 R]',
        (d) => ({ F: d.context.obj([name(d, 'ASCIIHexDecode'), name(d, 'FlateDecode')]) }),
      ],
      ['/F n 0 R, an array of names', (d) => ({ F: chain(d) })],
      ['/Filter n 0 R', (d) => ({ Filter: chain(d) })],
    ];
    for (const [what, dict] of cases)
      await expect(readPdfAttachments(await forged(dict)), what).rejects.toThrow(
        /a stream is encoded with \/(Filter|F) .*, which this checker does not decode/,
      );
    // The genuine attachment alone, its /EF /F a reference: read.
    const genuine = await forged(() => ({}));
    expect([...(await readPdfAttachments(genuine)).keys()]).toEqual(['certificate.jwt']);

    // A zlib header and one stored block in a comment, the block's length covering the next
    // object: inflated, it is that object's bytes as they are; a scan that skipped what it
    // consumed never met the real Flate bomb inside (an object stream pdf-lib inflates whole).
    const bomb = deflateSync(Buffer.alloc(MAX_STREAM_BYTES + 1024 * 1024, 0x20), { level: 9 });
    let covered = Buffer.concat([
      Buffer.from(
        `\n1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Length ${bomb.length} /Filter /FlateDecode >>\nstream\n`,
      ),
      bomb,
    ]);
    // The block's LEN and NLEN bytes must not end the comment line.
    const lineSafe = (n: number) =>
      ![n & 0xff, n >> 8, ~n & 0xff, (~n >> 8) & 0xff].some((b) => b === 0x0a || b === 0x0d);
    while (!lineSafe(covered.length)) covered = Buffer.concat([covered, Buffer.from(' ')]);
    const length = covered.length;
    expect(length).toBeLessThan(65536);
    const wrapped = Buffer.concat([
      Buffer.from('%PDF-1.7\n'),
      Buffer.from([
        0x25,
        0x78,
        0x01,
        0x01,
        length & 0xff,
        length >> 8,
        ~length & 0xff,
        (~length >> 8) & 0xff,
      ]),
      covered,
      Buffer.from('\nendstream\nendobj\ntrailer\n<< /Size 3 /Root 2 0 R >>\n%%EOF\n'),
    ]);
    await expect(readPdfAttachments(new Uint8Array(wrapped))).rejects.toThrow(
      `a stream inflates to more than ${MAX_STREAM_BYTES} bytes`,
    );

    // Data that runs on to the end of the file from every header in it (empty stored blocks, a
    // header every few dozen bytes): each attempt would read it all again, a megabyte a thousand
    // times over. What the attempts read is budgeted, and the file refused when it runs out.
    const runOn: number[] = [0x78, 0x9c];
    while (runOn.length < 1_000_000) {
      runOn.push(0x00, 0x02, 0x00, 0xfd, 0xff, 0x78, 0x9c);
      for (let block = 0; block < 20; block++) runOn.push(0x00, 0x00, 0x00, 0xff, 0xff);
    }
    await expect(readPdfAttachments(new Uint8Array(runOn))).rejects.toThrow(
      'its compressed data would have to be read over and over, which no certificate needs',
    );

    // Many headers in front of one tail that inflates to just under the bound and then is not
    // deflate data: each attempt inflated 14 MiB, uncounted, as the tail was never a stream.
    const tail = Buffer.concat([
      deflateRawSync(Buffer.alloc(14 * 1024 * 1024), { finishFlush: constants.Z_SYNC_FLUSH, level: 9 }),
      Buffer.from([0x07, 0, 0, 0]),
    ]);
    const cluster = Buffer.concat([
      ...Array.from({ length: 140 }, (_, i) => {
        // A zlib header and a stored block that covers the headers after it, up to the tail.
        const covered = 7 * (139 - i);
        return Buffer.from([
          0x78,
          0x01,
          0x00,
          covered & 0xff,
          covered >> 8,
          ~covered & 0xff,
          (~covered >> 8) & 0xff,
        ]);
      }),
      tail,
    ]);
    await expect(
      readPdfAttachments(
        new Uint8Array(Buffer.concat([Buffer.from('%PDF-1.7\n'), ...Array(60).fill(cluster)])),
      ),
    ).rejects.toThrow('its compressed data would have to be read over and over, which no certificate needs');

    // A comment that reads like a definition must not hide the next one: object 5 is a filter
    // name in its second definition (a dictionary in its first).
    const overlapping = [
      '%PDF-1.7',
      '5 0 obj << >> endobj',
      '% 9 0 obj',
      '5 0 obj /LZWDecode endobj',
      '6 0 obj << /Length 3 /F 5 0 R >> stream',
      'abc',
      'endstream endobj',
      '%%EOF',
    ].join('\n');
    await expect(readPdfAttachments(new TextEncoder().encode(overlapping))).rejects.toThrow(
      /a stream is encoded with \/F 5 0 R, which this checker does not decode/,
    );
  });

  it("a PDF of two pages: could not check offline; online, invalid unless it is byte for byte the issuer's file", async () => {
    reset();
    const genuine = await PDFDocument.load(await readFile(await pdf('two-genuine.pdf', ada, {})));
    const font = await genuine.embedFont(StandardFonts.Helvetica);
    const front = genuine.insertPage(0, [842, 595]);
    front.drawText(`Mallory Forger ${ada.course} ${ada.code}`, { x: 60, y: 400, size: 20, font });
    const path = join(dir, 'two-pages.pdf');
    const bytes = await genuine.save();
    await writeFile(path, bytes);
    const reading: CheckIo = { ...online, pageText: pdfPageText };
    const pageLine = (lines: string[]) => lines.find((line) => line.startsWith('Page text'));

    const offlineReport = await checkCertificate(path, JWKS_URL, { ...reading, fetch: undefined });
    expect(offlineReport.outcome).toBe('unchecked');
    // (offline: the key set named by URL cannot be read either; with it from a file, the page line)
    const jwksFile = join(dir, 'two-pages-jwks.json');
    await writeFile(jwksFile, JSON.stringify(jwksDocument(published, 'https://certs.example.org/api/v1')));
    const fromFile = await checkCertificate(path, jwksFile, {
      readFile: online.readFile,
      pageText: pdfPageText,
    });
    expect(pageLine(fromFile.lines)).toBe(
      "Page text: COULD NOT CHECK — the PDF has 2 pages, and the issuer's certificates have one (pages may have been added to it). Check it online, where the file itself is compared with the issuer's record",
    );
    expect(fromFile.outcome).toBe('unchecked');

    // Online: the issuer's record of another file (the one-page PDF it issued) makes it invalid.
    pdfShaByCode.set(ada.code, 'ab'.repeat(32));
    expect((await checkCertificate(path, JWKS_URL, reading)).outcome).toBe('invalid');
    // This very file in the record (a certificate printed before certificates had one page): valid.
    pdfShaByCode.set(ada.code, createHash('sha256').update(bytes).digest('hex'));
    const identical = await checkCertificate(path, JWKS_URL, reading);
    expect(identical.lines.join('\n')).toContain('File: identical to the PDF the issuer issued');
    expect(identical.outcome).toBe('valid');
  });

  it('a page two readers read differently (the viewers one student, the /ActualText reader another) names the student only as the viewers read it', async () => {
    reset();
    const path = join(dir, 'two-readings.pdf');
    await writeFile(path, await readFile(await pdf('two-readings.pdf', ada, {})));
    const jwksFile = join(dir, 'two-readings-jwks.json');
    await writeFile(jwksFile, JSON.stringify(jwksDocument(published, 'https://certs.example.org/api/v1')));
    // What a forger gets by defining the page twice: pdf-lib (the /ActualText reader) keeps the
    // last definition, pdf.js and every viewer the one the cross-reference table names.
    const readings = (viewers: string, shaped: string): CheckIo => ({
      readFile: online.readFile,
      pageText: async () => [{ text: viewers, shaped }],
      pageTextReadsShaped: true,
    });
    const genuine = `${ada.name} ${ada.course} ${ada.code}`;
    const forged = `Mallory Evil ${ada.course} ${ada.code}`;
    const pageLine = (lines: string[]) => lines.find((line) => line.startsWith('Page text')) ?? '';
    const differential = await checkCertificate(path, jwksFile, readings(forged, genuine));
    expect(pageLine(differential.lines)).toMatch(/^Page text: DOES NOT name the signed student/);
    expect(differential.outcome).toBe('invalid');
    expect((await checkCertificate(path, jwksFile, readings(genuine, genuine))).outcome).toBe('valid');
  });

  it('a link with a damaged fragment is invalid, not a crash', async () => {
    reset();
    const jws = await signCredential(ada, issuerKey);
    const report = await checkCertificate(`${VERIFY}/${ada.code}#${jws}%E0%A4%A`, undefined, online);
    expect(report.outcome).toBe('invalid');
  });
});
