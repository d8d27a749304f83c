import type { Sql } from '../db/client.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { assertUuid } from './ids.ts';

/**
 * Operator action: gives a `dead` (or waiting `failed`) certificate a fresh set of attempts,
 * due now, once the cause is fixed (student restored in Keycloak, logo uploaded...). A dead
 * certificate still counts as the live one for its student and course, so without this a
 * later passing attempt would never be issued either.
 */
export async function requeueCertificate(
  sql: Sql,
  certificateId: string,
  input: { requestedBy: string; reason?: string },
): Promise<{ id: string; previousStatus: string }> {
  assertUuid(certificateId, 'certificateId');
  const [row] = await sql<{ id: string; previous_status: string }[]>`
    WITH prev AS (SELECT id, status FROM certificates WHERE id = ${certificateId}),
    requeued AS (
      UPDATE certificates c
      SET status = 'pending', attempt_count = 0, next_attempt_at = now(), dispatched_until = NULL,
          updated_at = now()
      FROM prev
      WHERE c.id = prev.id AND c.status IN ('dead', 'failed')
      RETURNING c.id, prev.status AS previous_status, c.last_error
    ),
    audit AS (
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status, message, details)
      SELECT id, 'requeued', previous_status, 'pending', ${input.reason ?? 'requeued by operator'},
             jsonb_build_object('requested_by', ${input.requestedBy}::text, 'last_error', last_error)
      FROM requeued
    )
    SELECT id, previous_status::text FROM requeued`;
  if (row) return { id: row.id, previousStatus: row.previous_status };
  const [existing] = await sql<{ status: string }[]>`
    SELECT status::text FROM certificates WHERE id = ${certificateId}`;
  if (!existing) throw new NotFoundError('certificate');
  throw new ConflictError(`certificate is ${existing.status}; only dead or failed ones can be requeued`, {
    status: existing.status,
  });
}
