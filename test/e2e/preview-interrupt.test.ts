import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  commandLine,
  descendantsOf,
  isAlive,
  killProcessesMentioning,
  signal,
  waitUntilGone,
} from '../../scripts/process-tree.ts';
import { watchChild } from '../support/child-output.ts';

// `npm run preview` stopped by Ctrl-C in a terminal, i.e. SIGINT to its whole process group.
// Puppeteer starts Chromium detached, in a group of its own, with its signal handling off
// (lib/render/browser.ts): the signal never reaches it, and only the script can close it.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HELD = 'preview-interrupt: holding the PDF write';

/**
 * Loaded into the preview with --import: the write of the PDF never completes, so the script
 * sits with its Chromium open (the renderer is closed only after the files are written) for as
 * long as the test needs, instead of the test racing a run that ends within a second or two.
 */
const HOLD_MODULE = `
import fs from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
const write = fs.writeFile;
fs.writeFile = (file, ...rest) => {
  if (!String(file).endsWith('.pdf')) return write(file, ...rest);
  process.stderr.write(${JSON.stringify(`${HELD}\n`)});
  return new Promise(() => {});
};
syncBuiltinESMExports();
`;

/** What one run left to clean up, whatever assertion failed or however the test timed out. */
let current: { child: ChildProcess; folder: string; seen: Set<number>; stop: () => void } | undefined;

afterEach(async () => {
  if (!current) return;
  const { child, folder, seen, stop } = current;
  current = undefined;
  stop();
  // The script's group, every process seen under it (Chromium's group included), then anything
  // still naming the run's temp folder (Chromium's profile lives there): an orphaned Chromium
  // has left the tree by then.
  if (child.pid !== undefined) signal(-child.pid, 'SIGKILL');
  for (const pid of seen) {
    signal(-pid, 'SIGKILL');
    signal(pid, 'SIGKILL');
  }
  killProcessesMentioning(folder);
  await rm(folder, { recursive: true, force: true });
});

describe('npm run preview, interrupted', () => {
  it('closes its Chromium on Ctrl-C (SIGINT to the group), removes its profile, and exits 130', async () => {
    // The run's own temp folder (TMPDIR): puppeteer's profile folder goes there, so whatever is
    // left can be found by name, and nothing of a developer's runs is touched.
    const folder = await mkdtemp(join(tmpdir(), 'preview-interrupt-'));
    const hold = join(folder, 'hold.mjs');
    await writeFile(hold, HOLD_MODULE);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        pathToFileURL(hold).href,
        'scripts/preview.ts',
        '--out',
        join(folder, 'out', 'certificate'),
      ],
      {
        cwd: ROOT,
        // PUPPETEER_TMP_DIR would take the profile elsewhere.
        env: { ...process.env, TMPDIR: folder, PUPPETEER_TMP_DIR: undefined },
        // Its own group, led by the script, as a terminal runs a command: SIGINT goes to the group.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stopped = false;
    const seen = new Set<number>();
    current = {
      child,
      folder,
      seen,
      stop: () => {
        stopped = true;
      },
    };
    const { output, exited } = watchChild(child);
    const pid = child.pid as number;

    // Until the script holds with its Chromium up: the browser process (the one given the
    // profile folder) is in its tree. Bounded by the test's timeout, not by a guess at how long
    // a busy machine takes.
    let tree: number[] = [];
    const browser = () => tree.find((member) => commandLine(member).includes('--user-data-dir='));
    while (!output().includes(HELD) || browser() === undefined) {
      if (stopped) return;
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the preview exited early:\n${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      tree = descendantsOf(pid);
      for (const member of tree) seen.add(member);
    }
    const profile = /--user-data-dir=(\S+)/.exec(commandLine(browser() as number))?.[1] ?? '';
    expect(profile.startsWith(join(folder, 'puppeteer_dev_chrome_profile-'))).toBe(true);
    expect(existsSync(profile)).toBe(true);

    signal(-pid, 'SIGINT');
    const outcome = await exited;

    // 128 + SIGINT's number, after closing Chromium (not killed by the signal itself).
    expect(outcome).toEqual({ code: 130, signal: null });
    expect(output()).toContain('SIGINT: closing Chromium');
    // Chromium, renderers and helpers alike; an orphan would live on with parent 1. Re-parented
    // zombies count as gone.
    await waitUntilGone(tree, 60_000);
    expect(tree.filter(isAlive).map(commandLine)).toEqual([]);
    // Puppeteer removes the profile once Chromium has exited, before the close resolves.
    expect(existsSync(profile)).toBe(false);
  }, 300_000);
});
