import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { killProcessesMentioning, startGuard } from '../../scripts/process-tree.ts';

// The test run's guard names its run folder, and teardown kills every process that does, then
// tells the guard "done": a guard already gone made that write an EPIPE, an unhandled stream
// error that failed a run whose tests had all passed.

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'guard-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Whether the process has died (a zombie not reaped yet, or gone): its end of the pipe is closed. */
const dead = (pid: number): boolean => {
  try {
    return /^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
};

it('telling a guard that is already gone "done" is no error', async () => {
  const script = join(folder, 'wait.mjs');
  await writeFile(script, 'process.stdin.resume();\n');
  const guard = startGuard(script, [folder]);
  await once(guard, 'spawn');
  const pid = guard.pid ?? -1;
  // Killed with the stragglers, and told "done" before this process has noticed: as teardown
  // does. Waited for here without yielding, so Node has not reaped it and closed the pipe itself.
  process.kill(pid, 'SIGKILL');
  const until = Date.now() + 60_000;
  while (!dead(pid) && Date.now() < until) {
    // spin: a turn of the event loop would let Node see the exit first
  }
  expect(dead(pid)).toBe(true);
  const errors: unknown[] = [];
  const onError = (error: unknown) => errors.push(error);
  process.on('uncaughtException', onError);
  try {
    // Not events.once, which would reject on the very error under test.
    const closed = new Promise((resolve) => guard.stdin?.on('close', resolve));
    guard.stdin?.end('done');
    // The pipe's error, if any, comes before it closes.
    await closed;
  } finally {
    process.off('uncaughtException', onError);
  }
  expect(errors).toEqual([]);
});

it('killing what mentions a folder spares the processes it is told to', async () => {
  const script = join(folder, 'wait.mjs');
  await writeFile(script, 'process.stdin.resume(); process.stdin.on("end", () => process.exit(0));\n');
  const spared = startGuard(script, [folder]);
  const killed = startGuard(script, [folder]);
  await Promise.all([once(spared, 'spawn'), once(killed, 'spawn')]);
  const exit = once(killed, 'exit');
  expect(killProcessesMentioning(folder, [spared.pid])).toBe(1);
  await exit;
  expect(spared.exitCode).toBeNull();
  const sparedExit = once(spared, 'exit');
  spared.stdin?.end('done');
  await sparedExit;
});
