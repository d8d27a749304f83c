import { appendFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * Page readers that misbehave, run as scripts/capped-page-text.ts runs the real one (a worker
 * given the "PDF" as workerData). The "PDF" is a JSON instruction: `{ "hog": true }` keeps
 * allocating and touching memory (as a decompression bomb does), `{ "spin": path }` computes for
 * ever, appending a byte to `path` every few milliseconds so the test can tell whether it was
 * stopped, `{ "heap": true }` fills the V8 heap with objects, `{ "fail": message }` throws, and anything else ends without an answer.
 * A hog that is not stopped stops itself at 4 GiB, so a broken cap fails the test instead of
 * exhausting the machine.
 */
const order = JSON.parse(new TextDecoder().decode(workerData as Uint8Array)) as {
  hog?: boolean;
  spin?: string;
  heap?: boolean;
  fail?: string;
};

const CHUNK = 32 * 1024 * 1024;

if (order.hog) {
  const held: Uint8Array[] = [];
  while (held.length * CHUNK < 4 * 1024 * 1024 * 1024) held.push(new Uint8Array(CHUNK).fill(1));
  parentPort?.postMessage([`held ${held.length} chunks`]);
}
if (order.spin !== undefined) {
  let last = 0;
  for (;;) {
    const now = Date.now();
    if (now - last >= 5) {
      appendFileSync(order.spin, 'x');
      last = now;
    }
  }
}
if (order.heap) {
  const held: Array<{ at: number; text: string }> = [];
  for (let at = 0; at < 1e9; at += 1) held.push({ at, text: `entry ${at}` });
  parentPort?.postMessage([`held ${held.length} objects`]);
}
if (order.fail !== undefined) throw new Error(order.fail);
