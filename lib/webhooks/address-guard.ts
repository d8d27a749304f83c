import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * SSRF protection for webhook URLs. Admins register any URL; this service must not become a
 * way to reach its own network (VPC resources, the instance metadata service at 169.254.169.254,
 * loopback). Every address a host resolves to is checked, at registration and again at each
 * delivery (a name can be re-pointed after it was accepted), and the request then connects to
 * the address that was checked, never to a second lookup's answer.
 * Hosts on WEBHOOK_ALLOWED_HOSTS skip the address check (local development and tests).
 */

export class AddressRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressRefusedError';
  }
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) => {
  const found = await lookup(host, { all: true, verbatim: true });
  return found.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));
};

// Special-purpose ranges (IANA registries): private, loopback, link-local, shared (CGNAT),
// documentation, benchmarking, multicast, reserved, unspecified.
const blocked = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv4');
}
// IPv6 special-purpose ranges inside 2000::/3 (everything outside it is refused below): the
// documentation prefixes (2001:db8::/32, RFC 3849; 3fff::/20, RFC 9637) and benchmarking
// (2001:2::/48, RFC 5180). Loopback, unspecified, unique-local, link-local, site-local, multicast
// and the discard prefix all lie outside 2000::/3.
for (const [network, prefix] of [
  ['2001:db8::', 32],
  ['3fff::', 20],
  ['2001:2::', 48],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** The 16 bytes of an IPv6 address (a zone id, `fe80::1%eth0`, dropped), or undefined if it is not one. */
function ipv6Bytes(address: string): Uint8Array | undefined {
  let text = address.toLowerCase().replace(/%.*$/, '');
  if (isIP(text) !== 6) return undefined;
  // A dotted tail (::ffff:10.0.0.1) becomes its two hex groups.
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  if (groups.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    const value = Number.parseInt(group, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 255;
  });
  return bytes;
}

const ipv4At = (bytes: Uint8Array, ...offsets: number[]) =>
  offsets.map((offset) => bytes[offset] ?? 0).join('.');

/** Whether `bytes` starts with the bytes of `prefix`. */
const startsWith = (bytes: Uint8Array, prefix: readonly number[]) =>
  prefix.every((byte, index) => bytes[index] === byte);

/** The first 80 bits of ::/96 and ::ffff:0:0/96. */
const ZERO_80 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] as const;

/**
 * The IPv4 addresses an IPv6 address carries, for each transition mechanism that delivers such
 * an address to (or through) an IPv4 host; undefined when it is none of them. A webhook to one
 * of these reaches the IPv4 address inside, so that address is what gets checked:
 * - ::/96, IPv4-compatible (RFC 4291 §2.5.5.1, deprecated; `::` and `::1` fall here too);
 * - ::ffff:0:0/96, IPv4-mapped (RFC 4291 §2.5.5.2), and ::ffff:0:0:0/96, SIIT's IPv4-translated
 *   form (RFC 2765 §2.1);
 * - 64:ff9b::/96, NAT64's well-known prefix (RFC 6052 §2.1), IPv4 in the last 32 bits;
 * - 64:ff9b:1::/48, NAT64 for local use (RFC 8215), whose operator picks the prefix length: RFC
 *   6052 §2.2 puts the IPv4 address at a different place for a /48, /56, /64 or /96, and which one
 *   applies cannot be known from here, so every place must hold a public address (fail closed);
 * - 2002::/16, 6to4 (RFC 3056 §2): "2002:V4ADDR::/48";
 * - 2001::/32, Teredo (RFC 4380 §4): the server's IPv4 in bits 32-63 and the client's in the last
 *   32 bits, "obfuscated" (every bit inverted); both are checked.
 */
function embeddedIpv4(bytes: Uint8Array): string[] | undefined {
  const last32 = ipv4At(bytes, 12, 13, 14, 15);
  if (startsWith(bytes, [...ZERO_80, 0, 0])) return [last32];
  if (startsWith(bytes, [...ZERO_80, 0xff, 0xff])) return [last32];
  if (startsWith(bytes, [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0])) return [last32];
  if (startsWith(bytes, [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0])) return [last32];
  if (startsWith(bytes, [0, 0x64, 0xff, 0x9b, 0, 1])) {
    return [
      ipv4At(bytes, 6, 7, 9, 10), // /48
      ipv4At(bytes, 7, 9, 10, 11), // /56
      ipv4At(bytes, 9, 10, 11, 12), // /64
      last32, // /96
    ];
  }
  if (startsWith(bytes, [0x20, 0x02])) return [ipv4At(bytes, 2, 3, 4, 5)];
  if (startsWith(bytes, [0x20, 0x01, 0, 0])) {
    const client = [12, 13, 14, 15].map((offset) => (bytes[offset] ?? 0) ^ 0xff).join('.');
    return [ipv4At(bytes, 4, 5, 6, 7), client];
  }
  return undefined;
}

/** True for any address a webhook must not reach unless its host is allow-listed. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  const bytes = family === 6 ? ipv6Bytes(address) : undefined;
  if (!bytes) return true;
  const inner = embeddedIpv4(bytes);
  if (inner !== undefined) return inner.some((ipv4) => blocked.check(ipv4, 'ipv4'));
  // Only 2000::/3 is global unicast (RFC 4291 §2.4, IANA's IPv6 address space registry); the
  // rest is loopback, link- or site-local, unique-local, multicast, discard or unassigned.
  if ((bytes[0] ?? 0) >> 5 !== 0b001) return true;
  return blocked.check(address.replace(/%.*$/, ''), 'ipv6');
}

export interface AddressGuard {
  /** Resolves the URL's host and returns the address to connect to; throws AddressRefusedError. */
  resolve(url: URL): Promise<ResolvedAddress>;
  /** Whether the host is on the allow-list (which also permits plain http). */
  allowed(host: string): boolean;
}

/** The host of a URL without IPv6 brackets, lower-cased. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

/**
 * The one refusal of a host that is not allow-listed, whether it resolves to a private address
 * or does not resolve at all: the message reaches the admin API (registration answers, the
 * delivery log), and telling the two apart, or naming the address, would make the service a
 * probe of which internal names exist and where they point.
 */
function notPublic(host: string): AddressRefusedError {
  return new AddressRefusedError(
    `${host} does not resolve to a public address: it resolves to a private, loopback or ` +
      'link-local address (not in WEBHOOK_ALLOWED_HOSTS), or not at all',
  );
}

export function createAddressGuard(
  allowedHosts: readonly string[],
  resolver: Resolver = systemResolver,
): AddressGuard {
  const allowList = new Set(allowedHosts.map((host) => host.replace(/^\[|\]$/g, '').toLowerCase()));
  const allowed = (host: string) => allowList.has(host);
  return {
    allowed,
    async resolve(url) {
      const host = hostOf(url);
      const literal = isIP(host);
      let addresses: ResolvedAddress[];
      if (literal !== 0) {
        addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
      } else {
        try {
          addresses = await resolver(host);
        } catch (error) {
          // An allow-listed host is the operator's own: the DNS error helps them and tells nothing.
          if (!allowed(host)) throw notPublic(host);
          const code = (error as { code?: unknown }).code;
          throw new AddressRefusedError(
            `${host} does not resolve (${typeof code === 'string' ? code : 'DNS error'})`,
          );
        }
      }
      const first = addresses[0];
      if (!first) throw allowed(host) ? new AddressRefusedError(`${host} does not resolve`) : notPublic(host);
      if (allowed(host)) return first;
      // Any private answer refuses the host: a mixed answer is how rebinding attacks start.
      if (addresses.some((entry) => isPrivateAddress(entry.address))) throw notPublic(host);
      return first;
    },
  };
}
