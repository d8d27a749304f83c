import { readFileSync } from 'node:fs';
import { descendantsOf, isAlive, terminateAll } from './process-tree.ts';

/**
 * `npm start`'s guard against leaving processes behind when scripts/start.ts cannot stop them
 * itself: killed with SIGKILL, or by the kernel's OOM killer, it runs no handler. start.ts starts
 * this process in a process group of its own, with a pipe on its stdin. While start.ts lives,
 * the guard notes its descendants every second (PostgreSQL, the stand-ins, serverless offline and
 * the Chromium it launched); when the pipe closes without the word "done" (which start.ts writes
 * once it has stopped everything itself), start.ts is gone and the guard stops what it last saw.
 * A process is identified by its pid and start time, so one that started later under a reused pid
 * is left alone.
 */

const parent = Number(process.argv[2]);
const GRACE_MS = 5000;

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 of "pid (comm) state ppid ...", counted after the comm's closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const seen = new Map<number, string>();
// start.ts itself, by start time too: once it is gone its pid may name another process.
const parentStarted = startTimeOf(parent);
const look = (): void => {
  if (parentStarted === undefined || !isAlive(parent) || startTimeOf(parent) !== parentStarted) return;
  for (const pid of descendantsOf(parent)) {
    if (pid === process.pid || seen.has(pid)) continue;
    const started = startTimeOf(pid);
    if (started !== undefined) seen.set(pid, started);
  }
};
look();
const timer = setInterval(look, 1000);

let done = false;
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  if (chunk.includes('done')) done = true;
});
let finished = false;
const finish = (): void => {
  if (finished) return;
  finished = true;
  clearInterval(timer);
  if (done) process.exit(0);
  const left = [...seen].filter(([pid, started]) => isAlive(pid) && startTimeOf(pid) === started);
  void terminateAll(
    left.map(([pid]) => pid),
    GRACE_MS,
  ).finally(() => process.exit(0));
};
process.stdin.once('end', finish);
process.stdin.once('close', finish);
