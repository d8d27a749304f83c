import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Process-tree helpers for `npm start` and its tests, read from /proc so they need no `ps`
 * or `pkill` (not promised on a machine that has only Node and npm). Chromium launched by
 * puppeteer runs in its own process group and survives its parent: walking the tree before
 * stopping is the only way to find it afterwards.
 */

/** The parent of `pid`, or undefined when it is gone (or there is no /proc). */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

function listPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number);
  } catch {
    return [];
  }
}

/** Every living descendant of `root` (children, grandchildren...), not including `root`. */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of listPids()) {
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    const siblings = children.get(ppid) ?? [];
    siblings.push(pid);
    children.set(ppid, siblings);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const current = queue.shift() as number;
    for (const child of children.get(current) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Whether a process exists and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Sends `signal` to a process, ignoring one that is already gone. */
export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already exited
  }
}

/** Resolves true once none of `pids` is alive, or false after `timeoutMs`. */
export async function waitUntilGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/**
 * Stops `pids` and whatever they spawn: SIGTERM to each, up to `graceMs` for them to go, then
 * SIGKILL to what is left and to anything they started meanwhile. Resolves true when SIGTERM
 * was enough.
 */
export async function terminateAll(pids: number[], graceMs: number): Promise<boolean> {
  for (const pid of pids) signal(pid, 'SIGTERM');
  if (await waitUntilGone(pids, graceMs)) return true;
  const stragglers = [...pids, ...pids.flatMap((pid) => descendantsOf(pid))].filter(isAlive);
  for (const pid of stragglers) signal(pid, 'SIGKILL');
  return false;
}

/** A process's command line, its arguments joined by spaces; '' once it is gone. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * Processes whose command line mentions `text` (e.g. a run's temporary folder, which every
 * Chromium profile and build folder of that run lives under); the current process excluded.
 */
export function processesMentioning(text: string): number[] {
  return listPids().filter((pid) => pid !== process.pid && commandLine(pid).includes(text));
}

/**
 * SIGKILLs every process whose command line mentions `text`, but those in `except` (a guard that
 * names the folder and is told "done" afterwards); returns how many there were.
 */
export function killProcessesMentioning(text: string, except: readonly (number | undefined)[] = []): number {
  const pids = processesMentioning(text).filter((pid) => !except.includes(pid));
  for (const pid of pids) signal(pid, 'SIGKILL');
  return pids.length;
}

/**
 * Starts a guard script (`npm start`'s, the test run's) through tsx: in a process group of its own
 * (a Ctrl-C to ours does not reach it), with a pipe on its stdin that closes when we are gone,
 * and unreferenced, so that neither keeps this process alive. Write "done" to its stdin once
 * everything is stopped, and it has nothing to do.
 */
export function startGuard(script: string, args: string[], cwd?: string): ChildProcess {
  const guard = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    ...(cwd ? { cwd } : {}),
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  guard.unref();
  (guard.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null)?.unref?.();
  // "done" written to a guard already gone (it exited, or was killed with the rest) is an EPIPE:
  // nothing is lost, the guard had nothing left to do. Unhandled, it failed a run that had passed.
  guard.stdin?.on('error', () => undefined);
  return guard;
}
