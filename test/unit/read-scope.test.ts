import { describe, expect, it } from 'vitest';
import { inScope } from '../../lib/auth/policies.ts';

// Whose certificates a caller may read: the token's `sub` as the identity provider wrote it, the
// path's id as the route lower-cased it (uuidParam). The same UUID in either case is one student.
describe('inScope', () => {
  const own = '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01';
  const other = '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a02';

  it("takes a student's own id in any case, and no one else's", () => {
    const upper = { kind: 'student' as const, studentId: own.toUpperCase() };
    expect(inScope(upper, own)).toBe(true);
    expect(inScope({ kind: 'student', studentId: own }, own.toUpperCase())).toBe(true);
    expect(inScope(upper, other)).toBe(false);
    expect(inScope({ kind: 'any' }, other)).toBe(true);
  });
});
