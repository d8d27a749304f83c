import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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
 *
 * What it has noted, it also writes to NOTED_FILE in the data folder: who would be stopped can be
 * seen from outside (test/e2e/start-script.test.ts waits for it before killing npm start outright).
 */

const parent = Number(process.argv[2]);
// The folder the Chromium profiles of that run are made under (start.ts made it), removed once
// what it left is stopped.
const profileRoot = process.argv[3];
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

// The data folder as start.ts resolves it (LOCAL_DATA_DIR, empty counting as unset, relative to
// the project), from the environment this process inherited from it.
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NOTED_FILE = join(resolve(ROOT, process.env.LOCAL_DATA_DIR || '.local'), 'start-guard.json');

const seen = new Map<number, string>();
let writtenCount = 0;
/**
 * Writes what is noted when it has grown. Never creates the data folder: start.ts makes it only
 * once its checks passed (a start refused at once leaves none), so until then the write fails and
 * is tried again on the next look. Written whole and renamed into place: a reader never sees half.
 */
const writeNoted = (): void => {
  if (seen.size === writtenCount) return;
  try {
    const noted = { parent, guard: process.pid, noted: [...seen.keys()] };
    writeFileSync(`${NOTED_FILE}.tmp`, `${JSON.stringify(noted)}\n`);
    renameSync(`${NOTED_FILE}.tmp`, NOTED_FILE);
    writtenCount = seen.size;
  } catch {
    // No data folder yet (or not writable): the guard's work does not depend on this file.
  }
};
// start.ts itself, by start time too: once it is gone its pid may name another process.
const parentStarted = startTimeOf(parent);
const look = (): void => {
  if (parentStarted === undefined || !isAlive(parent) || startTimeOf(parent) !== parentStarted) return;
  for (const pid of descendantsOf(parent)) {
    if (pid === process.pid || seen.has(pid)) continue;
    const started = startTimeOf(pid);
    if (started !== undefined) seen.set(pid, started);
  }
  writeNoted();
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
  // The list names processes of a run that is over: a later reader must not take it for its own.
  // Only this guard's own list: a start that followed at once on the same folder may have
  // written its guard's already.
  try {
    const written = JSON.parse(readFileSync(NOTED_FILE, 'utf8')) as { guard?: unknown };
    if (written.guard === process.pid) rmSync(NOTED_FILE, { force: true });
  } catch {
    // None written, or unreadable: stopping what is left matters more (the list names its parent).
  }
  if (done) process.exit(0);
  const left = [...seen].filter(([pid, started]) => isAlive(pid) && startTimeOf(pid) === started);
  void terminateAll(
    left.map(([pid]) => pid),
    GRACE_MS,
  ).finally(() => {
    if (profileRoot) rmSync(profileRoot, { recursive: true, force: true });
    process.exit(0);
  });
};
process.stdin.once('end', finish);
process.stdin.once('close', finish);
