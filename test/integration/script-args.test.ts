import { describe, expect, it } from 'vitest';
import { runScript } from '../support/run-script.ts';

// A database nobody answers at, on another host: a script that touched it would fail or hang,
// so each outcome below is the script's own, before any connection.
const FAR_DATABASE = 'postgres://certificates:secret@db.example.invalid:5432/certificates';

const run = (script: string, args: string[]) =>
  runScript(script, args, { DATABASE_URL: FAR_DATABASE, GENERATE_FAILURE_QUEUE_URL: '' });

describe('npm run scripts and their arguments', () => {
  const scripts = ['seed', 'migrate', 'preview', 'backfill', 'failed-invocations', 'template'];

  it.each(scripts)(
    '%s: --help prints the usage and touches nothing; an unknown option is a usage error',
    async (script) => {
      const help = await run(script, ['--help']);
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toContain(`usage: npm run ${script}`);
      expect(help.stderr).toBe('');

      const unknown = await run(script, ['--frobnicate']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("Unknown option '--frobnicate'");
      expect(unknown.stderr).toContain(`usage: npm run ${script}`);
      // The reason and the usage, not a stack trace.
      expect(unknown.stderr).not.toMatch(/\n\s+at /);
    },
  );

  it.each(['verify', 'start', 'bench'])('%s: --help prints the usage and starts nothing', async (script) => {
    const help = await run(script, ['--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`usage: npm (run )?${script === 'start' ? 'start' : script}`));
  });

  it('seed puts demo data only into a database on this machine unless told --yes', async () => {
    const refused = await run('seed', []);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Not seeding db.example.invalid');
    expect(refused.stderr).toContain('--yes');
  });
});
