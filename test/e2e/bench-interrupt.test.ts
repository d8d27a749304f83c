import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { commandLine, descendantsOf, isAlive, signal, waitUntilGone } from '../../scripts/process-tree.ts';
import { watchChild } from '../support/child-output.ts';

// `npm run bench` stopped by a signal sent to it alone, as `timeout`, `kill` or a CI runner
// sends it (a terminal's Ctrl-C reaches the whole group and proves nothing): Chromium, launched
// with its own signal handling off, and the stand-ins must not outlive it.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const running = new Set<ChildProcess>();

const started = new Set<number>();

afterAll(() => {
  // Whatever a failed assertion left behind.
  for (const child of running) if (child.pid !== undefined) signal(child.pid, 'SIGKILL');
  for (const pid of started) if (isAlive(pid)) signal(pid, 'SIGKILL');
});

/** `npm run bench` with `args`, writing its JSON to `resultsDir`; followed until it exits. */
function startBench(args: string[], resultsDir: string) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'scripts/bench.ts', ...args, '--results-dir', resultsDir],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  const { output, exited } = watchChild(child);
  return {
    child,
    pid: child.pid as number,
    output,
    exited: exited.finally(() => running.delete(child)),
  };
}

describe('npm run bench, interrupted', () => {
  it('stops Chromium, PostgreSQL and the stand-ins on SIGTERM and records the interruption', async () => {
    const resultsDir = await mkdtemp(join(tmpdir(), 'bench-interrupt-'));
    try {
      // Far more certificates than it will print before the signal: the render section is
      // mid-flight, with a warm Chromium, when it arrives.
      const { child, pid, output, exited } = startBench(
        ['--only', 'render', '--render', '1000000'],
        resultsDir,
      );

      // Until a Chromium renderer and PostgreSQL both run under the bench (bounded by the test's
      // timeout, not by a guess at how long a busy machine takes to start them).
      let tree: number[] = [];
      const chromium = () => tree.filter((member) => commandLine(member).includes('--type=renderer'));
      const postgresServer = () => tree.filter((member) => /postgres\b.*-D /.test(commandLine(member)));
      while (chromium().length === 0 || postgresServer().length === 0) {
        if (child.exitCode !== null) throw new Error(`the bench exited early:\n${output()}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        tree = descendantsOf(pid);
        for (const member of tree) started.add(member);
      }

      signal(pid, 'SIGTERM');
      const outcome = await exited;

      // Everything it had started is gone (re-parented zombies count as gone).
      await waitUntilGone(tree, 10_000);
      expect(tree.filter(isAlive).map(commandLine)).toEqual([]);
      // 128 + SIGTERM's number: the conventional code of a process stopped by it.
      expect(outcome).toEqual({ code: 143, signal: null });
      expect(output()).toContain('SIGTERM: stopping Chromium');
      const files = readdirSync(resultsDir).filter((name) => name.endsWith('.json'));
      expect(files).toHaveLength(1);
      const results = JSON.parse(readFileSync(join(resultsDir, files[0] as string), 'utf8')) as {
        interrupted?: string;
      };
      expect(results.interrupted).toBe('SIGTERM');
    } finally {
      await rm(resultsDir, { recursive: true, force: true });
    }
  }, 600_000);

  it('stops PostgreSQL and removes its data folder on SIGTERM while the stand-ins still start', async () => {
    const resultsDir = await mkdtemp(join(tmpdir(), 'bench-interrupt-'));
    try {
      const { child, pid, output, exited } = startBench(['--only', 'render', '--render', '1'], resultsDir);

      // Signalled as soon as a PostgreSQL process (initdb's or the server) runs under it: the
      // stand-ins are mid-start, their data folder (in /dev/shm, RAM, where there is one) made.
      let tree: number[] = [];
      let dataDir: string | undefined;
      while (dataDir === undefined) {
        if (child.exitCode !== null) throw new Error(`the bench exited early:\n${output()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        tree = descendantsOf(pid);
        for (const member of tree) started.add(member);
        for (const member of tree) {
          const folder = /(?:-D|--pgdata=)\s*(\S*certs-bench-[^/\s]+)/.exec(commandLine(member))?.[1];
          if (folder) dataDir = folder;
        }
      }
      signal(pid, 'SIGTERM');
      const outcome = await exited;

      await waitUntilGone(tree, 10_000);
      expect(tree.filter(isAlive).map(commandLine)).toEqual([]);
      expect(outcome, output()).toEqual({ code: 143, signal: null });
      expect(existsSync(dataDir), `${dataDir} left behind`).toBe(false);
    } finally {
      await rm(resultsDir, { recursive: true, force: true });
    }
  }, 600_000);
});
