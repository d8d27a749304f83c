import { readFileSync } from 'node:fs';
import { descendantsOf } from '../process-tree.ts';
import { round } from './stats.ts';

/**
 * CPU time by process group, read from /proc, so a throughput figure on a 2-core machine can
 * say where the cores went: this process (Node: the pipeline's own work), Chromium, and the
 * stand-ins (PostgreSQL; the S3 and Keycloak stand-ins' Node process), which in a deployment
 * run elsewhere. Linux only; elsewhere every group reads 0 and the bench says so.
 */

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux build we run on). */
const TICKS_PER_SECOND = 100;

export type CpuGroup = 'node' | 'chromium' | 'postgres' | 'stand-ins' | 'other';

export interface CpuSnapshot {
  /** Seconds of CPU per pid (user + system), with the group it counts towards. */
  byPid: Map<number, { group: CpuGroup; seconds: number }>;
  nodeSeconds: number;
}

function statOf(pid: number): { comm: string; seconds: number; reapedSeconds: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // Fields after "(comm) ": state is [0], utime [11], stime [12], cutime [13], cstime [14]
    // (the last two: children that ended and that this process waited for).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      comm,
      seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
      reapedSeconds: (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND,
    };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used so far by `root` and everything it started, including processes that ended:
 * a process's time moves into its parent's cutime/cstime when the parent waits for it, so
 * PostgreSQL backends of a closed pool, a naive renderer's Chromium or a cold start's process
 * still count (a process orphaned to init before it ended is missed). Undefined without /proc.
 */
export function treeCpuSeconds(root = process.pid): number | undefined {
  const own = statOf(root);
  if (!own) return undefined;
  let total = own.seconds + own.reapedSeconds;
  for (const pid of descendantsOf(root)) {
    const stat = statOf(pid);
    if (stat) total += stat.seconds + stat.reapedSeconds;
  }
  return total;
}

/**
 * CPU this process spent reading /proc for watchOwnCpu's samples (~1 ms each, every 0.2 s):
 * the bench's own measuring, left out of the Node figure (cpuSnapshot) that stands for the
 * pipeline's work. It still counts as this run's CPU for other load.
 */
let samplingSeconds = 0;

/** `standInsPid`: the process that runs the stand-ins (its tree is PostgreSQL and the Node stand-ins). */
export function cpuSnapshot(standInsPid?: number): CpuSnapshot {
  const usage = process.cpuUsage();
  const byPid = new Map<number, { group: CpuGroup; seconds: number }>();
  const standIns = new Set(standInsPid === undefined ? [] : [standInsPid, ...descendantsOf(standInsPid)]);
  for (const pid of descendantsOf(process.pid)) {
    const stat = statOf(pid);
    if (!stat) continue;
    const group: CpuGroup = standIns.has(pid)
      ? stat.comm.startsWith('postgres')
        ? 'postgres'
        : 'stand-ins'
      : /chrom|headless/i.test(stat.comm)
        ? 'chromium'
        : 'other';
    byPid.set(pid, { group, seconds: stat.seconds });
  }
  return { byPid, nodeSeconds: (usage.user + usage.system) / 1e6 - samplingSeconds };
}

/** CPU milliseconds per item in each group between two snapshots (processes that ended between them are missed). */
export function cpuPerItem(before: CpuSnapshot, after: CpuSnapshot, items: number): Record<CpuGroup, number> {
  const totals: Record<CpuGroup, number> = {
    node: after.nodeSeconds - before.nodeSeconds,
    chromium: 0,
    postgres: 0,
    'stand-ins': 0,
    other: 0,
  };
  for (const [pid, now] of after.byPid)
    totals[now.group] += now.seconds - (before.byPid.get(pid)?.seconds ?? 0);
  const per = (seconds: number) => round((seconds * 1000) / Math.max(1, items), 1);
  return {
    node: per(totals.node),
    chromium: per(totals.chromium),
    postgres: per(totals.postgres),
    'stand-ins': per(totals['stand-ins']),
    other: per(totals.other),
  };
}

/** The whole machine's CPU time in /proc/stat ticks: work done and time the host took (steal). */
export interface MachineTicks {
  work: number;
  steal: number;
  /** Cores the machine has (its `cpuN` lines), whether or not this run may use them all. */
  cores: number;
}

/** Reads the aggregate `cpu` line of /proc/stat; undefined where there is none (not Linux). */
export function machineTicks(text?: string): MachineTicks | undefined {
  let stat = text;
  if (stat === undefined) {
    try {
      stat = readFileSync('/proc/stat', 'utf8');
    } catch {
      return undefined;
    }
  }
  const lines = stat.split('\n');
  const line = lines.find((candidate) => candidate.startsWith('cpu '));
  if (!line) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const work = [user, nice, system, irq, softirq].reduce<number>((sum, value) => sum + (value ?? 0), 0);
  const cores = lines.filter((candidate) => /^cpu\d+ /.test(candidate)).length;
  return { work, steal: steal ?? 0, cores };
}

/**
 * The share of the machine's busy time that its host took between two readings: on a virtual
 * machine whose host is overcommitted, wall-clock figures measured meanwhile are slower by about
 * that much, and ratios between sections measured at different moments stop being comparable.
 */
export function stealPercent(
  before: MachineTicks | undefined,
  after: MachineTicks | undefined,
): number | undefined {
  if (!before || !after) return undefined;
  const work = after.work - before.work;
  const steal = after.steal - before.steal;
  return work + steal > 0 ? round((100 * steal) / (work + steal), 1) : undefined;
}

/**
 * A ratio between two sections measured minutes apart is only as fair as the machine was equal
 * in both: when the host took noticeably more in one (more than `thresholdPoints` percentage
 * points of steal), the ratio leans that way. Returns what to print beside it, or nothing.
 */
export function stealCaveat(
  numerator: { section: string; stealPercent?: number },
  denominator: { section: string; stealPercent?: number },
  thresholdPoints = 5,
): string | undefined {
  const { stealPercent: top } = numerator;
  const { stealPercent: bottom } = denominator;
  if (top === undefined || bottom === undefined || Math.abs(top - bottom) <= thresholdPoints)
    return undefined;
  const slower = top > bottom ? numerator.section : denominator.section;
  return `host steal ${top}% in ${numerator.section} vs ${bottom}% in ${denominator.section}: ${slower} ran on a slower machine, so the ratio leans ${top > bottom ? 'low' : 'high'}`;
}

/** What the machine and this run had used at one moment: two of them give a section's other load. */
export interface LoadReading {
  machine: MachineTicks | undefined;
  /** CPU seconds this run's whole process tree used since the first of two readings (`watchOwnCpu`). */
  ownCpuSeconds: number | undefined;
  /** Monotonic wall clock, in seconds. */
  atSeconds: number;
}

/** The machine's ticks now, and this run's CPU since a section began (`watchOwnCpu`). */
export function loadReading(ownCpuSeconds: number | undefined): LoadReading {
  return { machine: machineTicks(), ownCpuSeconds, atSeconds: performance.now() / 1000 };
}

/**
 * The CPU this run's process tree uses from now until `stop()`, read two ways, the larger kept:
 * each misses some of this run's CPU and neither counts another's.
 * - Sampled every `intervalMs`: each process's own time (never its children's cutime), from its
 *   value at the start, or from 0 for a process born meanwhile, to the last value seen. It misses
 *   what a process uses in its last interval and processes shorter than one interval; a sample
 *   reads /proc for the tree, ~1 ms.
 * - At the two ends (treeCpuSeconds, children that ended included through cutime). It misses
 *   processes that ended without their parent waiting for them: a closing Chromium often exits
 *   before it reaps its renderers, which init then reaps, and with this reading alone a quiet
 *   one-page drain read 25% "other load" in one run and 0% in the next.
 */
export function watchOwnCpu(
  root = process.pid,
  intervalMs = 200,
): { sample: () => void; stop: () => number | undefined } {
  if (!statOf(root)) return { sample: () => undefined, stop: () => undefined };
  const treeBefore = treeCpuSeconds(root);
  const base = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = (initial: boolean) => {
    const started = process.cpuUsage();
    for (const pid of [root, ...descendantsOf(root)]) {
      const stat = statOf(pid);
      if (!stat) continue;
      if (!last.has(pid)) base.set(pid, initial ? stat.seconds : 0);
      last.set(pid, stat.seconds);
    }
    const spent = process.cpuUsage(started);
    samplingSeconds += (spent.user + spent.system) / 1e6;
  };
  sample(true);
  const timer = setInterval(() => sample(false), intervalMs);
  timer.unref();
  return {
    /** A reading now, besides the timer's (a test's checkpoint). */
    sample: () => sample(false),
    stop: () => {
      clearInterval(timer);
      sample(false);
      let sampled = 0;
      for (const [pid, seconds] of last) sampled += seconds - (base.get(pid) ?? 0);
      const treeAfter = treeCpuSeconds(root);
      const twoEnded = treeBefore === undefined || treeAfter === undefined ? 0 : treeAfter - treeBefore;
      return Math.max(sampled, twoEnded);
    },
  };
}

/**
 * The share of the machine's capacity (all its cores for the time between two readings) that
 * processes outside this run used: another test run or a build on the same machine slows a
 * section as steal does, yet steal does not show it. It is the machine's busy time less this
 * run's own CPU, so it is clamped to 0-100: tick sampling in /proc/stat and per-process
 * accounting differ by a little, and this run's own interrupt work counts as the machine's.
 */
export function otherLoadPercent(before: LoadReading, after: LoadReading): number | undefined {
  if (!before.machine || !after.machine) return undefined;
  if (before.ownCpuSeconds === undefined || after.ownCpuSeconds === undefined) return undefined;
  const capacitySeconds = (after.atSeconds - before.atSeconds) * after.machine.cores;
  if (!(capacitySeconds > 0)) return undefined;
  const machineSeconds = (after.machine.work - before.machine.work) / TICKS_PER_SECOND;
  const otherSeconds = machineSeconds - (after.ownCpuSeconds - before.ownCpuSeconds);
  return round(Math.min(100, Math.max(0, (100 * otherSeconds) / capacitySeconds)), 1);
}

/** Above this share of the machine, other load is worth a word beside the figures it slowed. */
export const OTHER_LOAD_THRESHOLD_PERCENT = 10;

/**
 * Beside a ratio between two sections: when other processes took more than `thresholdPoints`
 * more of the machine in one, the ratio leans that way; when both were that busy but alike, it
 * leans nowhere in particular but is less sure than in a quiet run. Returns what to print, or nothing.
 */
export function otherLoadCaveat(
  numerator: { section: string; otherLoadPercent?: number },
  denominator: { section: string; otherLoadPercent?: number },
  thresholdPoints = OTHER_LOAD_THRESHOLD_PERCENT,
): string | undefined {
  const { otherLoadPercent: top } = numerator;
  const { otherLoadPercent: bottom } = denominator;
  if (top === undefined || bottom === undefined || Math.max(top, bottom) <= thresholdPoints) return undefined;
  const figures = `other load on the machine ${top}% in ${numerator.section} vs ${bottom}% in ${denominator.section}`;
  if (Math.abs(top - bottom) <= thresholdPoints)
    return `${figures}: both shared the machine with other work, so the ratio is less sure than in a quiet run`;
  const busier = top > bottom ? numerator.section : denominator.section;
  return `${figures}: ${busier} shared the machine with more other work, so the ratio leans ${top > bottom ? 'low' : 'high'}`;
}

/** Beside a figure of one section (a latency target): other load above the threshold makes it lean slow. */
export function otherLoadNote(
  measured: { section: string; otherLoadPercent?: number },
  thresholdPercent = OTHER_LOAD_THRESHOLD_PERCENT,
): string | undefined {
  const { otherLoadPercent: percent } = measured;
  if (percent === undefined || percent <= thresholdPercent) return undefined;
  return `other load on the machine ${percent}% while ${measured.section} ran: the figure leans slow`;
}
