import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/http/requeue-certificate.ts';
import { createHandler as createBulkHandler } from '../../functions/http/requeue-dead-certificates.ts';
import { createTokenVerifier } from '../../lib/auth/verifier.ts';
import type { Dispatch } from '../../lib/certificates/ports.ts';
import { requeueDeadCertificates } from '../../lib/certificates/requeue.ts';
import { loadConfig } from '../../lib/config.ts';
import type { ReadDeps } from '../../lib/http/deps.ts';
import type { HttpResponse } from '../../lib/http/response.ts';
import { bulkRequeueResultSchema, errorSchema, requeueResultSchema } from '../../lib/http/schemas.ts';
import { logger } from '../../lib/observability/logger.ts';
import {
  apiEvent,
  insertCertificate,
  insertCourse,
  lambdaContext,
  type Status,
} from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';

/** POST /api/v1/certificates/{certificateId}/requeue, in-process against the real stack. */

let t: TestEnv;
let kc: ReturnType<typeof keycloakControl>;
let deps: ReadDeps;
const ids = { alice: '', staff: '' };

const errorOf = (response: HttpResponse) => errorSchema.parse(JSON.parse(response.body)).error;

function requeue(
  dispatch: Dispatch,
  certificateId: string,
  token: string,
  body?: unknown,
): Promise<HttpResponse> {
  return createHandler({ ...deps, dispatch, dispatchLeaseSeconds: 300 })(
    apiEvent('POST', '/api/v1/certificates/{certificateId}/requeue', {
      pathParameters: { certificateId },
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
    lambdaContext(),
  );
}

/** A dispatch that records the ids it was asked to start. */
function recordingDispatch(): { dispatch: Dispatch; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    dispatch: async (id) => {
      calls.push(id);
    },
  };
}

async function certificateRow(id: string) {
  const [row] = await t.sql<
    { status: string; attempt_count: number; dispatched_until: Date | null; next_attempt_at: Date | null }[]
  >`SELECT status::text, attempt_count, dispatched_until, next_attempt_at FROM certificates WHERE id = ${id}`;
  return row;
}

async function seeded(status: Status): Promise<string> {
  const certificate = await insertCertificate(t.sql, { studentId: ids.alice, status });
  if (status === 'dead' || status === 'failed') {
    await t.sql`
      UPDATE certificates SET attempt_count = 5, last_error = 'keycloak: user not found'
      WHERE id = ${certificate.id}`;
  }
  return certificate.id;
}

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  t = await createTestEnv();
  kc = keycloakControl(t.keycloakUrl);
  ids.alice = (await kc.addUser({ firstName: 'Alice' })).id;
  ids.staff = (await kc.addUser({ firstName: 'Grace', realmRoles: ['certificate-admin'] })).id;
  deps = {
    sql: t.sql,
    verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth),
    corsOrigins: [],
  };
});

afterAll(async () => {
  await t?.cleanup();
});

describe('requeue in-process', () => {
  it('staff requeue a dead certificate: 200, pending with fresh attempts, audit row, generation dispatched', async () => {
    const id = await seeded('dead');
    const { dispatch, calls } = recordingDispatch();
    const response = await requeue(dispatch, id, await kc.token(ids.staff), { reason: 'user restored' });

    expect(response.statusCode).toBe(200);
    expect(requeueResultSchema.parse(JSON.parse(response.body))).toEqual({
      id,
      previousStatus: 'dead',
      status: 'pending',
    });
    const row = await certificateRow(id);
    expect(row?.status).toBe('pending');
    expect(row?.attempt_count).toBe(0);
    // Leased to this dispatch, so the scan does not hand it out a second time meanwhile.
    expect(row?.dispatched_until?.getTime()).toBeGreaterThan(Date.now());
    expect(calls).toEqual([id]);

    const audit = await t.sql<
      {
        event: string;
        from_status: string;
        to_status: string;
        message: string;
        actor: string | null;
        details: Record<string, unknown>;
      }[]
    >`SELECT event, from_status::text, to_status::text, message, actor, details
      FROM certificate_generation_log WHERE certificate_id = ${id} ORDER BY id`;
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      event: 'requeued',
      from_status: 'dead',
      to_status: 'pending',
      message: 'user restored',
      actor: ids.staff,
      details: { requested_by: ids.staff, last_error: 'keycloak: user not found' },
    });
  });

  it('a failed certificate without a body is requeued too; a failed dispatch still answers 200 and leaves it to the scan', async () => {
    const id = await seeded('failed');
    const response = await requeue(
      async () => {
        throw new Error('lambda down');
      },
      id,
      await kc.token(ids.staff),
    );
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ id, previousStatus: 'failed', status: 'pending' });
    const row = await certificateRow(id);
    expect(row?.status).toBe('pending');
    expect(row?.attempt_count).toBe(0);
    // Lease released: due now for the next scan.
    expect(row?.dispatched_until).toBeNull();
    expect(row?.next_attempt_at?.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('a student gets 403 and nothing changes', async () => {
    const id = await seeded('dead');
    const { dispatch, calls } = recordingDispatch();
    const response = await requeue(dispatch, id, await kc.token(ids.alice));
    expect(response.statusCode).toBe(403);
    expect(errorOf(response).code).toBe('forbidden');
    expect((await certificateRow(id))?.status).toBe('dead');
    expect(calls).toEqual([]);
  });

  it('a malformed id gets 400 naming certificateId', async () => {
    const { dispatch, calls } = recordingDispatch();
    const response = await requeue(dispatch, 'not-a-uuid', await kc.token(ids.staff));
    expect(response.statusCode).toBe(400);
    expect(errorOf(response)).toMatchObject({ code: 'invalid_parameter', parameter: 'certificateId' });
    expect(calls).toEqual([]);
  });

  it('a bad body gets 400 naming the field, and nothing changes', async () => {
    const id = await seeded('dead');
    const { dispatch, calls } = recordingDispatch();
    const response = await requeue(dispatch, id, await kc.token(ids.staff), { reason: 'x'.repeat(501) });
    expect(response.statusCode).toBe(400);
    expect(errorOf(response)).toMatchObject({ code: 'invalid_parameter', parameter: 'reason' });
    const unknownField = await requeue(dispatch, id, await kc.token(ids.staff), { force: true });
    expect(unknownField.statusCode).toBe(400);
    expect((await certificateRow(id))?.status).toBe('dead');
    expect(calls).toEqual([]);
  });

  it('an unknown id gets 404', async () => {
    const { dispatch, calls } = recordingDispatch();
    const response = await requeue(dispatch, randomUUID(), await kc.token(ids.staff));
    expect(response.statusCode).toBe(404);
    expect(errorOf(response).code).toBe('not_found');
    expect(calls).toEqual([]);
  });

  it('an issued certificate gets 409 with its status, and stays issued', async () => {
    const id = await seeded('issued');
    const { dispatch, calls } = recordingDispatch();
    const response = await requeue(dispatch, id, await kc.token(ids.staff));
    expect(response.statusCode).toBe(409);
    expect(errorOf(response)).toMatchObject({ code: 'conflict', status: 'issued' });
    expect((await certificateRow(id))?.status).toBe('issued');
    expect(calls).toEqual([]);
  });
});

describe('bulk requeue of dead certificates in-process', () => {
  function bulk(token: string, body?: unknown): Promise<HttpResponse> {
    return createBulkHandler(deps)(
      apiEvent('POST', '/api/v1/certificates/requeue', {
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
      lambdaContext(),
    );
  }

  /** A dead certificate of `courseId` that died at `diedAt`. */
  async function dead(courseId: string, diedAt: string): Promise<string> {
    const student = randomUUID();
    const certificate = await insertCertificate(t.sql, { studentId: student, courseId, status: 'dead' });
    await t.sql`
      UPDATE certificates SET attempt_count = 10, last_error = 'keycloak: HTTP 503', updated_at = ${diedAt}
      WHERE id = ${certificate.id}`;
    return certificate.id;
  }

  it('requeues the dead certificates of a course, oldest first, each once with an audit row; a dry run changes nothing', async () => {
    const course = await insertCourse(t.sql, `Outage ${randomUUID().slice(0, 8)}`);
    const other = await insertCourse(t.sql, `Elsewhere ${randomUUID().slice(0, 8)}`);
    const early = await dead(course, '2026-11-30T08:00:00Z');
    const during = [await dead(course, '2026-12-01T10:05:00Z'), await dead(course, '2026-12-01T10:20:00Z')];
    const elsewhere = await dead(other, '2026-12-01T10:10:00Z');
    const failed = (
      await insertCertificate(t.sql, { studentId: randomUUID(), courseId: course, status: 'failed' })
    ).id;
    const token = await kc.token(ids.staff);

    const dry = await bulk(token, { courseId: course, diedAfter: '2026-12-01T10:00:00Z', dryRun: true });
    expect(dry.statusCode).toBe(200);
    expect(bulkRequeueResultSchema.parse(JSON.parse(dry.body))).toEqual({
      dryRun: true,
      count: 2,
      certificateIds: during,
      remaining: 0,
    });
    for (const id of during) expect((await certificateRow(id))?.status).toBe('dead');

    const done = bulkRequeueResultSchema.parse(
      JSON.parse((await bulk(token, { courseId: course, reason: 'Keycloak back after the outage' })).body),
    );
    expect(done).toEqual({
      dryRun: false,
      count: 3,
      certificateIds: [early, ...during].sort(),
      remaining: 0,
    });
    for (const id of [early, ...during]) {
      const row = await certificateRow(id);
      expect(row).toMatchObject({ status: 'pending', attempt_count: 0, dispatched_until: null });
      // Due now: the next scan hands it out within the concurrency budget.
      expect(row?.next_attempt_at?.getTime()).toBeLessThanOrEqual(Date.now());
      const audit = await t.sql<
        {
          event: string;
          from_status: string;
          message: string;
          actor: string;
          details: Record<string, unknown>;
        }[]
      >`
        SELECT event, from_status::text, message, actor, details FROM certificate_generation_log
        WHERE certificate_id = ${id}`;
      expect(audit).toEqual([
        {
          event: 'requeued',
          from_status: 'dead',
          message: 'Keycloak back after the outage',
          actor: ids.staff,
          details: { requested_by: ids.staff, last_error: 'keycloak: HTTP 503', bulk: true },
        },
      ]);
    }
    // Other courses, and certificates that are not dead, are left alone.
    expect((await certificateRow(elsewhere))?.status).toBe('dead');
    expect((await certificateRow(failed))?.status).toBe('failed');
    expect(JSON.parse((await bulk(token, { courseId: course })).body)).toMatchObject({
      count: 0,
      remaining: 0,
    });
  });

  it('with status "failed", brings forward the certificates waiting out a configuration error, and leaves the dead ones', async () => {
    const course = await insertCourse(t.sql, `Misconfigured ${randomUUID().slice(0, 8)}`);
    const waiting = async (dispatched: boolean) => {
      const { id } = await insertCertificate(t.sql, {
        studentId: randomUUID(),
        courseId: course,
        status: 'failed',
      });
      // As generate leaves one after a ConfigurationError: attempt refunded, retry in an hour.
      await t.sql`
        UPDATE certificates SET attempt_count = 0, next_attempt_at = now() + interval '1 hour',
               last_error = 'S3 PutObject failed (HTTP 404): NoSuchBucket', updated_at = now(),
               dispatched_until = ${dispatched ? t.sql`now() + interval '5 minutes'` : null}
        WHERE id = ${id}`;
      return id;
    };
    const idle = await waiting(false);
    const invoked = await waiting(true); // the scan had invoked generate for it already
    const deadOne = await dead(course, '2026-12-01T10:05:00Z');
    const token = await kc.token(ids.staff);

    // The default, `dead`, leaves them waiting.
    expect(JSON.parse((await bulk(token, { courseId: course, dryRun: true })).body)).toMatchObject({
      certificateIds: [deadOne],
    });
    const done = bulkRequeueResultSchema.parse(
      JSON.parse((await bulk(token, { courseId: course, status: 'failed', reason: 'bucket created' })).body),
    );
    expect(done).toEqual({ dryRun: false, count: 2, certificateIds: [idle, invoked].sort(), remaining: 0 });
    for (const id of [idle, invoked]) {
      const row = await certificateRow(id);
      expect(row).toMatchObject({ status: 'pending', attempt_count: 0 });
      expect(row?.next_attempt_at?.getTime()).toBeLessThanOrEqual(Date.now());
      const [audit] = await t.sql<{ from_status: string; to_status: string; message: string }[]>`
        SELECT from_status::text, to_status::text, message FROM certificate_generation_log
        WHERE certificate_id = ${id} AND event = 'requeued'`;
      expect(audit).toEqual({ from_status: 'failed', to_status: 'pending', message: 'bucket created' });
    }
    // The invocation already in Lambda's queue keeps its slot: no second invoke follows.
    expect((await certificateRow(idle))?.dispatched_until).toBeNull();
    expect((await certificateRow(invoked))?.dispatched_until?.getTime()).toBeGreaterThan(Date.now());
    expect((await certificateRow(deadOne))?.status).toBe('dead');
  });

  it('takes at most the limit per call and says how many remain; two operators at once requeue each certificate once', async () => {
    const course = await insertCourse(t.sql, `Broken template ${randomUUID().slice(0, 8)}`);
    const all = [];
    for (let minute = 10; minute < 15; minute += 1)
      all.push(await dead(course, `2026-12-02T09:${minute}:00Z`));
    const first = await requeueDeadCertificates(
      t.sql,
      { courseId: course, dryRun: false, requestedBy: 'ops' },
      { limit: 2 },
    );
    expect(first).toMatchObject({ count: 2, remaining: 3 });
    expect(first.certificateIds).toEqual(all.slice(0, 2).sort());
    const racing = await Promise.all(
      [0, 1].map(() =>
        requeueDeadCertificates(t.sql, { courseId: course, dryRun: false, requestedBy: 'ops' }, { limit: 2 }),
      ),
    );
    const again = await requeueDeadCertificates(t.sql, {
      courseId: course,
      dryRun: false,
      requestedBy: 'ops',
    });
    const requeued = [first, ...racing, again].flatMap((result) => result.certificateIds);
    expect(requeued.sort()).toEqual([...all].sort());
    expect(again.remaining).toBe(0);
    const [{ rows = 0 } = {}] = await t.sql<{ rows: number }[]>`
      SELECT count(*)::int AS rows FROM certificate_generation_log
      WHERE event = 'requeued' AND certificate_id = ANY(${all}::uuid[])`;
    expect(rows).toBe(all.length);
  });

  it('a student gets 403; a bad filter gets 400 naming it; nothing changes', async () => {
    const course = await insertCourse(t.sql, `Guarded ${randomUUID().slice(0, 8)}`);
    const id = await dead(course, '2026-12-01T12:00:00Z');
    const student = await bulk(await kc.token(ids.alice), { courseId: course });
    expect(student.statusCode).toBe(403);
    const token = await kc.token(ids.staff);
    for (const [body, parameter] of [
      [{ courseId: 'course-1' }, 'courseId'],
      [{ diedAfter: 'yesterday' }, 'diedAfter'],
      [{ dryRun: 'yes' }, 'dryRun'],
      [{ reason: '' }, 'reason'],
      [{ status: 'revoked' }, 'status'],
      [{ courseId: course, force: true }, undefined],
    ] as const) {
      const response = await bulk(token, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      if (parameter) expect(errorOf(response)).toMatchObject({ code: 'invalid_parameter', parameter });
    }
    expect((await certificateRow(id))?.status).toBe('dead');
  });

  it('an unknown course gets 404, not "none left", on a dry run too', async () => {
    const token = await kc.token(ids.staff);
    for (const dryRun of [true, false]) {
      const response = await bulk(token, { courseId: randomUUID(), dryRun });
      expect(response.statusCode, String(dryRun)).toBe(404);
      expect(errorOf(response)).toMatchObject({ code: 'not_found' });
    }
  });
});
