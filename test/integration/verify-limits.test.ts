import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { heapLimitMb, runCapped, WorkerStopped } from '../../scripts/capped-worker.ts';
import { runScript } from '../support/run-script.ts';

/**
 * `npm run verify` runs its check in a worker it stops at a memory or time limit
 * (scripts/capped-worker.ts). Workers that misbehave the ways a hostile file can make the check
 * misbehave stand in for it (test/support/worker-stand-ins.ts); the last test runs the command on
 * a file pdf-lib cannot parse within the limit, and test/integration/verify-page-text.test.ts
 * checks the limit on a genuine certificate.
 */
const STAND_IN = new URL('../support/worker-stand-ins.ts', import.meta.url);
const ROOT = new URL('../..', import.meta.url).pathname;
const MIB = 1024 * 1024;
const ROOMY = { memoryBytes: 1024 * MIB, timeMs: 10 * 60_000 };

describe('the capped worker of npm run verify', () => {
  it("gives the worker's answer back", async () => {
    await expect(
      runCapped(STAND_IN, { answer: { outcome: 'valid', lines: ['ok'] } }, ROOMY),
    ).resolves.toEqual({
      outcome: 'valid',
      lines: ['ok'],
    });
  });

  it('stops a worker whose memory grows past the limit, and says so', async () => {
    const run = runCapped(STAND_IN, { hog: true }, { memoryBytes: 256 * MIB, timeMs: 10 * 60_000 });
    await expect(run).rejects.toThrow(WorkerStopped);
    await expect(run).rejects.toThrow(
      'the check needed more than 256 MiB of memory; the file may be built to exhaust the checker',
    );
  });

  it('stops a worker that fills its heap past the limit, and this process lives on', async () => {
    const run = runCapped(STAND_IN, { heap: true }, { memoryBytes: 128 * MIB, timeMs: 10 * 60_000 });
    await expect(run).rejects.toThrow(WorkerStopped);
    // The heap is capped at the limit too: whichever is reached first stops it.
    await expect(run).rejects.toThrow(
      /^(the check needed more than 128 MiB of memory|the check's heap reached its limit of 128 MiB);/,
    );
  });

  it("a worker that runs out of its own heap first is reported as such, not as the worker's crash", async () => {
    // Node ends a worker whose heap is full (ERR_WORKER_OUT_OF_MEMORY); here its heap is set
    // smaller than the limit on the process.
    const run = runCapped(
      STAND_IN,
      { heap: true },
      { memoryBytes: 4096 * MIB, timeMs: 10 * 60_000 },
      {
        resourceLimits: { maxOldGenerationSizeMb: 64 },
      },
    );
    await expect(run).rejects.toThrow(WorkerStopped);
    await expect(run).rejects.toThrow(
      "the check's heap reached its limit of 64 MiB; the file may be built to exhaust the checker",
    );
  });

  it('stops a worker that runs past the time limit, and the worker stops computing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'capped-worker-'));
    const beat = join(dir, 'beat');
    await expect(
      runCapped(STAND_IN, { spin: beat }, { memoryBytes: 1024 * MIB, timeMs: 2000 }),
    ).rejects.toThrow('the check took longer than 2 s; the file may be built to exhaust the checker');
    // A worker left running would go on appending to the file every few milliseconds.
    const size = () => (existsSync(beat) ? statSync(beat).size : 0);
    await sleep(500);
    const after = size();
    await sleep(1000);
    expect(size()).toBe(after);
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects with what the worker threw, an Error or not', async () => {
    const failed = runCapped(STAND_IN, { fail: 'No password given' }, ROOMY);
    await expect(failed).rejects.toThrow('No password given');
    await expect(failed).rejects.not.toThrow(WorkerStopped);
    await expect(runCapped(STAND_IN, { throwNull: true }, ROOMY)).rejects.toThrow('the check failed: null');
  });

  it("holds the worker's heap to the memory limit, and not below what a worker needs to start", async () => {
    const limits = (memoryBytes: number) =>
      runCapped<{ maxOldGenerationSizeMb: number }>(
        STAND_IN,
        { limits: true },
        { memoryBytes, timeMs: 10 * 60_000 },
      );
    expect((await limits(2048 * MIB)).maxOldGenerationSizeMb).toBe(2048);
    expect((await limits(300 * MIB)).maxOldGenerationSizeMb).toBe(300);
    // Below the floor a worker could not start its own heap (V8 aborts the process): a worker
    // under such a limit is stopped by the memory watch first, so the floor is read, not run.
    expect(heapLimitMb(1 * MIB)).toBe(64);
    expect(heapLimitMb(100 * MIB + 1)).toBe(101);
  });

  it('npm run verify stops on a file whose parse would take gigabytes: could not check, exit 2', async () => {
    // One object of 8 Mi empty dictionaries: pdf-lib holds about 60 bytes of heap per byte of it.
    const dir = await mkdtemp(join(tmpdir(), 'verify-bomb-'));
    const body = '<<>>'.repeat(8 * 1024 * 1024);
    const objects = [
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [] /Count 0 >>',
      `[${body}]`,
    ];
    let pdf = '%PDF-1.7\n';
    const offsets: number[] = [];
    objects.forEach((object, index) => {
      offsets.push(pdf.length);
      pdf += `${index + 1} 0 obj\n${object}\nendobj\n`;
    });
    const xref = pdf.length;
    pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
    for (const offset of offsets) pdf += `${String(offset).padStart(10, '0')} 00000 n \n`;
    pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
    await writeFile(join(dir, 'bomb.pdf'), pdf);
    await writeFile(join(dir, 'jwks.json'), '{"keys":[]}');
    const run = spawnSync(
      join(ROOT, 'node_modules/.bin/node'),
      [
        '--import',
        'tsx',
        'scripts/verify.ts',
        join(dir, 'bomb.pdf'),
        '--jwks',
        join(dir, 'jwks.json'),
        '--max-memory',
        '256',
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(run.stdout).toMatch(
      /^Could not check: (the check needed more than 256 MiB of memory|the check's heap reached its limit of 256 MiB); the file may be built to exhaust the checker\nVerdict: COULD NOT CHECK\n$/,
    );
    expect(run.status).toBe(2);
    await rm(dir, { recursive: true, force: true });
  });

  it('npm run verify refuses a file larger than 64 MiB before reading it: could not check, exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verify-large-'));
    const large = join(dir, 'large.pdf');
    // Sparse: 65 MiB on paper, nothing on disk.
    await writeFile(large, '%PDF-1.7\n');
    await truncate(large, 65 * MIB);
    const run = await runScript('verify', [large, '--jwks', join(dir, 'absent.json'), '--offline']);
    expect(run.stdout).toContain(`is ${65 * MIB} bytes, more than ${64 * MIB}`);
    expect(run.stdout).toContain('Verdict: COULD NOT CHECK');
    expect(run.code).toBe(2);
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects at once when the worker ends without an answer, not at the time limit', async () => {
    await expect(runCapped(STAND_IN, {}, { memoryBytes: 1024 * MIB, timeMs: 60 * 60_000 })).rejects.toThrow(
      'the check stopped (exit code 0) without an answer',
    );
  });
});
