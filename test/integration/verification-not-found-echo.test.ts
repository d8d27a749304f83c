import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verificationResponse } from '../../lib/http/verification.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';

// Tests a mutation sweep (2026-12-05) found missing for the not-found page's
// echo rule (lib/http/verification.ts, echoedCode): only what looks like a mistyped code is
// repeated, never words whoever wrote the link chose.

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

const page = async (code: string) => {
  const response = await verificationResponse(t.sql, { code, accept: 'text/html' });
  expect(response.statusCode, code).toBe(404);
  return String(response.body);
};

describe('the not-found page repeats only a mistyped code', () => {
  it('still repeats a mistyped code (the control case)', async () => {
    expect(await page('K7Q2M9X4 T8B3N6PZ')).toContain('K7Q2M9X4 T8B3N6PZ');
  });

  it('two words without a digit are not a code', async () => {
    for (const spoof of ['Jane Doe', 'VALID JaneDoe', 'Genuine-JaneDoe']) {
      const body = await page(spoof);
      expect(body, spoof).not.toMatch(/Jane/);
      expect(body, spoof).not.toContain('class="code"');
    }
  });

  it('three pieces, even with a digit, are not a mistyped code', async () => {
    for (const spoof of ['VALID 2026 JaneDoe', 'JaneDoe MSc 2026']) {
      const body = await page(spoof);
      expect(body, spoof).not.toMatch(/Jane/);
      expect(body, spoof).not.toContain('class="code"');
    }
  });

  it('a well-formed code of more than 24 letters and digits that matches nothing is not repeated', async () => {
    const spoof = 'VERIFIED2026JANEDOEDISTINCTION';
    const body = await page(spoof);
    expect(body).not.toContain(spoof);
    expect(body).not.toContain('class="code"');
  });
});
