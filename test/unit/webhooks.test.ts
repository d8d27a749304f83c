import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../lib/retry-after.ts';
import { type AddressGuard, createAddressGuard, isPrivateAddress } from '../../lib/webhooks/address-guard.ts';
import {
  MAX_ATTEMPTS,
  nextRetryAt,
  RETRY_DELAYS_SECONDS,
  RETRY_JITTER,
  webhookBody,
} from '../../lib/webhooks/events.ts';
import { generateSecret, sign, signatureHeaders } from '../../lib/webhooks/signing.ts';
import signVector from '../fixtures/standard-webhooks/sign-vector.json' with { type: 'json' };

/** Pure parts of the webhooks: address classification, retry schedule, signatures. */

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.5',
    '172.31.255.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '64:ff9b::10.0.0.1',
    // The IANA special-purpose IPv4 ranges, one address each: IETF protocol assignments,
    // the three documentation nets, the deprecated 6to4 relay anycast, benchmarking, and the
    // reserved 240/4 with the broadcast address in it.
    '192.0.0.8',
    '192.0.2.10',
    '198.51.100.7',
    '203.0.113.9',
    '192.88.99.1',
    '198.18.0.1',
    '198.19.255.254',
    '240.0.0.1',
    '255.255.255.255',
    // Local-use NAT64 with a private address only at the /56 position (10.8.8.8), then only at the
    // /64 position: each prefix length the operator may pick is read.
    '64:ff9b:1:80a:8:808:808:808',
    '64:ff9b:1:808:a:808:808:808',
    'not-an-ip',
  ])('%s is refused', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  // IPv6 forms that carry an IPv4 address, each for the metadata service and for loopback.
  describe.each([
    ['169.254.169.254', 'a9fe:a9fe', '2002:a9fe:a9fe::', '5601:5601'],
    ['127.0.0.1', '7f00:1', '2002:7f00:1::', '80ff:fffe'],
  ])('IPv6 carrying %s', (_ipv4, low32, sixToFour, teredoClient) => {
    it.each([
      ['IPv4-compatible ::/96', `::${low32}`],
      ['IPv4-mapped ::ffff:0:0/96', `::ffff:${low32}`],
      ['SIIT IPv4-translated ::ffff:0:0:0/96', `::ffff:0:${low32}`],
      ['NAT64 64:ff9b::/96', `64:ff9b::${low32}`],
      ['local-use NAT64 64:ff9b:1::/48 (as a /96)', `64:ff9b:1::${low32}`],
      ['6to4 2002::/16', sixToFour],
      // Client address inverted (RFC 4380); the server, 65.54.227.120, is public.
      ['Teredo 2001::/32', `2001:0:4136:e378:8000:63bf:${teredoClient}`],
    ])('%s (%s) is refused', (_form, address) => {
      expect(isPrivateAddress(address)).toBe(true);
    });
  });

  it.each([
    // 169.254.169.254 where a /48 local-use NAT64 prefix puts it (RFC 6052 §2.2), 8.8.8.8 in the last 32 bits.
    '64:ff9b:1:a9fe:a9:fe00:808:808',
    // 192.168.1.1 at the /48 position, public at the others (/56 168.1.1.8, /64 1.1.8.8, /96
    // 8.8.8.8): only the /48 reading refuses it. (The address above reads as the reserved
    // 254.169.254.0 at /56 too, so it alone does not show the /48 is checked.)
    '64:ff9b:1:c0a8:1:108:808:808',
    // A Teredo server on a private address (client 8.8.8.8).
    '2001:0:a00:1:8000:63bf:f7f7:f7f7',
    // Outside 2000::/3: discard, site-local, multicast, SRv6 SIDs, unassigned.
    '100::1',
    'fec0::1',
    'ff02::1',
    '5f00::1',
    '4000::1',
    // Documentation and benchmarking inside 2000::/3.
    '2001:db8::1',
    '3fff::1',
    '2001:2::1',
    'fe80::1%eth0',
  ])('%s is refused', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '172.32.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:82b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
    '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
    '64:ff9b:1:808:8:808:808:808',
    // SIIT's IPv4-translated form of a public address is read as that address.
    '::ffff:0:808:808',
  ])('%s is public', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  it('refuses URLs whose IPv6 literal carries an internal IPv4 address, and allows a global one', async () => {
    const guard = createAddressGuard([]);
    for (const url of [
      'https://[::a9fe:a9fe]/',
      'https://[::ffff:0:a9fe:a9fe]/',
      'https://[64:ff9b:1::a9fe:a9fe]/',
      'https://[2002:a9fe:a9fe::]/',
      'https://[::ffff:169.254.169.254]/',
      'https://[::7f00:1]/',
      'https://[::ffff:0:7f00:1]/',
      'https://[64:ff9b:1::7f00:1]/',
      'https://[2002:7f00:1::]/',
    ]) {
      await expect(guard.resolve(new URL(url)), url).rejects.toThrow(/private, loopback or link-local/);
    }
    await expect(guard.resolve(new URL('https://[2606:4700:4700::1111]/'))).resolves.toEqual({
      address: '2606:4700:4700::1111',
      family: 6,
    });
  });

  it('refuses a host if any of its addresses is private; the allow-list lets it through', async () => {
    const resolver = async () => [
      { address: '93.184.216.34', family: 4 as const },
      { address: '10.0.0.1', family: 4 as const },
    ];
    const refusal = await createAddressGuard([], resolver)
      .resolve(new URL('https://mixed.test/'))
      .then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
    expect(refusal).toMatch(/^mixed\.test does not resolve to a public address/);
    // The internal address itself is not told to the caller.
    expect(refusal).not.toContain('10.0.0.1');
    await expect(
      createAddressGuard(['MIXED.test'], resolver).resolve(new URL('https://mixed.test/')),
    ).resolves.toEqual({
      address: '93.184.216.34',
      family: 4,
    });
    const failing = async () => {
      throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' });
    };
    const refusalOf = (guard: AddressGuard, url: string) =>
      guard.resolve(new URL(url)).then(
        () => 'resolved',
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
    // A name that does not exist and one that points inside get the same answer: an admin cannot
    // use registration to learn which internal names exist.
    const missing = await refusalOf(createAddressGuard([], failing), 'https://gone.test/');
    const inside = await refusalOf(
      createAddressGuard([], async () => [{ address: '10.1.2.3', family: 4 as const }]),
      'https://gone.test/',
    );
    expect(missing).toBe(inside);
    expect(missing).not.toContain('ENOTFOUND');
    // An allow-listed (the operator's own) host still gets the DNS error, to find the fault.
    expect(await refusalOf(createAddressGuard(['gone.test'], failing), 'https://gone.test/')).toContain(
      'ENOTFOUND',
    );
  });
});

describe('retry schedule', () => {
  const start = new Date('2026-01-01T00:00:00Z');
  /** Jitter pinned at its middle (none), its low end and (almost) its high end. */
  const none = () => 0.5;
  const lowest = () => 0;
  const highest = () => 1 - Number.EPSILON;
  const delayAfter = (attempt: number, retryAfter?: number, random: () => number = none) => {
    const at = nextRetryAt(start, attempt, retryAfter, random);
    return at === null ? null : (at.getTime() - start.getTime()) / 1000;
  };
  // Standard Webhooks' example: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
  const schedule = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];

  it("is the spec's example schedule, ten attempts over ~75.6 h, then gives up", () => {
    expect(MAX_ATTEMPTS).toBe(10);
    expect(RETRY_DELAYS_SECONDS).toEqual(schedule);
    expect(Array.from({ length: 10 }, (_, index) => delayAfter(index + 1))).toEqual([...schedule, null]);
    // 75:35:05 since the first attempt, as the spec's table says.
    expect(schedule.reduce((sum, delay) => sum + delay, 0)).toBe(75 * 3600 + 35 * 60 + 5);
  });

  it('jitters each delay by at most ±10%, at random', () => {
    expect(RETRY_JITTER).toBe(0.1);
    for (const [index, delay] of schedule.entries()) {
      expect(delayAfter(index + 1, undefined, lowest)).toBe(delay * 0.9);
      expect(delayAfter(index + 1, undefined, highest)).toBeCloseTo(delay * 1.1, 0);
      expect(delayAfter(index + 1, undefined, () => 0.75)).toBe(delay * 1.05);
    }
    // With Math.random: inside the bounds, and not all the same.
    const drawn = Array.from({ length: 200 }, () => delayAfter(4, undefined, Math.random) ?? 0);
    for (const delay of drawn) {
      expect(delay).toBeGreaterThanOrEqual(7200 * 0.9);
      expect(delay).toBeLessThanOrEqual(7200 * 1.1);
    }
    expect(new Set(drawn).size).toBeGreaterThan(100);
  });

  it("honours a receiver's Retry-After when it asks for longer, up to 10 h", () => {
    expect(delayAfter(1, 120)).toBe(120);
    expect(delayAfter(3, 60)).toBe(1800);
    expect(delayAfter(1, 10 ** 7)).toBe(36000);
    // As asked, not jittered below it.
    expect(delayAfter(1, 120, lowest)).toBe(120);
    expect(parseRetryAfter('30', start)).toBe(30);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', start)).toBe(60);
    expect(parseRetryAfter('soon', start)).toBeUndefined();
  });

  it('reads all three HTTP-date forms of Retry-After as UTC, in whatever zone the process runs', () => {
    const now = new Date('2026-12-05T10:00:00Z');
    const zone = process.env.TZ;
    try {
      for (const tz of ['UTC', 'America/Los_Angeles', 'Pacific/Kiritimati']) {
        process.env.TZ = tz; // Node applies a change of TZ at once
        expect(parseRetryAfter('Sat, 05 Dec 2026 10:02:00 GMT', now)).toBe(120);
        expect(parseRetryAfter('Saturday, 05-Dec-26 10:02:00 GMT', now)).toBe(120);
        // asctime names no zone; RFC 9110 makes it UTC (Date.parse read it as local time).
        expect(parseRetryAfter('Sat Dec  5 10:02:00 2026', now)).toBe(120);
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
    // A two-digit year more than 50 years ahead is the last century's: long past, so now.
    expect(parseRetryAfter('Thursday, 05-Dec-80 10:02:00 GMT', now)).toBe(0);
    // Not dates: a zone other than GMT, a day that does not exist, an unknown month.
    expect(parseRetryAfter('Sat, 05 Dec 2026 10:02:00 PST', now)).toBeUndefined();
    expect(parseRetryAfter('Sat, 31 Feb 2026 10:02:00 GMT', now)).toBeUndefined();
    expect(parseRetryAfter('Sat, 05 Dex 2026 10:02:00 GMT', now)).toBeUndefined();
  });
});

describe('signatures', () => {
  it("give the Standard Webhooks reference library's test vector (test/fixtures/standard-webhooks)", () => {
    expect(sign(signVector.secret, signVector.msgId, signVector.timestamp, signVector.payload)).toBe(
      signVector.signature,
    );
  });

  it('match the standardwebhooks package, and carry every secret during a rotation', () => {
    const secret = generateSecret();
    const previous = generateSecret();
    const at = new Date();
    const body = webhookBody('certificate.issued', at, { certificateId: 'c1' });
    const id = 'f3b1c0de-0000-4000-8000-000000000001';
    expect(sign(secret, id, Math.floor(at.getTime() / 1000), body)).toBe(
      new Webhook(secret).sign(id, new Date(Math.floor(at.getTime() / 1000) * 1000), body),
    );
    const headers = signatureHeaders([secret, previous], id, at, body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(secret).verify(body, headers)).toMatchObject({ type: 'certificate.issued' });
    expect(new Webhook(previous).verify(body, headers)).toMatchObject({ data: { certificateId: 'c1' } });
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow();
  });
});
