import { decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  achievementForCourse,
  buildOpenBadgeCredential,
  type OpenBadgeInput,
  openBadgeJwtClaims,
  signOpenBadgeCredential,
} from '../../lib/credentials/open-badge.ts';
import { type JwtSigner, statusListEntry } from '../../lib/credentials/status-list.ts';
import { validateOpenBadge as validate } from '../support/open-badges-schema.ts';

const base = 'https://certs.example.org/api/v1';
const input: OpenBadgeInput = {
  credentialId: 'https://certs.example.org/verify/ABCD1234EF567890',
  issuer: { id: 'https://certs.example.org', name: 'Example Academy', url: 'https://academy.example.org' },
  achievement: achievementForCourse({
    baseUrl: base,
    course: {
      id: 'c0ffee00-0000-4000-8000-000000000001',
      title: 'Введение в химию',
      code: 'CHEM-101',
      locale: 'ru',
    },
    passPercentage: 70,
  }),
  recipient: { id: 'urn:uuid:5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01', name: 'Ada Lovelace' },
  validFrom: new Date('2025-03-01T10:00:00.123Z'),
  validUntil: new Date('2027-03-01T00:00:00Z'),
  credentialStatus: statusListEntry({ baseUrl: base, listId: 'list-1', index: 94_567 }),
};

describe('OpenBadgeCredential', () => {
  it('validates against the 1EdTech OB 3.0 JSON schema (draft 2019-09)', () => {
    const credential = buildOpenBadgeCredential(input);
    expect(validate(credential), JSON.stringify(validate.errors)).toBe(true);
    const withoutExpiry = buildOpenBadgeCredential({
      ...input,
      validUntil: null,
      recipient: { id: 'urn:x:1' },
    });
    expect(validate(withoutExpiry), JSON.stringify(validate.errors)).toBe(true);
  });

  it('writes every locale a course may store as the schema takes it, or leaves it out', () => {
    // The database accepts ^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$; the schema only canonical
    // language[-Script][-REGION].
    const cases: [string, string | undefined][] = [
      ['ru', 'ru'],
      ['pt-BR', 'pt-BR'],
      ['pt-br', 'pt-BR'],
      ['de-ch', 'de-CH'],
      ['zh-hans', 'zh-Hans'],
      ['sr-latn-rs', 'sr-Latn-RS'],
      ['es-419', 'es-419'],
      ['de-CH-1996', 'de-CH'],
      ['en-x-private', 'en'],
      ['xx-yy-zz', undefined],
    ];
    for (const [locale, expected] of cases) {
      const credential = buildOpenBadgeCredential({
        ...input,
        achievement: achievementForCourse({
          baseUrl: base,
          course: { id: 'c0ffee00-0000-4000-8000-000000000001', title: 'Chemie', locale },
          passPercentage: 70,
        }),
      });
      expect(credential.credentialSubject.achievement.inLanguage, locale).toBe(expected);
      expect(validate(credential), `${locale}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('fails the schema when a required part is missing (the check can fail)', () => {
    const { credentialSubject, ...rest } = buildOpenBadgeCredential(input);
    expect(validate(rest)).toBe(false);
    const { criteria: _criteria, ...achievement } = credentialSubject.achievement;
    expect(validate({ ...rest, credentialSubject: { ...credentialSubject, achievement } })).toBe(false);
  });

  it('is a VC Data Model 2.0 credential: the VC 1.1 form fails the schema, and no 1.1 names are used', () => {
    const credential = buildOpenBadgeCredential(input);
    const { validFrom, validUntil, ...undated } = credential;
    expect(validate({ ...undated, issuanceDate: validFrom, expirationDate: validUntil })).toBe(false);
    expect(
      validate({
        ...credential,
        '@context': ['https://www.w3.org/2018/credentials/v1', credential['@context'][1]],
      }),
    ).toBe(false);
    // Terms neither the VC 2.0 nor the OB 3.0.3 context defines would make it non-conforming.
    expect(Object.keys(credential)).not.toContain('issuanceDate');
    expect(Object.keys(credential)).not.toContain('expirationDate');
    expect(Object.keys(credential.credentialSubject.achievement)).not.toContain('@language');
  });

  it('carries the issuer profile, the achievement of the course, the dates and the status entry', () => {
    const credential = buildOpenBadgeCredential(input);
    expect(credential['@context']).toEqual([
      'https://www.w3.org/ns/credentials/v2',
      'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json',
      // Defines the credentialSchema type 1EdTechJsonSchemaValidator2019 (OB 3.0's own examples).
      'https://purl.imsglobal.org/spec/ob/v3p0/extensions.json',
    ]);
    expect(credential.type).toEqual(['VerifiableCredential', 'OpenBadgeCredential']);
    expect(credential.issuer).toEqual({
      id: 'https://certs.example.org',
      type: ['Profile'],
      name: 'Example Academy',
      url: 'https://academy.example.org',
    });
    expect(credential.credentialSubject.achievement).toMatchObject({
      id: `${base}/courses/c0ffee00-0000-4000-8000-000000000001/achievement`,
      type: ['Achievement'],
      name: 'Введение в химию',
      humanCode: 'CHEM-101',
      inLanguage: 'ru',
      criteria: { narrative: expect.stringContaining('at least 70%') },
    });
    expect(credential.validFrom).toBe('2025-03-01T10:00:00Z');
    expect(credential.validUntil).toBe('2027-03-01T00:00:00Z');
    expect(credential.credentialStatus).toEqual({
      id: `${base}/status/list-1#94567`,
      type: 'BitstringStatusListEntry',
      statusPurpose: 'revocation',
      statusListIndex: '94567',
      statusListCredential: `${base}/status/list-1`,
    });
    const forever = buildOpenBadgeCredential({ ...input, validUntil: null });
    expect(forever).not.toHaveProperty('validUntil');
    expect(forever).not.toHaveProperty('awardedDate');
    expect(openBadgeJwtClaims(forever)).not.toHaveProperty('exp');
  });

  it('a certificate issued after its expiry (a backfilled old pass) is valid from its expiry on, awarded when issued', () => {
    // VC Data Model 2.0: "the validFrom value MUST express a point in time that is temporally the
    // same or earlier than the point in time expressed by the validUntil value".
    const late = buildOpenBadgeCredential({
      ...input,
      validFrom: new Date('2026-12-05T22:08:33.456Z'),
      validUntil: new Date('2021-01-15T00:00:00Z'),
    });
    expect(late.validFrom).toBe('2021-01-15T00:00:00Z');
    expect(late.validUntil).toBe('2021-01-15T00:00:00Z');
    expect(late.awardedDate).toBe('2026-12-05T22:08:33Z');
    expect(validate(late), JSON.stringify(validate.errors)).toBe(true);
    const claims = openBadgeJwtClaims(late);
    expect(Number(claims.nbf)).toBeLessThanOrEqual(Number(claims.exp));
    // Issued before it expires, nothing moves: validFrom is the issue instant, and no awardedDate.
    const current = buildOpenBadgeCredential(input);
    expect(current.validFrom).toBe('2025-03-01T10:00:00Z');
    expect(current).not.toHaveProperty('awardedDate');
  });

  it('maps the JWT claims as OB 3.0 says and verifies with the ES256 public key', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const sign: JwtSigner = (payload, header, options) =>
      new SignJWT(payload)
        .setProtectedHeader({
          alg: 'ES256',
          kid: options?.keyUrl?.('issuer-2025') ?? 'issuer-2025',
          ...header,
        })
        .sign(privateKey);
    const credential = buildOpenBadgeCredential(input);
    const jwt = await signOpenBadgeCredential(credential, sign, 'https://certs.example.org/api/v1');

    // OB 3.0's JOSE header: alg, a kid that is a URI dereferencing to the JWK, typ "JWT"; nothing else.
    expect(decodeProtectedHeader(jwt)).toEqual({
      alg: 'ES256',
      kid: 'https://certs.example.org/api/v1/keys/issuer-2025',
      typ: 'JWT',
    });
    const { payload } = await jwtVerify(jwt, await importJWK(jwk, 'ES256'), {
      issuer: 'https://certs.example.org',
      subject: 'urn:uuid:5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01',
      currentDate: new Date('2026-01-01T00:00:00Z'),
    });
    expect(payload).toMatchObject({
      iss: 'https://certs.example.org',
      jti: 'https://certs.example.org/verify/ABCD1234EF567890',
      sub: 'urn:uuid:5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01',
      nbf: Date.UTC(2025, 2, 1, 10) / 1000,
      exp: Date.UTC(2027, 2, 1) / 1000,
    });
    // The claims set is the credential itself: it validates against the schema as it is.
    expect(validate(payload), JSON.stringify(validate.errors)).toBe(true);
    // An expired credential fails the standard JWT checks.
    await expect(
      jwtVerify(jwt, await importJWK(jwk, 'ES256'), { currentDate: new Date('2027-03-02T00:00:00Z') }),
    ).rejects.toThrow(/exp/);
    // Another key does not verify it.
    const other = await generateKeyPair('ES256');
    await expect(jwtVerify(jwt, other.publicKey)).rejects.toThrow();
  });
});
