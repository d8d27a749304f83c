import { describe, expect, it } from 'vitest';
import { reissueInputSchema, revokeInputSchema } from '../../lib/certificates/lifecycle.ts';
import { courseLifecycleUpdateSchema } from '../../lib/http/routes/course-lifecycle.ts';

// Characters that print nothing: a zero-width space, a word joiner, a bidi override, a Hangul filler.
const invisible = ['\u200B', '\u2060\u200B', ' \u202E ', '\u3164'];

describe('reasons staff must give are something a reader can see', () => {
  it('an `other` revocation needs visible reason text; other codes need none', () => {
    for (const reasonText of invisible)
      expect(
        revokeInputSchema.safeParse({ reasonCode: 'other', reasonText }).success,
        JSON.stringify(reasonText),
      ).toBe(false);
    expect(revokeInputSchema.safeParse({ reasonCode: 'other', reasonText: '\u200BFraud' }).success).toBe(
      true,
    );
    expect(revokeInputSchema.safeParse({ reasonCode: 'other', reasonText: '詐欺' }).success).toBe(true);
    expect(revokeInputSchema.safeParse({ reasonCode: 'issued-in-error' }).success).toBe(true);
  });

  it('a reissue and a course lifecycle change refuse an invisible reason', () => {
    for (const reason of invisible) {
      expect(reissueInputSchema.safeParse({ reason }).success, JSON.stringify(reason)).toBe(false);
      expect(courseLifecycleUpdateSchema.safeParse({ validityMonths: 12, reason }).success).toBe(false);
    }
    expect(reissueInputSchema.safeParse({ reason: 'name corrected' }).success).toBe(true);
    expect(courseLifecycleUpdateSchema.safeParse({ validityMonths: 12, reason: 'policy 2027' }).success).toBe(
      true,
    );
    expect(courseLifecycleUpdateSchema.safeParse({ validityMonths: 12 }).success).toBe(true);
  });
});
