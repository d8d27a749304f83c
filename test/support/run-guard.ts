import { rmSync } from 'node:fs';
import { processesMentioning, terminateAll } from '../../scripts/process-tree.ts';

/**
 * The test run's guard against leaving processes behind when vitest is stopped by a signal
 * (Ctrl-C, a CI cancel, `timeout`): vitest then runs no global teardown, and PostgreSQL, Chromium
 * (in process groups of its own) and serverless offline ran on, with the run folder. Global setup
 * starts this process detached, with a pipe on its stdin; teardown writes "done" once it has
 * stopped everything itself. When the pipe closes without it, vitest is gone: every process whose
 * command line names the run folder (PostgreSQL's data folder, each Chromium profile, each
 * offline build folder, each `npm start` data folder lives under it) is stopped, SIGTERM first so
 * PostgreSQL shuts down cleanly, and the folder is removed.
 */

const root = process.argv[2];
const GRACE_MS = 10_000;

let done = false;
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  if (chunk.includes('done')) done = true;
});
// Not the one in the folder's name: a root too short could match unrelated command lines.
const finish = (): void => {
  if (done || !root || !root.includes('certs-test-')) process.exit(0);
  void terminateAll(processesMentioning(root), GRACE_MS).finally(() => {
    rmSync(root, { recursive: true, force: true });
    process.exit(0);
  });
};
process.stdin.once('end', finish);
process.stdin.once('close', finish);
process.stdin.resume();
