import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type CredentialSettings,
  openBadgeForCertificate,
} from '../../lib/credentials/credential-service.ts';
import { ownDatabaseAcross } from '../support/migrations.ts';
import { issuedCertificate } from './lifecycle-fixtures.ts';
import { createCourse } from './pipeline-fixtures.ts';

// An upgrade from before the course facts were kept with each certificate (1734100000000): the
// Open Badges credential the routes serve for an earlier certificate followed the course, so a
// course change after the upgrade made it differ from the one in the holder's PDF. Now a course
// change first writes the facts as they were into those certificates, and into those that code
// from before the snapshot issues during the deploy (or after a rollback).

const own = ownDatabaseAcross(1734600000000);
const { migrate } = own;

const SETTINGS: CredentialSettings = {
  apiBaseUrl: 'https://certs.example.org/api/v1',
  verifyBaseUrl: 'https://certs.example.org/verify',
  issuer: { id: 'https://certs.example.org', name: 'Northbridge Academy' },
  statusListTtlSeconds: 300,
};

async function served(certificateId: string) {
  const credential = await openBadgeForCertificate({ sql: own.sql }, SETTINGS, certificateId);
  const { achievement } = credential.credentialSubject;
  return { code: achievement.humanCode, narrative: achievement.criteria.narrative };
}

describe('upgrading to the course facts kept for earlier certificates', () => {
  it('keeps the credential an earlier certificate is served when the course changes later, and snapshots what older code issues', async () => {
    await migrate('down');
    const courseId = await createCourse(own.sql, { passPercentage: 70 });
    await own.sql`UPDATE courses SET code = 'TS-101' WHERE id = ${courseId}`;
    const earlier = await issuedCertificate(own.sql, { courseId });
    // A certificate older code leaves pending, and issues after the upgrade (during the deploy).
    const waiting = await issuedCertificate(own.sql, { courseId, studentId: randomUUID() });
    await own.sql`UPDATE certificates SET status = 'pending', achievement = NULL WHERE id = ${waiting.id}`;
    const before = await served(earlier.id);
    expect(before.code).toBe('TS-101');
    expect(before.narrative).toContain('at least 70%');

    await migrate('up');
    // Older code's issuing update: the status and its columns, no achievement.
    await own.sql`UPDATE certificates SET status = 'issued' WHERE id = ${waiting.id}`;
    await own.sql`UPDATE courses SET code = 'TS-201', pass_percentage = 90 WHERE id = ${courseId}`;

    expect(await served(earlier.id)).toEqual(before);
    expect(await served(waiting.id)).toEqual(before);
    // A certificate that records its own facts (today's generate) keeps them; one issued after the
    // change without them follows the course as it is now, until the next change.
    const recorded = await issuedCertificate(own.sql, { courseId, studentId: randomUUID() });
    await own.sql`
      UPDATE certificates SET achievement = '{"code": "TS-150", "locale": "en", "pass_percentage": "80.00"}'
      WHERE id = ${recorded.id}`;
    const later = await issuedCertificate(own.sql, { courseId, studentId: randomUUID() });
    await own.sql`UPDATE courses SET code = 'TS-301' WHERE id = ${courseId}`;
    expect((await served(recorded.id)).code).toBe('TS-150');
    expect(await served(later.id)).toEqual({
      code: 'TS-201',
      narrative: expect.stringContaining('at least 90%'),
    });
    expect(await served(earlier.id)).toEqual(before);
  });
});
