import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { describe, expect, it } from 'vitest';
import {
  buildStatusListCredential,
  createBitstring,
  decodeStatusList,
  encodeStatusList,
  getBit,
  type JwtSigner,
  MIN_STATUS_LIST_SIZE,
  StatusListFormatError,
  setIndexes,
  signStatusListCredential,
  statusListEntry,
  withBit,
} from '../../lib/credentials/status-list.ts';

// The W3C spec's own examples; see the fixture's "source" for where they come from.
const example = JSON.parse(
  readFileSync(
    new URL('../fixtures/status-list/w3c-bitstring-status-list-example.json', import.meta.url),
    'utf8',
  ),
) as {
  statusListCredential: { credentialSubject: { encodedList: string } } & Record<string, unknown>;
  credentialStatus: Record<string, string>;
};

describe('Bitstring Status List encoding', () => {
  it("decodes the spec's example encodedList to 131,072 unset entries", () => {
    const bits = decodeStatusList(example.statusListCredential.credentialSubject.encodedList);
    expect(bits.length * 8).toBe(MIN_STATUS_LIST_SIZE);
    expect(setIndexes(bits)).toEqual([]);
  });

  it("encodes an empty list to what the spec's example decodes to, with the multibase 'u' prefix and no padding", () => {
    const encoded = encodeStatusList(createBitstring());
    expect(encoded).toMatch(/^u[A-Za-z0-9_-]+$/);
    expect(decodeStatusList(encoded)).toEqual(
      decodeStatusList(example.statusListCredential.credentialSubject.encodedList),
    );
  });

  it('round-trips a list with entries set at both ends and in the middle', () => {
    let bits = createBitstring(MIN_STATUS_LIST_SIZE * 2);
    for (const index of [0, 7, 8, 94_567, MIN_STATUS_LIST_SIZE * 2 - 1]) bits = withBit(bits, index, true);
    const decoded = decodeStatusList(encodeStatusList(bits));
    expect(setIndexes(decoded)).toEqual([0, 7, 8, 94_567, MIN_STATUS_LIST_SIZE * 2 - 1]);
    expect(decoded.length).toBe(MIN_STATUS_LIST_SIZE / 4);
  });

  it('puts index 0 at the left-most (most significant) bit of the first byte', () => {
    const bits = withBit(createBitstring(), 0, true);
    expect(bits[0]).toBe(0b1000_0000);
    const seventh = withBit(createBitstring(), 7, true);
    expect(seventh[0]).toBe(0b0000_0001);
    const ninth = withBit(createBitstring(), 9, true);
    expect([ninth[0], ninth[1]]).toEqual([0, 0b0100_0000]);
    // The same order a verifier reading raw bytes uses, independent of this module.
    const gz = gzipSync(Uint8Array.from([0b0010_0000, ...new Uint8Array(MIN_STATUS_LIST_SIZE / 8 - 1)]));
    expect(setIndexes(decodeStatusList(`u${gz.toString('base64url')}`))).toEqual([2]);
  });

  it('revoking flips exactly one bit of the decoded list', () => {
    const before = withBit(withBit(createBitstring(), 12, true), 100_000, true);
    const after = decodeStatusList(encodeStatusList(withBit(before, 94_567, true)));
    let differing = 0;
    for (let i = 0; i < MIN_STATUS_LIST_SIZE; i++) if (getBit(before, i) !== getBit(after, i)) differing++;
    expect(differing).toBe(1);
    expect(getBit(after, 94_567)).toBe(true);
    expect(getBit(before, 94_567)).toBe(false);
  });

  it('refuses lists shorter than the minimum, other encodings and out-of-range indexes', () => {
    expect(() => createBitstring(1024)).toThrow(RangeError);
    // Whole bytes only: the spec's bitstring is bytes, index 0 the first byte's leftmost bit.
    expect(() => createBitstring(MIN_STATUS_LIST_SIZE + 4)).toThrow(RangeError);
    const short = `u${gzipSync(new Uint8Array(1024)).toString('base64url')}`;
    expect(() => decodeStatusList(short)).toThrow(StatusListFormatError);
    const body = example.statusListCredential.credentialSubject.encodedList.slice(1);
    expect(() => decodeStatusList(body)).toThrow(/prefix/);
    expect(() => decodeStatusList(`z${body}`)).toThrow(/prefix/);
    expect(() => decodeStatusList(`u${body}=`)).toThrow(/base64url/);
    expect(() => decodeStatusList('uAAAA')).toThrow(/GZIP/);
    expect(() => withBit(createBitstring(), MIN_STATUS_LIST_SIZE, true)).toThrow(RangeError);
    expect(() => getBit(createBitstring(), -1)).toThrow(RangeError);
  });

  it('refuses a decompression bomb instead of inflating it', () => {
    const bomb = `u${gzipSync(new Uint8Array(64 * 1024 * 1024)).toString('base64url')}`;
    expect(() => decodeStatusList(bomb)).toThrow(StatusListFormatError);
  });
});

describe('status list credential and entry', () => {
  it("has the shape of the spec's example credential and entry", () => {
    const credential = buildStatusListCredential({
      baseUrl: 'https://example.com/credentials/',
      listId: '3',
      issuer: 'did:example:12345',
      purpose: 'revocation',
      bits: createBitstring(),
      validFrom: new Date('2021-04-05T14:27:40.000Z'),
    });
    // The subject id is the issuer's choice (the example uses another path); ours is `{list}#list`.
    const { encodedList: _ours, id: ourSubjectId, ...subject } = credential.credentialSubject;
    const {
      encodedList: _theirs,
      id: _theirId,
      ...exampleSubject
    } = example.statusListCredential.credentialSubject as Record<string, string>;
    expect(ourSubjectId).toBe('https://example.com/credentials/status/3#list');
    expect({ ...credential, credentialSubject: subject }).toEqual({
      ...example.statusListCredential,
      credentialSubject: exampleSubject,
    });
    expect(
      statusListEntry({ baseUrl: 'https://example.com/credentials', listId: '3', index: 94_567 }),
    ).toEqual(example.credentialStatus);
  });

  it('signs as a VC-JWT whose claims are the credential, verifiable with the public key', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const sign: JwtSigner = (payload, header, options) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', kid: options?.keyUrl?.('test-key') ?? 'test-key', ...header })
        .sign(privateKey);
    const bits = withBit(createBitstring(), 42, true);
    const credential = buildStatusListCredential({
      baseUrl: 'https://certs.example.org/api/v1',
      listId: 'a1',
      issuer: 'https://certs.example.org',
      purpose: 'revocation',
      bits,
      validFrom: new Date('2025-01-01T00:00:00Z'),
      validUntil: new Date('2025-01-01T00:05:00Z'),
      ttlMs: 300_000,
    });
    const jwt = await signStatusListCredential(
      credential,
      sign,
      (thumbprint) => `https://certs.example.org/api/v1/keys/${thumbprint}`,
    );

    // The kid a wallet dereferences, as on the Open Badges credential that points at the list.
    expect(decodeProtectedHeader(jwt)).toEqual({
      alg: 'ES256',
      kid: 'https://certs.example.org/api/v1/keys/test-key',
      typ: 'vc+jwt',
      cty: 'vc',
    });
    // No nbf: a verifier whose clock is behind validFrom still accepts the list.
    const { payload } = await jwtVerify(jwt, await importJWK(publicJwk, 'ES256'), {
      currentDate: new Date('2024-12-31T23:59:55Z'),
      issuer: 'https://certs.example.org',
    });
    expect(payload.nbf).toBeUndefined();
    // No jti: each request signs the list anew, and a jti names one JWT (replay caches key on it).
    expect(payload.jti).toBeUndefined();
    expect(payload).toMatchObject({
      id: 'https://certs.example.org/api/v1/status/a1',
      validFrom: '2025-01-01T00:00:00Z',
      exp: 1_735_689_900,
      credentialSubject: { ttl: 300_000, statusPurpose: 'revocation' },
    });
    const subject = decodeJwt(jwt).credentialSubject as { encodedList: string };
    expect(setIndexes(decodeStatusList(subject.encodedList))).toEqual([42]);
  });
});
