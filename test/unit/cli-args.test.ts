import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { joinDashValues } from '../../scripts/cli-args.ts';

const OPTIONS = {
  kid: { type: 'string' },
  actor: { type: 'string' },
  yes: { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
} as const;

const parse = (args: string[]) =>
  parseArgs({ args: joinDashValues(args, OPTIONS), options: OPTIONS, strict: true }).values;

describe('script arguments', () => {
  it('takes a string value that begins with a dash, as one key id in 64 does', () => {
    // Without the join, node:util refuses it: the failure an operator met.
    expect(() => parseArgs({ args: ['--kid', '-Xy3_q'], options: OPTIONS, strict: true })).toThrowError(
      /ambiguous/,
    );
    expect(parse(['--kid', '-Xy3_q', '--actor', 'incident-7', '--yes'])).toEqual({
      kid: '-Xy3_q',
      actor: 'incident-7',
      yes: true,
      verbose: false,
    });
    expect(parse(['--kid=-Xy3_q'])).toMatchObject({ kid: '-Xy3_q' });
    expect(parse(['--actor', '--kid-like-text'])).toMatchObject({ actor: '--kid-like-text' });
  });

  it('leaves a forgotten value an error: an option, a short flag or -- after a string option', () => {
    expect(() => parse(['--kid', '--yes'])).toThrowError(/ambiguous|argument missing/);
    expect(() => parse(['--kid', '-v'])).toThrowError(/ambiguous|argument missing/);
    expect(() => parse(['--kid', '--yes=true'])).toThrowError();
    expect(joinDashValues(['--kid', '--', '-x'], OPTIONS)).toEqual(['--kid', '--', '-x']);
    // A boolean option never takes the next argument.
    expect(joinDashValues(['--yes', '-x'], OPTIONS)).toEqual(['--yes', '-x']);
  });
});
