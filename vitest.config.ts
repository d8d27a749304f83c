import { defineConfig } from 'vitest/config';

/**
 * Three layers, each runnable alone (`npm run test:unit`, `test:integration`, `test:e2e`);
 * `npm test` runs them all. Only the layers that need servers get the global setup, which
 * starts PostgreSQL, the S3 stand-in and the Keycloak stand-in once per layer.
 *
 * Unit and integration files share their worker process (`isolate: false`): a fresh process per
 * file re-imported puppeteer, pdf-lib, pdf.js, the AWS SDK and zod 35 times, ~35 s of the
 * integration layer's ~180 s of CPU on 2 cores. That is safe because no file relies on fresh
 * modules: each builds its handlers from explicit dependencies or its own database and bucket,
 * restores the environment and timers it changes, and changes nothing other files depend on
 * (a key rotation gets its own Keycloak stand-in; the one shared setting some files change is the
 * logger's level, which only decides what the run prints). The end-to-end files keep a process
 * each.
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
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], isolate: false },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: stackSetup,
          isolate: false,
        },
      },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], globalSetup: stackSetup },
      },
    ],
  },
});
