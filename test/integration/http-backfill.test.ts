import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/http/backfill-course.ts';
import { createTokenVerifier } from '../../lib/auth/verifier.ts';
import { loadConfig } from '../../lib/config.ts';
import type { BackfillDeps } from '../../lib/http/backfill-deps.ts';
import type { HttpResponse } from '../../lib/http/response.ts';
import { backfillRunSchema } from '../../lib/http/routes/backfill-course.ts';
import { errorSchema } from '../../lib/http/schemas.ts';
import { logger } from '../../lib/observability/logger.ts';
import { apiEvent, lambdaContext } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';

/** POST /api/v1/courses/{courseId}/backfill, in-process against the real stack. */

let t: TestEnv;
let kc: ReturnType<typeof keycloakControl>;
const ids = { admin: '', teacher: '', course: '' };
// Budget 5, so at most 10 certificates may wait: one call adds 10 of the 30.
const MAX_IN_FLIGHT = 5;

// When each call starts, unless a test sets its own clock: after every attempt below.
const NOW = new Date('2025-06-01T00:00:00Z');

function backfill(
  courseId: string,
  token: string,
  body: unknown,
  deps: Partial<BackfillDeps> = {},
): Promise<HttpResponse> {
  return createHandler({
    sql: t.sql,
    verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth),
    corsOrigins: [],
    maxInFlight: MAX_IN_FLIGHT,
    now: () => NOW,
    ...deps,
  })(
    apiEvent('POST', '/api/v1/courses/{courseId}/backfill', {
      pathParameters: { courseId },
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
    lambdaContext(),
  );
}

const counts = async () =>
  (
    await t.sql<{ certificates: number; log: number }[]>`
    SELECT (SELECT count(*) FROM certificates)::int AS certificates,
           (SELECT count(*) FROM certificate_generation_log)::int AS log`
  )[0];

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  t = await createTestEnv();
  kc = keycloakControl(t.keycloakUrl);
  ids.admin = (await kc.addUser({ firstName: 'Grace', realmRoles: ['certificate-admin'] })).id;
  ids.teacher = (await kc.addUser({ firstName: 'Tess', realmRoles: ['teacher'] })).id;
  const [course] = await t.sql<{ id: string }[]>`
    INSERT INTO courses (code, title) VALUES ('HIST-1', 'History') RETURNING id`;
  ids.course = course?.id ?? '';
  // 30 passing attempts in 2022 (one per student), 5 failing ones, 5 passing in 2024.
  await t.sql`
    INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at)
    SELECT gen_random_uuid(), ${ids.course}, CASE WHEN g <= 35 AND g > 30 THEN 10 ELSE 90 END, 100, NOT (g > 30 AND g <= 35),
           CASE WHEN g > 35 THEN timestamptz '2024-03-01' ELSE timestamptz '2022-01-01' + make_interval(days => g) END
    FROM generate_series(1, 40) AS g`;
});

afterAll(async () => {
  await t?.cleanup();
});

describe('backfill route', () => {
  it('a teacher gets 403 and nothing changes', async () => {
    const before = await counts();
    const response = await backfill(ids.course, await kc.token(ids.teacher), { from: '2020-01-01' });
    expect(response.statusCode).toBe(403);
    expect(await counts()).toEqual(before);
  });

  it('dry run: counts the window and a sample, changes nothing', async () => {
    const before = await counts();
    const response = await backfill(ids.course, await kc.token(ids.admin), {
      from: '2022-01-01',
      to: '2022-12-31',
      dryRun: true,
    });
    expect(response.statusCode).toBe(200);
    const body = backfillRunSchema.parse(JSON.parse(response.body));
    expect(body).toMatchObject({
      courseId: ids.course,
      dryRun: true,
      certificates: 30,
      remainingAttempts: 30,
      completedBefore: '2023-01-01T00:00:00.000Z',
    });
    expect(body.sample).toHaveLength(5);
    expect(await counts()).toEqual(before);
  });

  it("ends the selection at SCAN_NOT_BEFORE (a later `to` is cut) and says where; without it, at the call's start", async () => {
    const token = await kc.token(ids.admin);
    const before = await counts();
    const answer = async (body: Record<string, unknown>, deps: Partial<BackfillDeps>) => {
      const response = await backfill(ids.course, token, { ...body, dryRun: true }, deps);
      expect(response.statusCode).toBe(200);
      return backfillRunSchema.parse(JSON.parse(response.body));
    };
    // The five 2024 passes are the scan's once SCAN_NOT_BEFORE is 2024-01-01.
    const scanNotBefore = new Date('2024-01-01T00:00:00Z');
    for (const body of [{ from: '2020-01-01' }, { from: '2020-01-01', to: '2024-12-31' }])
      expect(await answer(body, { scanNotBefore }), JSON.stringify(body)).toMatchObject({
        certificates: 30,
        remainingAttempts: 30,
        completedBefore: '2024-01-01T00:00:00.000Z',
      });
    // An earlier `to` stays.
    expect(await answer({ from: '2020-01-01', to: '2022-01-10' }, { scanNotBefore })).toMatchObject({
      remainingAttempts: 9,
      completedBefore: '2022-01-11T00:00:00.000Z',
    });
    // Without it: the call's start, here before the 2024 passes were completed.
    const startedAt = new Date('2024-02-01T08:00:00Z');
    for (const body of [{ from: '2020-01-01' }, { from: '2020-01-01', to: '2024-12-31' }])
      expect(await answer(body, { now: () => startedAt }), JSON.stringify(body)).toMatchObject({
        remainingAttempts: 30,
        completedBefore: '2024-02-01T08:00:00.000Z',
      });
    expect(await answer({ from: '2020-01-01' }, {})).toMatchObject({
      remainingAttempts: 35,
      completedBefore: NOW.toISOString(),
    });
    expect(await counts()).toEqual(before);
  });

  it("a window from SCAN_NOT_BEFORE on is a 400 naming from (those passes are the scan's), and takes nothing", async () => {
    const token = await kc.token(ids.admin);
    const response = await backfill(
      ids.course,
      token,
      { from: '2024-01-01' },
      { scanNotBefore: new Date('2024-01-01T00:00:00Z') },
    );
    expect(response.statusCode).toBe(400);
    expect(errorSchema.parse(JSON.parse(response.body)).error).toMatchObject({
      code: 'invalid_parameter',
      parameter: 'from',
      message: expect.stringContaining('SCAN_NOT_BEFORE: the scan issues the passes from then on'),
    });
    const [row] = await t.sql<{ taken: number }[]>`
      SELECT count(*)::int AS taken FROM test_attempts
      WHERE course_id = ${ids.course} AND completed_at >= '2024-01-01' AND certificate_enqueued_at IS NOT NULL`;
    expect(row?.taken).toBe(0);
  });

  it('a real run adds one paced batch, silent unless notify; calling again continues', async () => {
    const token = await kc.token(ids.admin);
    const first = backfillRunSchema.parse(
      JSON.parse((await backfill(ids.course, token, { from: '2022-01-01', to: '2022-12-31' })).body),
    );
    expect(first).toMatchObject({ dryRun: false, certificates: 2 * MAX_IN_FLIGHT, remainingAttempts: 20 });
    // Who asked is on record with what it created, not only in a log line that expires.
    const actors = await t.sql`
      SELECT actor, count(*)::int AS rows FROM certificate_generation_log WHERE event = 'created' GROUP BY actor`;
    expect(actors).toEqual([{ actor: ids.admin, rows: 2 * MAX_IN_FLIGHT }]);
    // The backlog is full: a second call adds nothing until the scan has drained it.
    const full = backfillRunSchema.parse(
      JSON.parse((await backfill(ids.course, token, { from: '2022-01-01', to: '2022-12-31' })).body),
    );
    expect(full).toMatchObject({ certificates: 0, remainingAttempts: 20 });
    await t.sql`UPDATE certificates SET status = 'dead' WHERE status = 'pending'`;
    const rest = backfillRunSchema.parse(
      JSON.parse(
        (await backfill(ids.course, token, { from: '2022-01-01', to: '2022-12-31', notify: true })).body,
      ),
    );
    expect(rest).toMatchObject({ certificates: 10, remainingAttempts: 10 });
    const [row] = await t.sql<{ silent: number; loud: number }[]>`
      SELECT count(*) FILTER (WHERE NOT notify)::int AS silent, count(*) FILTER (WHERE notify)::int AS loud
      FROM certificates`;
    expect(row).toEqual({ silent: 10, loud: 10 });
  });

  it('unknown course 404, bad dates 400', async () => {
    const token = await kc.token(ids.admin);
    expect((await backfill(randomUUID(), token, { from: '2022-01-01' })).statusCode).toBe(404);
    const bad = await backfill(ids.course, token, { from: '2022-13-01' });
    expect(bad.statusCode).toBe(400);
    expect(errorSchema.parse(JSON.parse(bad.body)).error.message).toMatch(/from/);
    expect((await backfill(ids.course, token, { from: '2022-05-01', to: '2022-01-01' })).statusCode).toBe(
      400,
    );
  });

  it('dates outside years 0001-9999, or a `to` whose whole day would end past 9999-12-31, are a 400 naming them', async () => {
    const token = await kc.token(ids.admin);
    const cases: [Record<string, string>, string][] = [
      // PostgreSQL has no year 0000 (it answered 500).
      [{ from: '0000-01-01' }, 'from'],
      [{ from: '0000-06-01T00:00:00Z' }, 'from'],
      // Still year 0000 in UTC.
      [{ from: '0001-01-01T00:00:00+01:00' }, 'from'],
      [{ from: '2020-01-01', to: '0000-12-31' }, 'to'],
      // A bare `to` includes its day: 9999-12-31 would end at 10000-01-01, which PostgreSQL cannot read.
      [{ from: '2020-01-01', to: '9999-12-31' }, 'to'],
      // A valid date, but after the history's end (the request's start): nothing to select.
      [{ from: '9999-12-31' }, 'from'],
    ];
    for (const [dates, parameter] of cases) {
      const response = await backfill(ids.course, token, { ...dates, dryRun: true });
      expect(response.statusCode, JSON.stringify(dates)).toBe(400);
      expect(errorSchema.parse(JSON.parse(response.body)).error, JSON.stringify(dates)).toMatchObject({
        code: 'invalid_parameter',
        parameter,
      });
    }
    // The edges that stay inside: counted, nothing selected.
    for (const dates of [
      { from: '0001-01-01', to: '0001-12-31' },
      { from: '2020-01-01', to: '9999-12-30' },
      { from: '2020-01-01', to: '9999-12-31T23:59:59.999Z' },
    ]) {
      const response = await backfill(ids.course, token, { ...dates, dryRun: true });
      expect(response.statusCode, JSON.stringify(dates)).toBe(200);
    }
  });
});
