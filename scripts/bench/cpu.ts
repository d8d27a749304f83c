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

function statOf(pid: number): { comm: string; seconds: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // Fields after "(comm) ": state is [0], utime [11], stime [12].
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { comm, seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

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
  return { byPid, nodeSeconds: (usage.user + usage.system) / 1e6 };
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
  const line = stat.split('\n').find((candidate) => candidate.startsWith('cpu '));
  if (!line) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const work = [user, nice, system, irq, softirq].reduce<number>((sum, value) => sum + (value ?? 0), 0);
  return { work, steal: steal ?? 0 };
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
