import { defineConfig } from 'vitest/config';

/**
 * Three layers, each runnable alone (`npm run test:unit`, `test:integration`, `test:e2e`);
 * `npm test` runs them all. Only the layers that need servers get the global setup, which
 * starts PostgreSQL, the S3 stand-in and the Keycloak stand-in once per layer.
 */
const stackSetup = ['test/support/global-setup.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    // Per-test limits are outer bounds sized for a 2-core machine with both cores busy; tests
    // never assert speed (the benchmark measures it).
    testTimeout: 120_000,
    hookTimeout: 360_000,
    teardownTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: stackSetup },
      },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], globalSetup: stackSetup },
      },
    ],
  },
});
