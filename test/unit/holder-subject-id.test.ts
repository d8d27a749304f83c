import { describe, expect, it } from 'vitest';
import { holderSubjectId } from '../../lib/credentials/credential-service.ts';

const alice = '5b0c2f4e-8a61-4c1e-9d3a-7f2b6c1d0a01';
const first = 'c0ffee00-0000-4000-8000-000000000001';
const second = 'c0ffee00-0000-4000-8000-000000000002';

describe("the Open Badges credential's subject id", () => {
  it('is a version 5 UUID URN, stable for one certificate, another for each certificate, never the account id', () => {
    const id = holderSubjectId(alice, first);
    expect(id).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(holderSubjectId(alice, first)).toBe(id);
    // Ids as PostgreSQL prints them or as a caller typed them: the same certificate.
    expect(holderSubjectId(alice.toUpperCase(), first.toUpperCase())).toBe(id);
    // Two certificates of one student are not linked by it.
    expect(holderSubjectId(alice, second)).not.toBe(id);
    expect(id).not.toContain(alice);
  });
});
