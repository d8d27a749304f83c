import { gunzipSync, gzipSync } from 'node:zlib';

/**
 * W3C Bitstring Status List v1.0 (https://www.w3.org/TR/vc-bitstring-status-list/): the
 * bitstring, its `encodedList` form, the `BitstringStatusListCredential` that publishes it and
 * the `BitstringStatusListEntry` a certificate's credential points at. Pure functions; signing
 * is a parameter (the issuer key lives with the verification code).
 *
 * Bit order (the spec's "Bitstring Generation Algorithm": the first index, zero, is the
 * left-most bit of the bitstring): index i is byte floor(i / 8), bit 7 - (i mod 8) of that
 * byte (most significant bit first).
 */

/** The spec's minimum list length (16 KB of bits), so one entry hides among many (herd privacy). */
export const MIN_STATUS_LIST_SIZE = 131_072;

/** Multibase prefix of base64url without padding (the spec's `encodedList`). */
const MULTIBASE_BASE64URL = 'u';

/** Decompressed lists larger than this are refused: a tiny gzip can expand to gigabytes. */
const MAX_DECODED_BYTES = 16 * 1024 * 1024;

export type StatusPurpose = 'revocation' | 'suspension';

export class StatusListFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StatusListFormatError';
  }
}

function assertSize(size: number): void {
  if (!Number.isInteger(size) || size < MIN_STATUS_LIST_SIZE || size % 8 !== 0) {
    throw new RangeError(`status list size must be a multiple of 8 and at least ${MIN_STATUS_LIST_SIZE}`);
  }
}

function assertIndex(bits: Uint8Array, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= bits.length * 8) {
    throw new RangeError(`status list index ${index} is outside 0..${bits.length * 8 - 1}`);
  }
}

/** A list of `size` entries, all unset. */
export function createBitstring(size: number = MIN_STATUS_LIST_SIZE): Uint8Array {
  assertSize(size);
  return new Uint8Array(size / 8);
}

/** Byte offset and mask of entry `index` (most significant bit of byte 0 is index 0). */
function position(index: number): { byte: number; mask: number } {
  return { byte: Math.floor(index / 8), mask: 0x80 >> (index % 8) };
}

export function getBit(bits: Uint8Array, index: number): boolean {
  assertIndex(bits, index);
  const { byte, mask } = position(index);
  return ((bits[byte] ?? 0) & mask) !== 0;
}

/** A copy of `bits` with entry `index` set to `value` (the input is not modified). */
export function withBit(bits: Uint8Array, index: number, value: boolean): Uint8Array {
  assertIndex(bits, index);
  const next = new Uint8Array(bits);
  const { byte, mask } = position(index);
  const current = next[byte] ?? 0;
  next[byte] = value ? current | mask : current & ~mask;
  return next;
}

/** Indexes of every set entry, ascending. */
export function setIndexes(bits: Uint8Array): number[] {
  const indexes: number[] = [];
  bits.forEach((value, byte) => {
    if (value === 0) return;
    for (let bit = 0; bit < 8; bit++) if (value & (0x80 >> bit)) indexes.push(byte * 8 + bit);
  });
  return indexes;
}

/** The spec's "Bitstring Generation Algorithm": GZIP, then base64url without padding, multibase 'u'. */
export function encodeStatusList(bits: Uint8Array): string {
  assertSize(bits.length * 8);
  return MULTIBASE_BASE64URL + gzipSync(bits).toString('base64url');
}

/** The spec's "Bitstring Expansion Algorithm"; refuses anything that is not that encoding. */
export function decodeStatusList(encodedList: string): Uint8Array {
  if (!encodedList.startsWith(MULTIBASE_BASE64URL)) {
    throw new StatusListFormatError("encodedList must start with the multibase base64url prefix 'u'");
  }
  const body = encodedList.slice(1);
  if (body.length === 0 || !/^[A-Za-z0-9_-]+$/.test(body)) {
    throw new StatusListFormatError('encodedList is not base64url without padding');
  }
  let bits: Buffer;
  try {
    bits = gunzipSync(Buffer.from(body, 'base64url'), { maxOutputLength: MAX_DECODED_BYTES });
  } catch {
    throw new StatusListFormatError('encodedList is not GZIP-compressed or is too large');
  }
  if (bits.length * 8 < MIN_STATUS_LIST_SIZE) {
    throw new StatusListFormatError(`status list has fewer than ${MIN_STATUS_LIST_SIZE} entries`);
  }
  return new Uint8Array(bits);
}

/** Where a list's credential is published: `{baseUrl}/status/{listId}`. */
export function statusListCredentialUrl(baseUrl: string, listId: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/status/${encodeURIComponent(listId)}`;
}

export interface BitstringStatusListEntry {
  id: string;
  type: 'BitstringStatusListEntry';
  statusPurpose: StatusPurpose;
  /** A string by the spec (an integer as decimal digits). */
  statusListIndex: string;
  statusListCredential: string;
}

/** The `credentialStatus` of a certificate's credential (the spec's BitstringStatusListEntry). */
export function statusListEntry(input: {
  baseUrl: string;
  listId: string;
  index: number;
  purpose?: StatusPurpose;
}): BitstringStatusListEntry {
  if (!Number.isInteger(input.index) || input.index < 0)
    throw new RangeError('status list index must be >= 0');
  const credential = statusListCredentialUrl(input.baseUrl, input.listId);
  return {
    id: `${credential}#${input.index}`,
    type: 'BitstringStatusListEntry',
    statusPurpose: input.purpose ?? 'revocation',
    statusListIndex: String(input.index),
    statusListCredential: credential,
  };
}

export interface BitstringStatusListCredential {
  '@context': ['https://www.w3.org/ns/credentials/v2'];
  id: string;
  type: ['VerifiableCredential', 'BitstringStatusListCredential'];
  issuer: string;
  validFrom: string;
  validUntil?: string;
  credentialSubject: {
    id: string;
    type: 'BitstringStatusList';
    statusPurpose: StatusPurpose;
    encodedList: string;
    /** Milliseconds a verifier may cache the list (the spec's `ttl`). */
    ttl?: number;
  };
}

/** The unsigned status list credential (VC Data Model 2.0, the spec's BitstringStatusListCredential). */
export function buildStatusListCredential(input: {
  baseUrl: string;
  listId: string;
  issuer: string;
  purpose: StatusPurpose;
  bits: Uint8Array;
  validFrom: Date;
  validUntil?: Date;
  ttlMs?: number;
}): BitstringStatusListCredential {
  const id = statusListCredentialUrl(input.baseUrl, input.listId);
  return {
    '@context': ['https://www.w3.org/ns/credentials/v2'],
    id,
    type: ['VerifiableCredential', 'BitstringStatusListCredential'],
    issuer: input.issuer,
    validFrom: isoSeconds(input.validFrom),
    ...(input.validUntil ? { validUntil: isoSeconds(input.validUntil) } : {}),
    credentialSubject: {
      id: `${id}#list`,
      type: 'BitstringStatusList',
      statusPurpose: input.purpose,
      encodedList: encodeStatusList(input.bits),
      ...(input.ttlMs !== undefined ? { ttl: input.ttlMs } : {}),
    },
  };
}

/** XMLSchema dateTimeStamp without milliseconds, as the specs' examples write it. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function epochSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** Signs a JWT payload with the issuer's current credentials key (RS256, `kid` in the header). */
export type JwtSigner = (
  payload: Record<string, unknown>,
  header: { typ: string; cty?: string },
  /** `keyUrl`: the JOSE `kid` as a URL built from the key's thumbprint (default: the thumbprint). */
  options?: { keyUrl?: (thumbprint: string) => string },
) => Promise<string>;

/**
 * The list credential secured as a VC-JWT the VC-JOSE-COSE way (the JWT claims set is the
 * credential itself, `typ` "vc+jwt", `cty` "vc"), plus the registered claims a JWT library
 * checks: `iss`, and `exp` when the list has a `validUntil`. No `jti`: the list is signed again
 * for every request (a new `exp`, new bits after a revocation), and RFC 7519 §4.1.7 makes a `jti`
 * unique to one JWT, the key of replay caches; the list's `id` is what names it. No `nbf`: VC-JOSE-COSE
 * §3.1.3 calls it NOT RECOMMENDED, and a verifier whose clock runs a second behind would refuse
 * a list changed a moment ago; `validFrom` says when the bits last changed.
 *
 * `keyUrl` builds the JOSE `kid` as a URL that dereferences to the key, as the Open Badges
 * credential that points at this list does, with the same key and algorithm (RS256): a wallet
 * resolves the key from `kid`. Bitstring Status List §3.6 also says both SHOULD have the same
 * media type, which two specs make impossible here: Open Badges 3.0 requires its VC-JWT's `typ`
 * to be "JWT" (served as text/plain), VC-JOSE-COSE wants "vc+jwt" (application/vc+jwt) for the
 * list. Each follows its own specification's MUST; the SHOULD is the one not met.
 */
export async function signStatusListCredential(
  credential: BitstringStatusListCredential,
  sign: JwtSigner,
  keyUrl?: (thumbprint: string) => string,
): Promise<string> {
  return sign(
    {
      ...credential,
      iss: credential.issuer,
      ...(credential.validUntil ? { exp: epochSeconds(new Date(credential.validUntil)) } : {}),
    },
    { typ: 'vc+jwt', cty: 'vc' },
    keyUrl ? { keyUrl } : undefined,
  );
}
