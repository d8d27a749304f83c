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
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(network, prefix, 'ipv6');
}

/** An IPv4 address carried inside an IPv6 one (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96). */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const high = Number.parseInt(hex[1] ?? '0', 16);
    const low = Number.parseInt(hex[2] ?? '0', 16);
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return undefined;
}

/** True for any address a webhook must not reach unless its host is allow-listed. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const inner = embeddedIpv4(address);
    if (inner !== undefined) return isIP(inner) !== 4 || blocked.check(inner, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true;
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
          const code = (error as { code?: unknown }).code;
          throw new AddressRefusedError(
            `${host} does not resolve (${typeof code === 'string' ? code : 'DNS error'})`,
          );
        }
      }
      const first = addresses[0];
      if (!first) throw new AddressRefusedError(`${host} does not resolve`);
      if (allowed(host)) return first;
      // Any private answer refuses the host: a mixed answer is how rebinding attacks start.
      const refused = addresses.find((entry) => isPrivateAddress(entry.address));
      if (refused) {
        // Which address is not said: the message reaches the admin API (registration answers,
        // the delivery log), and naming it would make the service a lookup of internal names.
        throw new AddressRefusedError(
          `${host} resolves to a private, loopback or link-local address (not in WEBHOOK_ALLOWED_HOSTS)`,
        );
      }
      return first;
    },
  };
}
