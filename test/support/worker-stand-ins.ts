import { appendFileSync } from 'node:fs';
import { parentPort, resourceLimits, workerData } from 'node:worker_threads';

/**
 * Workers that misbehave, run as scripts/capped-worker.ts runs the check of `npm run verify`.
 * workerData is an order: `{ hog: true }` keeps allocating and touching memory (as a
 * decompression bomb does), `{ heap: true }` fills the V8 heap with objects, `{ spin: path }`
 * computes for ever, appending a byte to `path` every few milliseconds so the test can tell
 * whether it was stopped, `{ fail: message }` throws an Error, `{ throwNull: true }` throws null,
 * `{ answer: value }` posts it, `{ limits: true }` posts the resource limits it runs under, and
 * anything else ends without an answer. A hog or heap filler
 * that is not stopped stops itself (4 GiB, 20 million objects) and answers, so a broken limit
 * fails the test instead of exhausting the machine.
 */
const order = workerData as {
  hog?: boolean;
  heap?: boolean;
  spin?: string;
  fail?: string;
  throwNull?: boolean;
  answer?: unknown;
  limits?: boolean;
};

const CHUNK = 32 * 1024 * 1024;

if (order.hog) {
  const held: Uint8Array[] = [];
  while (held.length * CHUNK < 4 * 1024 * 1024 * 1024) held.push(new Uint8Array(CHUNK).fill(1));
  parentPort?.postMessage(`held ${held.length} chunks`);
}
if (order.heap) {
  const held: Array<{ at: number; text: string }> = [];
  for (let at = 0; at < 20_000_000; at += 1) held.push({ at, text: `entry ${at}` });
  parentPort?.postMessage(`held ${held.length} objects`);
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
if (order.fail !== undefined) throw new Error(order.fail);
if (order.throwNull) throw null;
if ('answer' in order) parentPort?.postMessage(order.answer);
if (order.limits) parentPort?.postMessage(resourceLimits);
