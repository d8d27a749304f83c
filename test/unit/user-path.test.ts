import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { userPath } from '../../scripts/cli-args.ts';

afterEach(() => {
  vi.unstubAllEnvs();
});

it("a relative path is the user's: from where npm was called when npm runs this script, else the working directory", () => {
  vi.stubEnv('INIT_CWD', '/home/ada/certificates');
  vi.stubEnv('npm_lifecycle_script', 'tsx scripts/verify.ts');
  expect(userPath('mycert.pdf', 'scripts/verify.ts')).toBe('/home/ada/certificates/mycert.pdf');
  expect(userPath('../jwks.json', 'scripts/verify.ts')).toBe('/home/ada/jwks.json');
  expect(userPath('/tmp/mycert.pdf', 'scripts/verify.ts')).toBe('/tmp/mycert.pdf');
  // npm ran something else (npm test spawning the script): INIT_CWD is not this script's.
  vi.stubEnv('npm_lifecycle_script', 'npm run lint && vitest run');
  expect(userPath('mycert.pdf', 'scripts/verify.ts')).toBe(join(process.cwd(), 'mycert.pdf'));
  vi.stubEnv('npm_lifecycle_script', undefined);
  expect(userPath('mycert.pdf', 'scripts/verify.ts')).toBe(join(process.cwd(), 'mycert.pdf'));
});
