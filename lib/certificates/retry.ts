/**
 * Exponential backoff with jitter for failed generations: attempt n waits
 * min(max, base * 2^(n-1)) seconds, scaled by a random factor in [0.75, 1.25) so certificates
 * that failed together (Keycloak outage) do not all come back in the same second; never more
 * than `maxSeconds`.
 */
export function retryDelaySeconds(
  attempt: number,
  options: { baseSeconds: number; maxSeconds: number },
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempt - 1);
  // 2^exponent overflows to Infinity for absurd attempt counts; min() keeps it bounded.
  const raw = Math.min(options.maxSeconds, options.baseSeconds * 2 ** exponent);
  const jittered = raw * (0.75 + 0.5 * random());
  return Math.max(1, Math.min(options.maxSeconds, Math.round(jittered)));
}

/** Whether a certificate that has failed `attempt` times is given up on. */
export function isExhausted(attempt: number, maxAttempts: number): boolean {
  return attempt >= maxAttempts;
}

/**
 * retryDelaySeconds for attempts 1..`attempts`, all with one jitter draw: for generate's claim,
 * which learns the attempt's number only inside the statement that counts it, and picks its
 * delay from this list there (see `claim` in generate.ts).
 */
export function retryDelaysByAttempt(
  attempts: number,
  options: { baseSeconds: number; maxSeconds: number },
  random: () => number = Math.random,
): number[] {
  const draw = random();
  return Array.from({ length: Math.max(1, attempts) }, (_, index) =>
    retryDelaySeconds(index + 1, options, () => draw),
  );
}
