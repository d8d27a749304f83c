import { describe, expect, it } from 'vitest';
import { isExhausted, retryDelaySeconds } from '../../lib/certificates/retry.ts';
import { loadConfig } from '../../lib/config.ts';

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

  it('with the shipped defaults, gives up no sooner than 3 hours after the first failure', () => {
    const { pipeline } = loadConfig(['pipeline'], {});
    const defaults = { baseSeconds: pipeline.RETRY_BASE_SECONDS, maxSeconds: pipeline.RETRY_MAX_SECONDS };
    // The waits between the first failure and the one that makes it dead, each as short as the
    // jitter allows: a dependency outage shorter than this leaves no certificate dead.
    let shortest = 0;
    let longest = 0;
    for (let attempt = 1; attempt < pipeline.MAX_GENERATION_ATTEMPTS; attempt += 1) {
      expect(isExhausted(attempt, pipeline.MAX_GENERATION_ATTEMPTS)).toBe(false);
      shortest += retryDelaySeconds(attempt, defaults, () => 0);
      longest += retryDelaySeconds(attempt, defaults, () => 0.999999);
    }
    expect(isExhausted(pipeline.MAX_GENERATION_ATTEMPTS, pipeline.MAX_GENERATION_ATTEMPTS)).toBe(true);
    expect(shortest).toBeGreaterThanOrEqual(3 * 3600);
    // What the README's table says of it (3.0-4.3 h).
    expect([(shortest / 3600).toFixed(1), (longest / 3600).toFixed(1)]).toEqual(['3.0', '4.3']);
  });
});
