import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ownDatabaseAcross } from '../support/migrations.ts';
import { createAttempt, createCourse, createPendingCertificate } from './pipeline-fixtures.ts';

// An upgrade from before test_attempts.later_pass_notify: later passes a silent backfill left
// waiting must stay silent when the scan decides them again; the scan's own stay announced.

// The flag's migration and every one after it go down; up applies everything pending.
const own = ownDatabaseAcross(1733500000000);
const { migrate } = own;

describe('upgrading to later_pass_notify', () => {
  it("keeps a silent backfill's waiting later passes silent, and the scan's announced", async () => {
    await migrate('down');
    const courseId = await createCourse(own.sql);
    const waiting = async (notify: boolean) => {
      const studentId = randomUUID();
      const certificate = await createPendingCertificate(own.sql, { studentId, courseId });
      await own.sql`UPDATE certificates SET notify = ${notify} WHERE id = ${certificate}`;
      const retake = await createAttempt(own.sql, { studentId, courseId, score: 99 });
      await own.sql`
        UPDATE test_attempts SET later_pass_outcome = 'in-progress', later_pass_at = now(),
               certificate_enqueued_at = now()
        WHERE id = ${retake}`;
      return retake;
    };
    const backfilled = await waiting(false);
    const scanned = await waiting(true);

    await migrate('up');

    const flags = await own.sql<{ id: string; later_pass_notify: boolean }[]>`
      SELECT id, later_pass_notify FROM test_attempts WHERE id IN (${backfilled}, ${scanned})`;
    expect(Object.fromEntries(flags.map((row) => [row.id, row.later_pass_notify]))).toEqual({
      [backfilled]: false,
      [scanned]: true,
    });
  });
});
