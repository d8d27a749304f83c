import { describe, expect, it } from 'vitest';
import { isExhausted, retryDelaySeconds } from '../../lib/certificates/retry.ts';

const policy = { baseSeconds: 60, maxSeconds: 3600 };

describe('retry backoff', () => {
  it('doubles per attempt around the base, jitter within ±25 %', () => {
    expect(retryDelaySeconds(1, policy, () => 0.5)).toBe(60);
    expect(retryDelaySeconds(2, policy, () => 0.5)).toBe(120);
    expect(retryDelaySeconds(3, policy, () => 0.5)).toBe(240);
    expect(retryDelaySeconds(1, policy, () => 0)).toBe(45);
    expect(retryDelaySeconds(1, policy, () => 0.999999)).toBe(75);
  });

  it('never exceeds the maximum, even with jitter or absurd attempt counts', () => {
    for (const attempt of [7, 8, 20, 2000]) {
      expect(retryDelaySeconds(attempt, policy, () => 0.999999)).toBeLessThanOrEqual(3600);
      expect(retryDelaySeconds(attempt, policy, () => 0)).toBe(2700);
    }
  });

  it('waits at least a second', () => {
    expect(retryDelaySeconds(1, { baseSeconds: 1, maxSeconds: 1 }, () => 0)).toBe(1);
  });

  it('gives up once the attempt count reaches the maximum', () => {
    expect(isExhausted(4, 5)).toBe(false);
    expect(isExhausted(5, 5)).toBe(true);
  });
});
