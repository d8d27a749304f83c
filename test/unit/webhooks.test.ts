import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createAddressGuard, isPrivateAddress } from '../../lib/webhooks/address-guard.ts';
import { MAX_ATTEMPTS, nextRetryAt, parseRetryAfter, webhookBody } from '../../lib/webhooks/events.ts';
import { generateSecret, sign, signatureHeaders } from '../../lib/webhooks/signing.ts';

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
    'not-an-ip',
  ])('%s is refused', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    '%s is public',
    (address) => {
      expect(isPrivateAddress(address)).toBe(false);
    },
  );

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
    expect(refusal).toMatch(/^mixed\.test resolves to a private, loopback or link-local address/);
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
    await expect(createAddressGuard([], failing).resolve(new URL('https://gone.test/'))).rejects.toThrow(
      'ENOTFOUND',
    );
  });
});

describe('retry schedule', () => {
  const start = new Date('2026-01-01T00:00:00Z');
  const delayAfter = (attempt: number, retryAfter?: number) => {
    const at = nextRetryAt(start, attempt, retryAfter);
    return at === null ? null : (at.getTime() - start.getTime()) / 1000;
  };

  it('is immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then gives up', () => {
    expect(MAX_ATTEMPTS).toBe(8);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => delayAfter(attempt))).toEqual([
      5,
      300,
      1800,
      7200,
      18000,
      36000,
      36000,
      null,
    ]);
  });

  it("honours a receiver's Retry-After when it asks for longer, up to 10 h", () => {
    expect(delayAfter(1, 120)).toBe(120);
    expect(delayAfter(3, 60)).toBe(1800);
    expect(delayAfter(1, 10 ** 7)).toBe(36000);
    expect(parseRetryAfter('30', start)).toBe(30);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', start)).toBe(60);
    expect(parseRetryAfter('soon', start)).toBeUndefined();
  });
});

describe('signatures', () => {
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
