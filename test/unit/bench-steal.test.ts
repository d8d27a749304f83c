import { describe, expect, it } from 'vitest';
import { machineTicks, stealCaveat, stealPercent } from '../../scripts/bench/cpu.ts';

// The aggregate line and one per-core line of /proc/stat (proc(5): user nice system idle iowait
// irq softirq steal guest guest_nice, in USER_HZ ticks).
const before = `cpu  1000 10 200 5000 40 5 15 100 0 0
cpu0 500 5 100 2500 20 2 7 50 0 0
intr 123 0 0
`;
const after = `cpu  1600 10 300 5400 40 5 25 400 0 0
cpu0 800 5 150 2700 20 2 12 200 0 0
`;

describe('bench: host steal from /proc/stat', () => {
  it('reads work (user, nice, system, irq, softirq) and steal from the aggregate line, and the cores', () => {
    expect(machineTicks(before)).toEqual({ work: 1230, steal: 100, cores: 1 });
    expect(machineTicks(after)).toEqual({ work: 1940, steal: 400, cores: 1 });
    expect(machineTicks('intr 1 2 3\n')).toBeUndefined();
  });

  it('gives steal as a share of the busy time between two readings', () => {
    // 710 ticks of work, 300 stolen: 300 / 1010.
    expect(stealPercent(machineTicks(before), machineTicks(after))).toBe(29.7);
    expect(stealPercent(undefined, machineTicks(after))).toBeUndefined();
    expect(stealPercent(machineTicks(before), machineTicks(before))).toBeUndefined();
  });

  it('flags a ratio between sections whose steal differs by more than 5 points, and which way it leans', () => {
    expect(
      stealCaveat(
        { section: 'pipelineOnePage', stealPercent: 3.6 },
        { section: 'render', stealPercent: 14.4 },
      ),
    ).toBe(
      'host steal 3.6% in pipelineOnePage vs 14.4% in render: render ran on a slower machine, so the ratio leans high',
    );
    expect(
      stealCaveat({ section: 'pipeline', stealPercent: 20 }, { section: 'render', stealPercent: 2 }),
    ).toMatch(/pipeline ran on a slower machine, so the ratio leans low$/);
    expect(
      stealCaveat({ section: 'pipeline', stealPercent: 4 }, { section: 'render', stealPercent: 9 }),
    ).toBeUndefined();
    expect(stealCaveat({ section: 'pipeline' }, { section: 'render', stealPercent: 30 })).toBeUndefined();
  });
});
