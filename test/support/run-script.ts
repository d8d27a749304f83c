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
  env: Record<string, string | undefined> = {},
): Promise<ScriptRun> {
  // The shell's environment, with `env` over it; a variable given as undefined is unset, so a
  // test of "without X" holds whatever the developer exported.
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return new Promise((resolve) => {
    execFile(
      join(ROOT, 'node_modules/.bin/node'),
      ['--import', 'tsx', `scripts/${script}.ts`, ...args],
      { cwd: ROOT, encoding: 'utf8', env: merged },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}
