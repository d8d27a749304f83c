import type { ChildProcess } from 'node:child_process';

export interface WatchedChild {
  stdout(): string;
  stderr(): string;
  /** Both streams, in the order their chunks came. */
  output(): string;
  /** How it ended: its exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** What a spawned process writes, kept as it comes, and how it ends. Call at once after spawn. */
export function watchChild(child: ChildProcess): WatchedChild {
  let stdout = '';
  let stderr = '';
  let both = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    stdout += text;
    both += text;
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    stderr += text;
    both += text;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { stdout: () => stdout, stderr: () => stderr, output: () => both, exited };
}
