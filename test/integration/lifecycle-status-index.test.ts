import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignIssueLifecycle, revokeCertificate } from '../../lib/certificates/lifecycle.ts';
import { getBit } from '../../lib/credentials/status-list.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { issuedCertificate, renderingCertificate } from './lifecycle-fixtures.ts';
import { createCourse, recordingLog } from './pipeline-fixtures.ts';

// Audit s12 (personal data) finding 1: status-list bits are never cleared, so an index whose
// certificate was revoked and then deleted is no certificate's, yet its bit is set. A new
// certificate drawing it would be published revoked from the moment it is issued.

let t: TestEnv;
const log = recordingLog();

beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

async function bitsOf(listId: string): Promise<Uint8Array> {
  const [row] = await t.sql<{ bits: Buffer }[]>`SELECT bits FROM status_lists WHERE id = ${listId}`;
  if (!row) throw new Error('no status list');
  return new Uint8Array(row.bits);
}

describe('status-list index allocation', () => {
  it('never hands out the index of a deleted revoked certificate: its bit is still set', async () => {
    const courseId = await createCourse(t.sql);
    const revoked = await issuedCertificate(t.sql, { courseId });
    const [entry] = await t.sql<{ list: string; index: number }[]>`
      SELECT status_list_id AS list, status_list_index AS index FROM certificates WHERE id = ${revoked.id}`;
    if (!entry) throw new Error('no status entry');
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: revoked.id, reasonCode: 'requested-by-holder', actor: 'staff' },
    );
    expect(getBit(await bitsOf(entry.list), entry.index)).toBe(true);
    // Deleted (test data, a hand-run erasure): its audit rows first, they block the delete.
    await t.sql`DELETE FROM certificate_generation_log WHERE certificate_id = ${revoked.id}`;
    await t.sql`UPDATE certificates SET superseded_by = NULL WHERE superseded_by = ${revoked.id}`;
    await t.sql`DELETE FROM certificates WHERE id = ${revoked.id}`;
    const [held] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificates
      WHERE status_list_id = ${entry.list} AND status_list_index = ${entry.index}`;
    expect(held?.n).toBe(0);
    const [other] = await t.sql<{ index: number }[]>`
      SELECT i AS index FROM generate_series(0, 1000) i
      WHERE i <> ${entry.index}
        AND NOT EXISTS (SELECT 1 FROM certificates WHERE status_list_id = ${entry.list} AND status_list_index = i)
      ORDER BY i LIMIT 1`;
    if (!other) throw new Error('no free index');

    const fresh = await renderingCertificate(t.sql, courseId);
    const draws = [entry.index, other.index];
    const assigned = await assignIssueLifecycle(t.sql, fresh, {
      issuedOn: '2026-01-15',
      random: () => draws.shift() ?? other.index,
    });

    expect(draws).toEqual([]);
    expect(assigned).toMatchObject({ statusListId: entry.list, statusListIndex: other.index });
    expect(getBit(await bitsOf(entry.list), other.index)).toBe(false);
  });
});
