import { execFile } from 'node:child_process';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface ScriptRun {
  /** The exit code (null when a signal ended it). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `scripts/<script>.ts` as `npm run <script>` runs it: the project's Node 22 and tsx, from the project folder. */
export function runScript(
  script: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<ScriptRun> {
  return new Promise((resolve) => {
    execFile(
      join(ROOT, 'node_modules/.bin/node'),
      ['--import', 'tsx', `scripts/${script}.ts`, ...args],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}
