import { describe, expect, it } from 'vitest';
import { expectedFailure } from '../../scripts/cli-args.ts';

// Tests a mutation sweep (2026-12-05) found missing for scripts/cli-args.ts'
// expectedFailure: what a script prints as one line instead of a stack trace.

describe('expected script failures', () => {
  it("PostgreSQL's refusals (a wrong password, no such database) are one line, exit 1", () => {
    for (const [code, message] of [
      ['28P01', 'password authentication failed for user "certificates"'],
      ['3D000', 'database "certificates" does not exist'],
    ] as const) {
      expect(expectedFailure(Object.assign(new Error(message), { code })), code).toEqual({
        message,
        exitCode: 1,
      });
    }
  });

  it('a refused connection to a name with several addresses says each, not only its code', () => {
    const refused = (address: string) =>
      Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
    const error = Object.assign(new AggregateError([refused('::1:5432'), refused('127.0.0.1:5432')], ''), {
      code: 'ECONNREFUSED',
    });
    expect(expectedFailure(error)).toEqual({
      message: 'connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432',
      exitCode: 1,
    });
  });
});
