import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { type Offline, startOffline } from '../support/offline.ts';

let t: TestEnv;
let offline: Offline;
beforeAll(async () => {
  t = await createTestEnv();
  offline = await startOffline(t.env);
});
afterAll(async () => {
  await offline?.stop();
  await t?.cleanup();
});

describe('serverless offline', () => {
  it('serves the HTTP API', async () => {
    const response = await fetch(`${offline.baseUrl}/api/v1/health`);
    expect(response.status).toBeLessThan(600);
    expect(offline.output()).toContain('/api/v1/health');
  });
});
