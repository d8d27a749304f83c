import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { base64url, CompactSign, createLocalJWKSet, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CertificateFacts } from '../../lib/certificates/facts.ts';
import {
  CLAIM_BUDGETS,
  credentialUrl,
  cutToBytes,
  factsMatch,
  isIssuersCutOf,
  QR_URL_BUDGET,
  signCredential,
  verifyCredential,
} from '../../lib/credentials/credential.ts';
import {
  issuerKeyUrl,
  jwksDocument,
  type PublishedKey,
  parseJwks,
  thumbprintOfKid,
} from '../../lib/credentials/jwks.ts';
import { signingKeyFromSecret } from '../../lib/credentials/key-source.ts';
import {
  generateSigningJwk,
  jwkThumbprint,
  publicIssuerJwk,
  type SigningKey,
  signingKeyFromJwk,
} from '../../lib/credentials/keys.ts';
import { jwtSignerFor } from '../../lib/credentials/signer.ts';
import { ConfigurationError } from '../../lib/errors.ts';
import { signWithCriticalExtension } from '../support/critical-jws.ts';

/** RFC 7515 Appendix A.2: an RSA key and the RS256 JWS it makes of the example payload. */
const rfc7515a2 = JSON.parse(
  readFileSync(new URL('../fixtures/rfc7515-appendix-a2.json', import.meta.url), 'utf8'),
) as { jwk: Record<string, string>; jws: string };

const rfc7638 = JSON.parse(
  readFileSync(new URL('../fixtures/rfc7638-section-3.1.json', import.meta.url), 'utf8'),
) as { jwk: { kty: string }; thumbprintSha256: string };

const facts: CertificateFacts = {
  code: 'K7Q2M9X4T8B3N6PZ',
  name: 'Ada Lovelace',
  course: 'Analytical Engines 101',
  score: '87.5/100',
  issued: '2026-03-14',
  expires: null,
  issuer: 'Northbridge Academy',
};

let oldKey: SigningKey;
let newKey: SigningKey;
beforeAll(async () => {
  oldKey = await signingKeyFromJwk(await generateSigningJwk());
  newKey = await signingKeyFromJwk(await generateSigningJwk());
});

/** Replaces the payload segment, keeping header and signature. */
function withPayload(jws: string, payload: unknown): string {
  const [header, , signature] = jws.split('.');
  return `${header}.${base64url.encode(JSON.stringify(payload))}.${signature}`;
}

describe('issuer keys', () => {
  it('computes the RFC 7638 example thumbprint (section 3.1)', async () => {
    expect(await jwkThumbprint(rfc7638.jwk)).toBe(rfc7638.thumbprintSha256);
  });

  it('kid is the thumbprint of the public key, and the JWKS carries no private member', async () => {
    const jwk = await generateSigningJwk();
    const key = await signingKeyFromJwk(jwk);
    expect(key.kid).toBe(await jwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }));
    const document = jwksDocument(
      [{ jwk: key.publicJwk, state: 'current' }],
      'https://certs.example.org/api/v1',
    );
    // Under its thumbprint (the facts' JWS), then under its URL (Open Badges signed with it).
    expect(document.keys).toEqual([
      { ...key.publicJwk, alg: 'ES256', use: 'sig' },
      {
        ...key.publicJwk,
        alg: 'ES256',
        use: 'sig',
        kid: issuerKeyUrl('https://certs.example.org/api/v1', key.kid),
      },
    ]);
    expect(JSON.stringify(document)).not.toContain(String(jwk.d));
    expect(key.privateKey.extractable).toBe(false);
  });

  it('refuses a key that is not a private P-256 JWK, without quoting it', async () => {
    const jwk = await generateSigningJwk();
    const error = await signingKeyFromJwk({ ...jwk, crv: 'P-384' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).not.toContain(String(jwk.d));
    await expect(signingKeyFromJwk({ ...jwk, d: undefined })).rejects.toThrow(/private EC P-256/);
  });
});

describe('the RS256 credentials key', () => {
  it("signs RFC 7515 Appendix A.2's example exactly as the RFC does (RS256 is deterministic)", async () => {
    const key = await signingKeyFromJwk(rfc7515a2.jwk, 'RS256');
    const [header, payload] = rfc7515a2.jws.split('.');
    expect(base64url.decode(header ?? '')).toEqual(new TextEncoder().encode('{"alg":"RS256"}'));
    const jws = await new CompactSign(base64url.decode(payload ?? ''))
      .setProtectedHeader({ alg: 'RS256' })
      .sign(key.privateKey);
    expect(jws).toBe(rfc7515a2.jws);
    // Published as RFC 7517 wants it: the public members, its thumbprint as kid, nothing private.
    const { kty, n, e } = rfc7515a2.jwk;
    expect(key.publicJwk).toEqual({
      kty,
      n,
      e,
      kid: await jwkThumbprint({ kty, n, e }),
      alg: 'RS256',
      use: 'sig',
    });
    expect(key.alg).toBe('RS256');
    expect(key.privateKey.extractable).toBe(false);
  });

  it("publishes RFC 7638's example RSA key under the example's thumbprint, whatever kid and alg it came with", async () => {
    const published = await publicIssuerJwk(rfc7638.jwk);
    expect(published).toMatchObject({ kty: 'RSA', alg: 'RS256', kid: rfc7638.thumbprintSha256 });
    expect(await publicIssuerJwk({ ...rfc7638.jwk, kid: 'relabelled', alg: 'PS512' })).toEqual(published);
  });

  it('signs JWTs in its own algorithm, with its kid or the URL built from it', async () => {
    const key = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    const jwt = await jwtSignerFor(key)(
      { iss: 'https://certs.example.org' },
      { typ: 'JWT' },
      {
        keyUrl: (kid) => `https://certs.example.org/api/v1/keys/${kid}`,
      },
    );
    expect(decodeProtectedHeader(jwt)).toEqual({
      typ: 'JWT',
      alg: 'RS256',
      kid: `https://certs.example.org/api/v1/keys/${key.kid}`,
    });
    await expect(jwtVerify(jwt, await importJWK(key.publicJwk, 'RS256'))).resolves.toBeTruthy();
  });

  it('refuses a modulus under 2048 bits (RFC 7518 §3.3), a key of the other kind and a key without its CRT members, never quoting it', async () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });
    await expect(signingKeyFromJwk(small, 'RS256')).rejects.toThrow(/RSA JWK of at least 2048 bits/);
    await expect(publicIssuerJwk({ kty: 'RSA', n: small.n, e: small.e })).rejects.toThrow(
      /at least 2048 bits/,
    );
    const rsa = await generateSigningJwk('RS256');
    const ec = await generateSigningJwk();
    const errors = await Promise.all([
      signingKeyFromJwk(ec, 'RS256').catch((error: unknown) => error),
      signingKeyFromJwk(rsa, 'ES256').catch((error: unknown) => error),
      signingKeyFromJwk({ ...rsa, qi: undefined }, 'RS256').catch((error: unknown) => error),
      // The public part of another key: WebCrypto imports it, and nothing it signed would verify.
      signingKeyFromJwk({ ...rsa, n: (await generateSigningJwk('RS256')).n }, 'RS256').catch(
        (error: unknown) => error,
      ),
      signingKeyFromJwk({ ...ec, x: (await generateSigningJwk()).x }).catch((error: unknown) => error),
    ]);
    expect(errors.map((error) => (error as Error).message)).toEqual([
      expect.stringMatching(/private RSA JWK/),
      expect.stringMatching(/private EC P-256 JWK/),
      expect.stringMatching(/private RSA JWK/),
      expect.stringMatching(/not a valid private RS256 key: its private part does not match its public key/),
      expect.stringMatching(/not a valid private ES256 key/),
    ]);
    for (const error of errors) {
      expect((error as Error).message).not.toContain(String(rsa.d));
      expect((error as Error).message).not.toContain(String(ec.d));
    }
  });

  it('refuses a modulus or exponent with a leading zero octet (RFC 7518 §2: the minimum number of octets)', async () => {
    const jwk = await generateSigningJwk('RS256');
    const padded = (value: unknown) =>
      Buffer.concat([Buffer.from([0]), Buffer.from(String(value), 'base64url')]).toString('base64url');
    await expect(publicIssuerJwk({ kty: 'RSA', n: padded(jwk.n), e: jwk.e })).rejects.toThrow(
      /minimal octets/,
    );
    await expect(publicIssuerJwk({ kty: 'RSA', n: jwk.n, e: padded(jwk.e) })).rejects.toThrow(
      /minimal octets/,
    );
    await expect(signingKeyFromJwk({ ...jwk, n: padded(jwk.n) }, 'RS256')).rejects.toThrow(/minimal octets/);
    expect((await publicIssuerJwk({ kty: 'RSA', n: jwk.n, e: jwk.e })).alg).toBe('RS256');
  });

  it('refuses a P-256 coordinate or private scalar short of 32 octets (RFC 7518 §6.2.1.2: the full size)', async () => {
    const jwk = await generateSigningJwk();
    const short = (value: unknown) =>
      Buffer.from(String(value), 'base64url').subarray(1).toString('base64url');
    const { kty, crv, x, y } = jwk;
    for (const bad of [
      { kty, crv, x: short(x), y },
      { kty, crv, x, y: short(y) },
    ]) {
      await expect(publicIssuerJwk(bad)).rejects.toThrow(/an EC P-256 JWK/);
      // A JWK Set entry like it is not a key of this issuer's: skipped, the good one kept.
      expect((await parseJwks({ keys: [bad, { kty, crv, x, y }] })).map((key) => key.jwk)).toMatchObject([
        { x },
      ]);
    }
    await expect(signingKeyFromJwk({ ...jwk, d: short(jwk.d) })).rejects.toThrow(/private EC P-256/);
    expect((await publicIssuerJwk({ kty, crv, x, y })).alg).toBe('ES256');
  });

  it('names the variable a bad key came from, as a configuration error that never quotes the key', async () => {
    const ec = await generateSigningJwk();
    const errors = await Promise.all([
      signingKeyFromSecret(async () => JSON.stringify(ec), 'RS256').catch((error: unknown) => error),
      signingKeyFromSecret(async () => 'not json').catch((error: unknown) => error),
    ]);
    expect(errors[0]).toBeInstanceOf(ConfigurationError);
    expect((errors[0] as Error).message).toMatch(
      /^CREDENTIAL_SIGNING_KEY: signing key must be a private RSA JWK/,
    );
    expect((errors[1] as Error).message).toMatch(/^SIGNING_KEY: the ES256 signing key is not JSON/);
    expect((errors[0] as Error).message).not.toContain(String(ec.d));
  });

  it('a JWK Set is read with both kinds of key, each with its algorithm; an RSA key under 2048 bits is skipped', async () => {
    const rsaJwk = await generateSigningJwk('RS256');
    const rsa = await signingKeyFromJwk(rsaJwk, 'RS256');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    // Each refused entry a key of its own: one the accepted entries also hold would be dropped as
    // a second listing of that key, whatever rule it broke.
    const other = async () => {
      const { n, e } = await generateSigningJwk('RS256');
      return { kty: 'RSA', n, e };
    };
    const { kty, crv, x, y } = await generateSigningJwk();
    const keys = await parseJwks({
      // As another issuer may publish it: no kid, alg or use of ours. Keys for encryption, or
      // whose alg says another algorithm, are not signature keys.
      keys: [
        oldKey.publicJwk,
        { kty: 'RSA', n: rsaJwk.n, e: rsaJwk.e },
        small,
        { ...(await other()), use: 'enc' },
        { ...(await other()), alg: 'PS256' },
        { ...(await other()), key_ops: ['encrypt'] },
        { kty, crv, x, y, use: 'enc' },
        { kty, crv, x, y, alg: 'RS256' },
      ],
    });
    expect(keys.map((key) => [key.jwk.kid, key.jwk.alg])).toEqual([
      [oldKey.kid, 'ES256'],
      [rsa.kid, 'RS256'],
    ]);
  });

  it("signs no facts, and a facts JWS naming it is not the issuer's", async () => {
    const rsa = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    await expect(signCredential(facts, rsa)).rejects.toThrow(/ES256 key, not RS256/);
    // A genuine ES256 signature of the facts key, relabelled with the RSA key's kid.
    const relabelled = await new CompactSign(new TextEncoder().encode('{}'))
      .setProtectedHeader({ alg: 'ES256', kid: rsa.kid })
      .sign(oldKey.privateKey);
    const check = await verifyCredential(relabelled, [
      { jwk: oldKey.publicJwk, state: 'current' },
      { jwk: rsa.publicJwk, state: 'current' },
    ]);
    expect(check).toMatchObject({
      verdict: 'unknown-key',
      message: `key ${rsa.kid} is not the issuer's ES256 facts key`,
    });
  });
});

describe('Open Badges kid URL', () => {
  it('names the key by a URL whose last segment is its thumbprint; a bare thumbprint stays as it is', () => {
    const thumbprint = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
    const url = issuerKeyUrl('https://certs.example.org/api/v1/', thumbprint);
    expect(url).toBe(`https://certs.example.org/api/v1/keys/${thumbprint}`);
    expect(thumbprintOfKid(url)).toBe(thumbprint);
    // Credentials issued before the kid became a URL.
    expect(thumbprintOfKid(thumbprint)).toBe(thumbprint);
    // Anything else is left alone, so looking it up in the JWK Set finds nothing.
    for (const other of [
      `https://certs.example.org/api/v1/keys/${thumbprint}?x=1`,
      `urn:x:/keys/${thumbprint}`,
      'https://certs.example.org/keys/short',
    ])
      expect(thumbprintOfKid(other)).toBe(other);
  });
});

describe('signed credential', () => {
  it('verifies and commits to the full facts', async () => {
    const jws = await signCredential(facts, oldKey);
    const check = await verifyCredential(jws, [{ jwk: oldKey.publicJwk, state: 'current' }]);
    expect(check).toMatchObject({ verdict: 'valid', kid: oldKey.kid });
    if (check.verdict !== 'valid') return;
    expect(check.claims).toMatchObject({ c: facts.code, n: 'Ada Lovelace', s: '87.5/100', d: '2026-03-14' });
    expect(await factsMatch(check.claims, facts)).toBe(true);
    expect(await factsMatch(check.claims, { ...facts, name: 'Ada Lovelace.' })).toBe(false);
    expect(await factsMatch(check.claims, { ...facts, score: '97.5/100' })).toBe(false);
  });

  it('a tampered payload fails the signature', async () => {
    const jws = await signCredential(facts, oldKey);
    const check = await verifyCredential(jws, [{ jwk: oldKey.publicJwk, state: 'current' }]);
    if (check.verdict !== 'valid') throw new Error('expected valid');
    const tampered = withPayload(jws, { ...check.claims, s: '100/100' });
    expect((await verifyCredential(tampered, [{ jwk: oldKey.publicJwk, state: 'current' }])).verdict).toBe(
      'bad-signature',
    );
  });

  it('one changed character anywhere fails', async () => {
    const jws = await signCredential(facts, oldKey);
    const keys: PublishedKey[] = [{ jwk: oldKey.publicJwk, state: 'current' }];
    const at = jws.indexOf('.') + 10;
    const changed = jws.slice(0, at) + (jws[at] === 'A' ? 'B' : 'A') + jws.slice(at + 1);
    expect((await verifyCredential(changed, keys)).verdict).not.toBe('valid');
    expect((await verifyCredential('not.a-jws', keys)).verdict).toBe('malformed');
  });

  it('a genuine signature whose header lists critical extensions is malformed, not valid (RFC 7515 §4.1.11)', async () => {
    const jws = await signWithCriticalExtension(facts, oldKey);
    expect(await verifyCredential(jws, [{ jwk: oldKey.publicJwk, state: 'current' }])).toMatchObject({
      verdict: 'malformed',
      message: expect.stringContaining('critical header parameters (crit)'),
    });
  });

  it('an unknown kid is reported as such', async () => {
    const jws = await signCredential(facts, newKey);
    const check = await verifyCredential(jws, [{ jwk: oldKey.publicJwk, state: 'current' }]);
    expect(check).toMatchObject({ verdict: 'unknown-key', kid: newKey.kid });
  });

  it('a JWKS that relabels another key with the kid does not verify', async () => {
    const jws = await signCredential(facts, oldKey);
    const forged = { ...newKey.publicJwk, kid: oldKey.kid };
    expect((await verifyCredential(jws, [{ jwk: forged, state: 'current' }])).verdict).toBe('unknown-key');
  });

  it('rotation: a certificate signed by the retired key still verifies next to the new key', async () => {
    const old = await signCredential(facts, oldKey);
    const fresh = await signCredential({ ...facts, code: 'NEWCODE123456789' }, newKey);
    const keys = await parseJwks(
      jwksDocument(
        [
          { jwk: newKey.publicJwk, state: 'current' },
          { jwk: oldKey.publicJwk, state: 'retired' },
        ],
        'https://certs.example.org/api/v1',
      ),
    );
    expect((await verifyCredential(old, keys)).verdict).toBe('valid');
    expect((await verifyCredential(fresh, keys)).verdict).toBe('valid');
  });

  it('lists each key under both kids its tokens carry, the current form first; read back as one key each', async () => {
    const rsa = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    const base = 'https://certs.example.org/api/v1';
    const document = jwksDocument(
      [
        { jwk: newKey.publicJwk, state: 'current' },
        { jwk: rsa.publicJwk, state: 'current' },
      ],
      base,
    );
    expect(document.keys.map((key) => key.kid)).toEqual([
      newKey.kid,
      issuerKeyUrl(base, newKey.kid),
      issuerKeyUrl(base, rsa.kid),
      rsa.kid,
    ]);
    expect(document.keys[2]).toEqual({ ...rsa.publicJwk, kid: issuerKeyUrl(base, rsa.kid) });
    expect((await parseJwks(document)).map((key) => key.jwk.kid)).toEqual([newKey.kid, rsa.kid]);

    // A generic verifier selecting by kid finds the key for every form a token was signed with:
    // a credential under either key's URL (the facts key signed them from 2026-12-03 to 12-05),
    // and under a bare thumbprint.
    const set = createLocalJWKSet(document as unknown as Parameters<typeof createLocalJWKSet>[0]);
    for (const key of [newKey, rsa])
      for (const keyUrl of [(thumbprint: string) => issuerKeyUrl(base, thumbprint), undefined]) {
        const jwt = await jwtSignerFor(key)({ sub: 'x' }, { typ: 'JWT' }, keyUrl ? { keyUrl } : undefined);
        await expect(
          jwtVerify(jwt, set),
          `${key.alg} ${keyUrl ? 'url' : 'thumbprint'}`,
        ).resolves.toBeDefined();
      }
  });

  it('a compromised key: genuine signature, verdict "revoked-key", and generic JOSE verifiers cannot find it', async () => {
    const jws = await signCredential(facts, oldKey);
    const document = jwksDocument(
      [
        { jwk: newKey.publicJwk, state: 'current' },
        { jwk: oldKey.publicJwk, state: 'compromised', revokedAt: '2026-05-01T00:00:00.000Z' },
      ],
      'https://certs.example.org/api/v1',
    );
    expect(document.keys.map((key) => key.kid)).toEqual([
      newKey.kid,
      issuerKeyUrl('https://certs.example.org/api/v1', newKey.kid),
    ]);
    const check = await verifyCredential(jws, await parseJwks(document));
    expect(check).toMatchObject({
      verdict: 'revoked-key',
      kid: oldKey.kid,
      revokedAt: '2026-05-01T00:00:00.000Z',
    });
  });

  it('a key listed both as usable and as revoked (a saved set merged with a newer one) is revoked', async () => {
    const jws = await signCredential(facts, oldKey);
    const document = jwksDocument(
      [{ jwk: oldKey.publicJwk, state: 'compromised', revokedAt: '2026-05-01T00:00:00.000Z' }],
      'https://certs.example.org/api/v1',
    );
    const merged = { ...document, keys: [...document.keys, { ...oldKey.publicJwk }] };
    const keys = await parseJwks(merged);
    expect(keys.filter((key) => key.jwk.kid === oldKey.kid).map((key) => key.state)).toEqual(['compromised']);
    expect(await verifyCredential(jws, keys)).toMatchObject({ verdict: 'revoked-key', kid: oldKey.kid });
  });

  it('cuts long names at a code point boundary within the byte budget, marking the cut', () => {
    const cut = cutToBytes('龍'.repeat(200), CLAIM_BUDGETS.name);
    expect(new TextEncoder().encode(cut).length).toBeLessThanOrEqual(CLAIM_BUDGETS.name);
    expect(cut.endsWith('…')).toBe(true);
    expect(cut.replace('…', '')).toMatch(/^龍+$/u);
    expect(cutToBytes('Ada', CLAIM_BUDGETS.name)).toBe('Ada');
  });

  it("agrees with a record's name or course only as it is, or as the issuer cuts it: not any prefix", () => {
    const name = 'Maximilian Alexander von Habsburg-Lothringen';
    expect(isIssuersCutOf(cutToBytes(name, CLAIM_BUDGETS.name), name, 'name')).toBe(true);
    expect(isIssuersCutOf(name, name, 'name')).toBe(true);
    expect(isIssuersCutOf('…', name, 'name')).toBe(false);
    expect(isIssuersCutOf('Maximilian…', name, 'name')).toBe(false);
    expect(isIssuersCutOf('…', 'Ada', 'name')).toBe(false);
    // Courses were cut at 24 bytes before the budget became 22: both still agree.
    const course = 'Advanced Distributed Systems Engineering';
    expect(isIssuersCutOf(cutToBytes(course, 22), course, 'course')).toBe(true);
    expect(isIssuersCutOf(cutToBytes(course, 24), course, 'course')).toBe(true);
    expect(isIssuersCutOf(cutToBytes(course, 20), course, 'course')).toBe(false);
  });

  it('counts bytes as the JSON payload writes them: a quote takes two', () => {
    const payloadBytes = (text: string) => new TextEncoder().encode(JSON.stringify(text)).length - 2;
    const quotes = cutToBytes('"'.repeat(40), CLAIM_BUDGETS.name);
    expect(payloadBytes(quotes)).toBeLessThanOrEqual(CLAIM_BUDGETS.name);
    // (24 - 3 for the ellipsis) / 2 bytes a quote: 10 quotes, not the 21 a UTF-8 count would keep.
    expect(quotes).toBe(`${'"'.repeat(10)}…`);
    expect(cutToBytes('a"b', 4)).toBe('a"b');
    expect(cutToBytes('a"bc', 4)).toBe('a…');
  });
});

describe('QR payload size', () => {
  it('the worst case (64-character base URL, every field at its limit, any script) fits QR_URL_BUDGET and version 15-L', async () => {
    const { encodeQR } = await import('qr');
    const base = `https://certificates.verification.example-university.edu/verify`;
    expect(base.length).toBeLessThanOrEqual(64);
    // Name, course and issuer characters: multi-byte scripts, ASCII (one byte each, so the most
    // characters fit a budget) and characters JSON escapes (two bytes each in the payload).
    const scripts = [
      ['龍', 'العربية', 'Ж'],
      ['A', 'B', 'C'],
      ['"', '\\', '"'],
      ['Aé', 'Ab', 'Ж'],
    ] as const;
    const lengths: number[] = [];
    for (const [name, course, issuer] of scripts) {
      const worst: CertificateFacts = {
        code: 'K7Q2M9X4T8B3N6PZ',
        name: name.repeat(200),
        course: course.repeat(42),
        score: '99999999.99/99999999.99',
        issued: '2026-03-14',
        expires: '2031-03-14',
        issuer: issuer.repeat(200),
      };
      const url = credentialUrl(`${base}/${worst.code}`, await signCredential(worst, oldKey));
      lengths.push(new TextEncoder().encode(url).length);
      // A version-v symbol is 17 + 4v modules wide (ISO/IEC 18004 §5.3.1); border 1 is the least `qr` draws.
      const modules = encodeQR(url, 'raw', { ecc: 'low', border: 1 }).length - 2;
      expect((modules - 17) / 4).toBeLessThanOrEqual(15);
    }
    expect(Math.max(...lengths)).toBeLessThanOrEqual(QR_URL_BUDGET);
    // The budget is tight: the ASCII case comes within 4 bytes of it.
    expect(Math.max(...lengths)).toBeGreaterThan(QR_URL_BUDGET - 4);
  });
});

describe('facts and budgets', () => {
  it('a certificate signed with other display budgets still matches its facts (h decides)', async () => {
    const long = { ...facts, course: 'Introduction to TypeScript and the Runtime Type System' };
    const jws = await signCredential(long, oldKey);
    const check = await verifyCredential(jws, [{ jwk: oldKey.publicJwk, state: 'current' }]);
    if (check.verdict !== 'valid') throw new Error('expected valid');
    // As if printed by a version with a larger budget: the course shown in full.
    expect(await factsMatch({ ...check.claims, t: long.course }, long)).toBe(true);
    expect(await factsMatch({ ...check.claims, t: 'Introduction to Python…' }, long)).toBe(false);
    expect(await factsMatch(check.claims, { ...long, issuer: 'Other Academy' })).toBe(false);
  });

  it('a long name, course or issuer changed after its cut does not match', async () => {
    // The signed n, t and i are cuts of 24, 22 and 11 bytes: only h binds the full name, course
    // and issuer, so an edited PDF that changes a long one past its cut must not verify.
    const long: CertificateFacts = {
      ...facts,
      name: 'Alexandra Konstantinopoulou-Smith',
      course: 'Introduction to TypeScript and the Runtime Type System',
      issuer: 'Northbridge Academy of Sciences',
    };
    const check = await verifyCredential(await signCredential(long, oldKey), [
      { jwk: oldKey.publicJwk, state: 'current' },
    ]);
    if (check.verdict !== 'valid') throw new Error('expected valid');
    // All three are cut, so the cut comparison alone cannot see the changes below.
    expect([check.claims.n, check.claims.t, check.claims.i].every((shown) => shown.endsWith('…'))).toBe(true);
    expect(await factsMatch(check.claims, long)).toBe(true);
    expect(await factsMatch(check.claims, { ...long, name: 'Alexandra Konstantinopoulou-Jones' })).toBe(
      false,
    );
    expect(
      await factsMatch(check.claims, { ...long, course: 'Introduction to TypeScript: Failed Module' }),
    ).toBe(false);
    expect(await factsMatch(check.claims, { ...long, issuer: 'Northbridge Diploma Mill' })).toBe(false);
  });
});
