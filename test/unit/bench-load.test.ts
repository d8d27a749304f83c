import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  cpuSnapshot,
  type LoadReading,
  machineTicks,
  otherLoadCaveat,
  otherLoadNote,
  otherLoadPercent,
  treeCpuSeconds,
  watchOwnCpu,
} from '../../scripts/bench/cpu.ts';

// /proc/stat of a 4-core machine (proc(5): user nice system idle iowait irq softirq steal guest
// guest_nice, in USER_HZ ticks of 1/100 s), read 10 s apart: 4,000 ticks of capacity.
const fourCoresBefore = `cpu  10000 100 2000 50000 300 0 100 50 0 0
cpu0 2500 25 500 12500 75 0 25 12 0 0
cpu1 2500 25 500 12500 75 0 25 13 0 0
cpu2 2500 25 500 12500 75 0 25 12 0 0
cpu3 2500 25 500 12500 75 0 25 13 0 0
intr 123 0 0
ctxt 456
`;
// 1,000 ticks more work (user 700, nice 50, system 200, softirq 50), iowait and steal left out.
const fourCoresAfter = `cpu  10700 150 2200 52800 500 0 150 250 0 0
cpu0 2675 37 550 13200 125 0 37 62 0 0
cpu1 2675 38 550 13200 125 0 38 63 0 0
cpu2 2675 37 550 13200 125 0 37 62 0 0
cpu3 2675 38 550 13200 125 0 38 63 0 0
intr 456 0 0
`;

const reading = (stat: string, ownCpuSeconds: number | undefined, atSeconds: number): LoadReading => ({
  machine: machineTicks(stat),
  ownCpuSeconds,
  atSeconds,
});

describe('bench: other load on the machine', () => {
  it('counts the cores of /proc/stat, not the aggregate line', () => {
    expect(machineTicks(fourCoresBefore)?.cores).toBe(4);
    expect(machineTicks(fourCoresAfter)).toEqual({ work: 13200, steal: 250, cores: 4 });
  });

  it('is the machine busy time less this run own CPU, over all cores, idle ones included', () => {
    // 10 s of 4 cores = 40 core-seconds; the machine worked 10 s of them, this run 6 s: 4 s other.
    expect(otherLoadPercent(reading(fourCoresBefore, 100, 1000), reading(fourCoresAfter, 106, 1010))).toBe(
      10,
    );
    // The same work over 5 s: twice the share.
    expect(otherLoadPercent(reading(fourCoresBefore, 100, 1000), reading(fourCoresAfter, 106, 1005))).toBe(
      20,
    );
    // This run did it all: nothing else ran.
    expect(otherLoadPercent(reading(fourCoresBefore, 100, 1000), reading(fourCoresAfter, 110, 1010))).toBe(0);
  });

  it('clamps to 0 when this run counted more than the machine, and to 100', () => {
    // Per-process accounting a little above the machine's tick sampling.
    expect(otherLoadPercent(reading(fourCoresBefore, 100, 1000), reading(fourCoresAfter, 110.5, 1010))).toBe(
      0,
    );
    // 10 s of work in 2 s on 4 cores (8 core-seconds): readings out of step, not 125%.
    expect(otherLoadPercent(reading(fourCoresBefore, 0, 0), reading(fourCoresAfter, 0, 2))).toBe(100);
  });

  it('gives nothing without /proc, without this run CPU, or over no time', () => {
    expect(otherLoadPercent(reading('intr 1\n', 0, 0), reading(fourCoresAfter, 1, 10))).toBeUndefined();
    expect(
      otherLoadPercent(reading(fourCoresBefore, undefined, 0), reading(fourCoresAfter, 1, 10)),
    ).toBeUndefined();
    expect(otherLoadPercent(reading(fourCoresBefore, 1, 10), reading(fourCoresAfter, 1, 10))).toBeUndefined();
  });

  it('counts the CPU of a child process that ended, which its parent waited for', async () => {
    const before = treeCpuSeconds();
    expect(before).toBeDefined();
    // The child spins until it has used 0.3 s of CPU, reports how much, and exits.
    const child = spawn(
      process.execPath,
      [
        '-e',
        'const used = () => { const u = process.cpuUsage(); return u.user + u.system; }; while (used() < 300000); console.log(used() / 1e6);',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await once(child, 'close');
    const childSeconds = Number(output.trim());
    expect(childSeconds).toBeGreaterThanOrEqual(0.3);
    // Gone from the tree, its time is in this process's cutime/cstime (ticks: 0.02 s of rounding).
    expect((treeCpuSeconds() ?? 0) - (before ?? 0)).toBeGreaterThanOrEqual(childSeconds - 0.02);
  });

  it('flags a ratio whose sections had other load differing by more than 10 points, and which way it leans', () => {
    expect(
      otherLoadCaveat(
        { section: 'pipeline', otherLoadPercent: 35.1 },
        { section: 'render', otherLoadPercent: 2 },
      ),
    ).toBe(
      'other load on the machine 35.1% in pipeline vs 2% in render: pipeline shared the machine with more other work, so the ratio leans low',
    );
    expect(
      otherLoadCaveat(
        { section: 'pipeline', otherLoadPercent: 0 },
        { section: 'naive', otherLoadPercent: 12 },
      ),
    ).toMatch(/naive shared the machine with more other work, so the ratio leans high$/);
    // Both busy alike: leans nowhere, but is less sure.
    expect(
      otherLoadCaveat(
        { section: 'pipeline', otherLoadPercent: 30 },
        { section: 'render', otherLoadPercent: 25 },
      ),
    ).toMatch(/both shared the machine with other work, so the ratio is less sure than in a quiet run$/);
    // Quiet enough in both, or not measured.
    expect(
      otherLoadCaveat(
        { section: 'pipeline', otherLoadPercent: 10 },
        { section: 'render', otherLoadPercent: 0 },
      ),
    ).toBeUndefined();
    expect(
      otherLoadCaveat({ section: 'pipeline' }, { section: 'render', otherLoadPercent: 50 }),
    ).toBeUndefined();
  });

  it('notes a one-section figure measured under more than 10% other load', () => {
    expect(otherLoadNote({ section: 'cold', otherLoadPercent: 48 })).toBe(
      'other load on the machine 48% while cold ran: the figure leans slow',
    );
    expect(otherLoadNote({ section: 'cold', otherLoadPercent: 10 })).toBeUndefined();
    expect(otherLoadNote({ section: 'cold' })).toBeUndefined();
  });
});

describe('the CPU of this run while a section runs', () => {
  it('counts a process that ended without its parent waiting for it, as a closing Chromium leaves its renderers', async () => {
    // A child (a process-group leader) starts a grandchild that burns 0.4 s of CPU, by its own
    // clock, and says so; then both are killed at once, so the child never waits for the
    // grandchild and its CPU never reaches this process's cutime.
    const grandchild =
      'const t=process.cpuUsage();while((process.cpuUsage(t).user+process.cpuUsage(t).system)<4e5){}' +
      "process.stdout.write('burnt\\n');setInterval(()=>{},1000);";
    const child = spawn(
      process.execPath,
      [
        '-e',
        `require('node:child_process').spawn(process.execPath,['-e',${JSON.stringify(grandchild)}],{stdio:'inherit'});setInterval(()=>{},1000);`,
      ],
      { detached: true, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const watch = watchOwnCpu(process.pid, 20);
    const reapedBefore = treeCpuSeconds() ?? 0;
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    while (!output.includes('burnt')) await once(child.stdout as NodeJS.ReadableStream, 'data');
    watch.sample();
    const exited = once(child, 'exit');
    process.kill(-(child.pid ?? 0), 'SIGKILL');
    await exited;
    const sampled = watch.stop() ?? 0;
    const reaped = (treeCpuSeconds() ?? 0) - reapedBefore;
    expect(sampled).toBeGreaterThanOrEqual(0.4);
    // Read at the two ends only, the grandchild's 0.4 s is gone with it.
    expect(reaped).toBeLessThan(sampled - 0.3);
  });

  it("leaves the sampler's own reading of /proc out of the Node figure, which stands for the pipeline's work", () => {
    const watch = watchOwnCpu(process.pid, 3_600_000);
    const before = cpuSnapshot();
    const started = process.cpuUsage();
    for (let i = 0; i < 300; i += 1) watch.sample();
    const spent = process.cpuUsage(started);
    const spentSeconds = (spent.user + spent.system) / 1e6;
    const after = cpuSnapshot();
    watch.stop();
    // The loop did nothing but sample: what the Node figure still shows of it is the loop's own
    // overhead, a small part of the sampling.
    expect(spentSeconds).toBeGreaterThan(0);
    expect(after.nodeSeconds - before.nodeSeconds).toBeLessThan(spentSeconds / 2);
  });
});
