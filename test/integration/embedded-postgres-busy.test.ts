import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { startPostgres } from '../../localstack/embedded/postgres.ts';
import { expectedFailure } from '../../scripts/cli-args.ts';

it('a second PostgreSQL on a data folder in use fails in one line that says what to do (npm start prints it without a stack)', async () => {
  const root = await mkdtemp(join(inject('stack').root, 'pg-busy-'));
  const dataDir = join(root, 'postgres');
  const first = await startPostgres({ dataDir, persistent: true });
  try {
    const second = await startPostgres({ dataDir, persistent: true }).then(
      async (handle) => {
        await handle.stop();
        return undefined;
      },
      (error: unknown) => error,
    );
    expect(second).toBeInstanceOf(Error);
    expect((second as Error).message).toBe(
      `the data folder ${dataDir} is in use by another PostgreSQL (another npm start in this checkout?): stop that one, or give this one its own LOCAL_DATA_DIR (and OFFLINE_HTTP_PORT, OFFLINE_LAMBDA_PORT)`,
    );
    // An expected failure: npm start prints its message alone, not a stack trace.
    expect(expectedFailure(second)?.message).toBe((second as Error).message);
  } finally {
    await first.stop();
    await rm(root, { recursive: true, force: true });
  }
});
