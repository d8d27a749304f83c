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

  it('compromise-key takes a key id that begins with a dash, as one in 64 does, as given', async () => {
    const result = await run('compromise-key', ['--kid', '-Ab3_x', '--actor', 'incident-1', '--dry-run']);
    // Past the arguments: it went on to the database, which nobody answers at.
    expect(result.stderr).not.toContain('ambiguous');
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('npm run compromise-key:');
  });

  it("compromise-key takes the credentials key's URL kid, as the JWK Set lists it first, for its thumbprint", async () => {
    const thumbprint = 'N45gv7CyAbCdEfGhIjKlMnOpQrStUvWxYz012345678';
    const result = await run('compromise-key', [
      '--kid',
      `https://certs.example.org/api/v1/keys/${thumbprint}`,
      '--actor',
      'incident-1',
      '--dry-run',
    ]);
    // Past the arguments (a usage error exits 2): it went on to the database nobody answers at.
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).not.toContain('--kid must be');
    // A URL naming no key is still refused (key-compromise.test.ts: other malformed kids).
    const bad = await run('compromise-key', [
      '--kid',
      'https://x.example/other',
      '--actor',
      'x',
      '--dry-run',
    ]);
    expect(bad.stderr).toContain('--kid must be a key id');
  });

  it('seed puts demo data only into a database on this machine unless told --yes', async () => {
    const refused = await run('seed', []);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Not seeding db.example.invalid');
    expect(refused.stderr).toContain('--yes');
  });

  // What an operator meets first: no DATABASE_URL, a database that refuses, an argument that is
  // not what it should be. One line naming it and the exit code, never a stack trace.
  const REFUSED = 'postgres://certificates:secret@127.0.0.1:1/certificates';
  it.each([
    [
      'migrate',
      [],
      { DATABASE_URL: undefined },
      1,
      /^npm run migrate: Invalid configuration: DATABASE_URL is required$/,
    ],
    ['migrate', [], { DATABASE_URL: REFUSED }, 1, /^npm run migrate: connect ECONNREFUSED 127\.0\.0\.1:1$/],
    ['template', ['list'], { DATABASE_URL: undefined }, 1, /^npm run template: .*DATABASE_URL is required$/],
    ['template', ['list'], { DATABASE_URL: REFUSED }, 1, /^npm run template: .*ECONNREFUSED/],
    [
      'template',
      ['list', '--course', ''],
      {},
      2,
      /^--course must be a course id \(a UUID\) or default, not ""$/,
    ],
    [
      'backfill',
      ['--from', '2020-01-01', '--dry-run'],
      { DATABASE_URL: REFUSED },
      1,
      /^npm run backfill: .*ECONNREFUSED/,
    ],
    ['backfill', ['--from', '2020-02-30'], {}, 2, /^npm run backfill: from must be a date/],
    ['backfill', ['--dry-run'], {}, 2, /^--from is required: the first day/],
    [
      'backfill',
      ['--from', '2020-01-01', '--to', '2019-01-01'],
      {},
      2,
      /^npm run backfill: to must be after/,
    ],
    [
      'backfill',
      ['--from', '2020-01-01', '--course', "' OR 1=1"],
      {},
      2,
      /^--course must be a course id \(a UUID\)/,
    ],
    [
      'preview',
      ['--template', '00000000-0000-4000-8000-000000000000'],
      { DATABASE_URL: REFUSED },
      1,
      /^npm run preview: .*ECONNREFUSED/,
    ],
    ['preview', ['--template', 'not-a-uuid'], {}, 2, /^npm run preview: template id must be a UUID$/],
    [
      'preview',
      ['--template', '00000000-0000-4000-8000-000000000000'],
      { DATABASE_URL: undefined },
      1,
      /^npm run preview: .*DATABASE_URL is required to read a stored template/,
    ],
  ] as const)('%s %j with %j: exit %i, one line, no stack', async (script, args, env, code, line) => {
    const result = await runScript(script, [...args], { DATABASE_URL: FAR_DATABASE, ...env });
    expect(result.code, result.stderr).toBe(code);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toMatch(line);
    // The usage follows bad input only.
    expect(lines.slice(1).join('\n')).toMatch(code === 2 ? new RegExp(`^usage: npm run ${script}`) : /^$/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
