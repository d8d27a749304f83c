import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHandler as createCertificateAnalyticsHandler } from '../../functions/http/get-certificate-analytics.ts';
import { createHandler as createDownloadHandler } from '../../functions/http/get-certificate-download.ts';
import { createHandler as createCourseAnalyticsHandler } from '../../functions/http/get-course-analytics.ts';
import { createHandler as createVerifyHandler } from '../../functions/http/verify-certificate.ts';
import { postgresEventStore } from '../../lib/analytics/event-store.ts';
import { createTokenVerifier } from '../../lib/auth/verifier.ts';
import {
  type AnalyticsMetrics,
  courseAnalytics as countCourse,
  type EventKind,
  type EventStore,
  type RecordingDeps,
  type ReferrerKind,
} from '../../lib/certificates/analytics.ts';
import type { Log } from '../../lib/certificates/ports.ts';
import { loadConfig } from '../../lib/config.ts';
import { createSql, type Sql } from '../../lib/db/client.ts';
import { MIGRATIONS_DIR } from '../../lib/db/migrate.ts';
import { type AnalyticsAware, recordPublicEvent } from '../../lib/http/analytics.ts';
import { certificateAnalyticsSchema, courseAnalyticsSchema } from '../../lib/http/analytics-schemas.ts';
import type { ReadDeps } from '../../lib/http/deps.ts';
import type { HttpResponse } from '../../lib/http/response.ts';
import { downloadLinkSchema, errorSchema } from '../../lib/http/schemas.ts';
import { logger } from '../../lib/observability/logger.ts';
import {
  apiEvent,
  insertCertificate,
  insertCourse,
  lambdaContext,
  type SeededCertificate,
} from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { ownDatabaseAcross } from '../support/migrations.ts';

/**
 * Analytics in-process against the real stack: the download and verify routes record events as
 * daily counters, the staff routes count them per day and kind, and a broken recorder changes no
 * response.
 */

const FRONTEND = 'https://app.example.org';
let t: TestEnv;
let kc: ReturnType<typeof keycloakControl>;
let deps: ReadDeps;
const ids = { alice: '', teacher: '' };
const tokens = { alice: '', teacher: '' };

/** A Log that keeps what it was given, to check that recording failures are logged. */
function capturingLog(): Log & { warnings: string[] } {
  const warnings: string[] = [];
  const ignore = () => undefined;
  return { warnings, debug: ignore, info: ignore, error: ignore, warn: (message) => warnings.push(message) };
}

function countingMetrics(): AnalyticsMetrics & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    eventRecorded: (kind: EventKind, referrer: ReferrerKind) => seen.push(`${kind}/${referrer}`),
  };
}

/**
 * Recording deps that wait for the store (`waitMs` far above any write), so a count read right
 * after the response is final even on a busy machine; the production bound (RECORD_WAIT_MS) only
 * decides how long a slow store may delay the answer. The tests about that bound pass their own.
 */
const recording = (overrides: Partial<RecordingDeps> = {}): RecordingDeps => ({
  store: postgresEventStore(t.sql),
  log: capturingLog(),
  waitMs: 60_000,
  ...overrides,
});

const presigner = {
  presignGet: async (key: string, options: { expiresInSeconds: number }) => ({
    url: `https://s3.example.test/${key}?X-Amz-Signature=abc`,
    expiresInSeconds: options.expiresInSeconds,
  }),
};

function download(
  certificateId: string,
  token: string,
  analytics: RecordingDeps | undefined,
  headers: Record<string, string> = {},
): Promise<HttpResponse> {
  return createDownloadHandler({
    ...deps,
    corsOrigins: [FRONTEND],
    storage: presigner,
    download: { defaultTtlSeconds: 3600, maxTtlSeconds: 86400 },
    ...(analytics ? { analytics } : {}),
  })(
    apiEvent('GET', '/api/v1/certificates/{certificateId}/download', {
      pathParameters: { certificateId },
      headers: { authorization: `Bearer ${token}`, ...headers },
    }),
    lambdaContext(),
  );
}

function verify(code: string, analytics: RecordingDeps, headers: Record<string, string> = {}) {
  return createVerifyHandler({ sql: t.sql, corsOrigins: [FRONTEND], analytics })(
    apiEvent('GET', '/api/v1/verify/{verificationCode}', {
      pathParameters: { verificationCode: code },
      // The JSON answer of the verification route (it serves the HTML page by default).
      headers: { accept: 'application/json', ...headers },
    }),
    lambdaContext(),
  );
}

/** GET one of the two analytics routes as `token`, in-process. */
function analytics(
  createHandler: typeof createCourseAnalyticsHandler,
  path: `/api/v1/${string}/analytics`,
  pathParameters: Record<string, string>,
  token: string,
  query?: Record<string, string>,
): Promise<HttpResponse> {
  return createHandler(deps)(
    apiEvent('GET', path, {
      pathParameters,
      headers: { authorization: `Bearer ${token}` },
      ...(query ? { query } : {}),
    }),
    lambdaContext(),
  );
}

const courseAnalytics = (courseId: string, token: string, query?: Record<string, string>) =>
  analytics(createCourseAnalyticsHandler, '/api/v1/courses/{courseId}/analytics', { courseId }, token, query);

const certificateAnalytics = (certificateId: string, token: string, query?: Record<string, string>) =>
  analytics(
    createCertificateAnalyticsHandler,
    '/api/v1/certificates/{certificateId}/analytics',
    { certificateId },
    token,
    query,
  );

const errorOf = (response: HttpResponse) => errorSchema.parse(JSON.parse(response.body)).error;

/** The events counted for a certificate, all days and kinds. */
async function eventCount(certificateId: string): Promise<number> {
  const [row] = await t.sql<{ n: number }[]>`
    SELECT coalesce(sum(count), 0)::int AS n FROM certificate_event_counts WHERE certificate_id = ${certificateId}`;
  return row?.n ?? -1;
}

/** The stored counter rows of a certificate, as the table holds them. */
function counterRows(sql: Sql, certificateId: string) {
  return sql<{ day: string; kind: string; referrer_kind: string; count: number }[]>`
    SELECT to_char(day::timestamp, 'YYYY-MM-DD') AS day, kind, referrer_kind, count::int AS count
    FROM certificate_event_counts WHERE certificate_id = ${certificateId}
    ORDER BY day, kind, referrer_kind`;
}

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  t = await createTestEnv();
  kc = keycloakControl(t.keycloakUrl);
  ids.alice = (await kc.addUser({ firstName: 'Alice' })).id;
  ids.teacher = (await kc.addUser({ firstName: 'Tess', realmRoles: ['teacher'] })).id;
  deps = { sql: t.sql, verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth), corsOrigins: [] };
  tokens.alice = await kc.token(ids.alice);
  tokens.teacher = await kc.token(ids.teacher);
});

afterAll(async () => {
  await t?.cleanup();
});

describe('recording', () => {
  it('downloads by owner and staff, and verification views, are counted per kind and referrer kind, exactly', async () => {
    const courseId = await insertCourse(t.sql);
    const mine = await insertCertificate(t.sql, { studentId: ids.alice, courseId });
    const pending = await insertCertificate(t.sql, { studentId: ids.alice, status: 'pending' });
    const metrics = countingMetrics();
    const analytics = recording({ metrics });

    expect((await download(mine.id, tokens.alice, analytics)).statusCode).toBe(200);
    expect(
      (await download(mine.id, tokens.teacher, analytics, { referer: 'https://app.example.org/x' }))
        .statusCode,
    ).toBe(200);
    // A link not handed out is not a download.
    expect((await download(pending.id, tokens.alice, analytics)).statusCode).toBe(409);
    expect(
      (await verify(mine.verificationCode, analytics, { referer: 'https://www.linkedin.com/in/ada?x=1' }))
        .statusCode,
    ).toBe(200);
    expect(
      (
        await verify(mine.verificationCode.toLowerCase(), analytics, {
          referer: 'https://www.google.com/search?q=ada',
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (await verify(mine.verificationCode, analytics, { referer: 'https://localhost/verify' })).statusCode,
    ).toBe(200);
    // A code no certificate has is no certificate's view: neither the table nor the metric counts
    // it, whether the page or the JSON answered.
    for (const accept of ['text/html', 'application/json']) {
      expect(
        (await verify('ZZZZZZZZZZZZZZZZ', analytics, { accept, referer: 'https://www.linkedin.com/in/x' }))
          .statusCode,
      ).toBe(404);
    }
    await recordPublicEvent(
      { corsOrigins: [], analytics } satisfies AnalyticsAware,
      'credential-export',
      mine.verificationCode,
      apiEvent('GET', '/verify/{code}', { headers: { referer: 'https://blog.example.net/post' } }),
    );

    expect(metrics.seen.sort()).toEqual(
      [
        'credential-export/other',
        'download-link/none',
        'download-link/same-site',
        'verification-view/linkedin',
        'verification-view/same-site',
        'verification-view/search',
      ].sort(),
    );

    const dayBefore = new Date().toISOString().slice(0, 10);
    const response = await courseAnalytics(courseId, tokens.teacher);
    const dayAfter = new Date().toISOString().slice(0, 10);
    expect(response.statusCode).toBe(200);
    const body = courseAnalyticsSchema.parse(JSON.parse(response.body));
    expect(body.courseId).toBe(courseId);
    expect(body.total).toBe(6);
    expect(body.totals).toEqual({ 'download-link': 2, 'verification-view': 3, 'credential-export': 1 });
    expect(body.referrers).toEqual({ none: 1, 'same-site': 2, linkedin: 1, search: 1, other: 1 });
    // Default range: 30 days ending today; all of today's events on one day.
    expect(body.days).toHaveLength(30);
    // Today as of the request (either side of it, should UTC midnight pass meanwhile).
    expect([dayBefore, dayAfter]).toContain(body.to);
    const busy = body.days.filter((day) => day.total > 0);
    expect(busy).toEqual([
      {
        date: body.to,
        total: 6,
        counts: { 'download-link': 2, 'verification-view': 3, 'credential-export': 1 },
      },
    ]);
    expect(await eventCount(pending.id)).toBe(0);
  });

  it('a prefetch, a crawler or a link preview of the page is not counted; a program asking for JSON is', async () => {
    const mine = await insertCertificate(t.sql, { studentId: ids.alice });
    const analytics = recording({ metrics: countingMetrics() });
    const chrome =
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
    const page = { accept: 'text/html' };
    const unseen: Record<string, string>[] = [
      {
        ...page,
        'user-agent': 'LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)',
      },
      { ...page, 'user-agent': 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)' },
      { ...page, 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' },
      { ...page, 'user-agent': chrome, 'sec-purpose': 'prefetch' },
      { ...page, 'user-agent': chrome, 'sec-purpose': 'prefetch;prerender' },
      { accept: 'application/json', 'user-agent': chrome, purpose: 'prefetch' },
    ];
    for (const headers of unseen)
      expect((await verify(mine.verificationCode, analytics, headers)).statusCode).toBe(200);
    expect(await eventCount(mine.id)).toBe(0);
    // A person's browser, and a script checking through the JSON answer, each count.
    expect(
      (await verify(mine.verificationCode, analytics, { ...page, 'user-agent': chrome })).statusCode,
    ).toBe(200);
    await verify(mine.verificationCode, analytics, {
      accept: 'application/json',
      'user-agent': 'curl/8.5.0',
    });
    expect(await eventCount(mine.id)).toBe(2);
  });

  it('stores nothing identifying: the table has exactly these columns', async () => {
    const columns = await t.sql<{ column_name: string }[]>`
      SELECT column_name FROM information_schema.columns
      WHERE table_name = 'certificate_event_counts' ORDER BY ordinal_position`;
    expect(columns.map((column) => column.column_name)).toEqual([
      'certificate_id',
      'course_id',
      'day',
      'kind',
      'referrer_kind',
      'count',
    ]);
    // And the referrer URL, query included, appears nowhere in a stored row.
    const courseId = await insertCourse(t.sql);
    const mine = await insertCertificate(t.sql, { studentId: ids.alice, courseId });
    await verify(mine.verificationCode, recording(), {
      referer: 'https://www.bing.com/search?q=secret-term',
    });
    const rows = await t.sql`SELECT * FROM certificate_event_counts WHERE certificate_id = ${mine.id}`;
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toMatch(/secret-term|bing|127\.0\.0\.1|vitest/);
    expect(rows[0]).toMatchObject({
      kind: 'verification-view',
      referrer_kind: 'search',
      course_id: courseId,
    });
  });

  it('100 verifications of one code leave one counter row with count 100, and the routes report 100', async () => {
    const courseId = await insertCourse(t.sql);
    const mine = await insertCertificate(t.sql, { studentId: ids.alice, courseId });
    // At once, as a flood would arrive (concurrent increments must not lose any), each request
    // waiting for its increment (recording()'s wait) so the count is final when they have all
    // answered.
    const analytics = recording();
    const answers = await Promise.all(
      Array.from({ length: 100 }, () =>
        verify(mine.verificationCode, analytics, { referer: 'https://www.linkedin.com/in/ada' }),
      ),
    );
    expect(answers.map((answer) => answer.statusCode)).toEqual(Array(100).fill(200));
    const today = new Date().toISOString().slice(0, 10);
    const rows = await counterRows(t.sql, mine.id);
    // The day is the one the requests were counted on (normally today; tomorrow if UTC midnight
    // passed meanwhile, in which case there are two rows and this fails loudly).
    expect(rows).toEqual([
      { day: rows[0]?.day ?? today, kind: 'verification-view', referrer_kind: 'linkedin', count: 100 },
    ]);

    const range = { from: rows[0]?.day ?? today, to: rows[0]?.day ?? today };
    const course = courseAnalyticsSchema.parse(
      JSON.parse((await courseAnalytics(courseId, tokens.teacher, range)).body),
    );
    const certificate = certificateAnalyticsSchema.parse(
      JSON.parse((await certificateAnalytics(mine.id, tokens.teacher, range)).body),
    );
    for (const body of [course, certificate]) {
      expect(body.total).toBe(100);
      expect(body.totals).toEqual({ 'download-link': 0, 'verification-view': 100, 'credential-export': 0 });
      expect(body.referrers).toEqual({ none: 0, 'same-site': 0, linkedin: 100, search: 0, other: 0 });
      expect(body.days).toEqual([
        {
          date: range.from,
          total: 100,
          counts: { 'download-link': 0, 'verification-view': 100, 'credential-export': 0 },
        },
      ]);
    }
  });
});

describe('a failing recorder never changes the response', () => {
  let mine: SeededCertificate;
  beforeAll(async () => {
    mine = await insertCertificate(t.sql, { studentId: ids.alice });
  });

  const failures: Record<string, () => EventStore> = {
    'throws synchronously': () => () => {
      throw new Error('store exploded');
    },
    rejects: () => async () => {
      throw new Error('insert failed');
    },
  };

  for (const [name, store] of Object.entries(failures)) {
    it(`a store that ${name}: the download answers 200 with the link, and the failure is logged`, async () => {
      const log = capturingLog();
      const response = await download(mine.id, tokens.alice, { store: store(), log });
      expect(response.statusCode).toBe(200);
      expect(downloadLinkSchema.parse(JSON.parse(response.body)).certificateId).toBe(mine.id);
      expect(log.warnings).toEqual(['Analytics event not recorded']);
    });
  }

  it('a store that never answers: the download still answers 200', async () => {
    const response = await download(mine.id, tokens.alice, {
      store: () => new Promise<void>(() => undefined),
      log: capturingLog(),
      waitMs: 5,
    });
    expect(response.statusCode).toBe(200);
    expect(downloadLinkSchema.parse(JSON.parse(response.body)).url).toContain(mine.id);
  });

  it('the database is down (nothing listens): download and verification answer 200, nothing is stored', async () => {
    const downSql = createSql({
      DATABASE_URL: 'postgres://nobody:nothing@127.0.0.1:1/none',
      DB_POOL_MAX: 1,
      DB_CONNECT_TIMEOUT_SECONDS: 1,
    });
    try {
      const log = capturingLog();
      const metrics = countingMetrics();
      const analytics = recording({ store: postgresEventStore(downSql), metrics, log });
      const before = await eventCount(mine.id);
      expect((await download(mine.id, tokens.alice, analytics)).statusCode).toBe(200);
      const verified = await verify(mine.verificationCode, analytics);
      expect(verified.statusCode).toBe(200);
      expect(JSON.parse(verified.body)).toMatchObject({
        verificationCode: mine.verificationCode,
        status: 'valid',
      });
      // The store was reached and failed, for both (logged after the bounded wait, once the
      // connection is refused); the metric, which needs no database, still counted both.
      await vi.waitFor(
        () => expect(log.warnings).toEqual(['Analytics event not recorded', 'Analytics event not recorded']),
        { timeout: 60_000, interval: 50 },
      );
      expect(metrics.seen).toHaveLength(2);
      expect(await eventCount(mine.id)).toBe(before);
    } finally {
      await downSql.end({ timeout: 1 });
    }
  });

  it('a metrics adapter that throws does not fail the request either, and the event is still stored', async () => {
    const before = await eventCount(mine.id);
    const response = await download(mine.id, tokens.alice, {
      ...recording(),
      metrics: {
        eventRecorded: () => {
          throw new Error('stdout closed');
        },
      },
    });
    expect(response.statusCode).toBe(200);
    expect(await eventCount(mine.id)).toBe(before + 1);
  });
});

describe('staff analytics routes', () => {
  let courseId: string;
  let first: SeededCertificate;
  let second: SeededCertificate;

  beforeAll(async () => {
    courseId = await insertCourse(t.sql);
    first = await insertCertificate(t.sql, { studentId: ids.alice, courseId });
    second = await insertCertificate(t.sql, { studentId: randomUUID(), courseId });
    // Recorded through the store, on a session whose time zone is 14 hours from UTC: the days
    // counted must still be UTC days, whatever the database's or the session's setting.
    const farFromUtc = postgres(t.env.DATABASE_URL ?? '', {
      max: 1,
      onnotice: () => undefined,
      connection: { TimeZone: 'Pacific/Kiritimati' },
    });
    try {
      const store = postgresEventStore(farFromUtc);
      const seed = (certificate: SeededCertificate, kind: EventKind, at: string, referrer: ReferrerKind) =>
        store({
          kind,
          certificate: { certificateId: certificate.id },
          referrerKind: referrer,
          occurredAt: new Date(at),
        });
      // Day boundaries are UTC: 23:59:59 on the 1st and 00:00 on the 2nd fall on different days.
      await seed(first, 'download-link', '2024-03-01T00:00:00Z', 'none');
      await seed(first, 'download-link', '2024-03-01T23:59:59Z', 'same-site');
      await seed(second, 'verification-view', '2024-03-02T00:00:00Z', 'linkedin');
      await seed(second, 'credential-export', '2024-03-02T12:00:00Z', 'linkedin');
      await seed(first, 'verification-view', '2024-03-04T00:00:00Z', 'none'); // outside the range below
      await seed(first, 'verification-view', '2024-02-29T23:59:59Z', 'none'); // outside too
    } finally {
      await farFromUtc.end({ timeout: 5 });
    }
    expect((await counterRows(t.sql, first.id)).map((row) => `${row.day} ${row.kind}`)).toEqual([
      '2024-02-29 verification-view',
      '2024-03-01 download-link',
      '2024-03-01 download-link',
      '2024-03-04 verification-view',
    ]);
  });

  it('counts a course per UTC day and kind within from..to, zeros included', async () => {
    const response = await courseAnalytics(courseId, tokens.teacher, {
      from: '2024-03-01',
      to: '2024-03-03',
    });
    expect(response.statusCode).toBe(200);
    const body = courseAnalyticsSchema.parse(JSON.parse(response.body));
    const none = { 'download-link': 0, 'verification-view': 0, 'credential-export': 0 };
    expect(body).toEqual({
      courseId,
      from: '2024-03-01',
      to: '2024-03-03',
      timeZone: 'UTC',
      total: 4,
      totals: { 'download-link': 2, 'verification-view': 1, 'credential-export': 1 },
      referrers: { none: 1, 'same-site': 1, linkedin: 2, search: 0, other: 0 },
      days: [
        { date: '2024-03-01', total: 2, counts: { ...none, 'download-link': 2 } },
        { date: '2024-03-02', total: 2, counts: { ...none, 'verification-view': 1, 'credential-export': 1 } },
        { date: '2024-03-03', total: 0, counts: none },
      ],
    });
  });

  it("counts one certificate's events only", async () => {
    const response = await certificateAnalytics(second.id, tokens.teacher, {
      from: '2024-02-01',
      to: '2024-03-31',
    });
    expect(response.statusCode).toBe(200);
    const body = certificateAnalyticsSchema.parse(JSON.parse(response.body));
    expect(body.certificateId).toBe(second.id);
    expect(body.days).toHaveLength(60);
    expect(body.totals).toEqual({ 'download-link': 0, 'verification-view': 1, 'credential-export': 1 });
    expect(body.days.filter((day) => day.total > 0).map((day) => day.date)).toEqual(['2024-03-02']);
  });

  it('a student gets 403 on both routes', async () => {
    const course = await courseAnalytics(courseId, tokens.alice);
    expect(course.statusCode).toBe(403);
    expect(errorOf(course).code).toBe('forbidden');
    // Even for their own certificate: analytics are staff data.
    const own = await certificateAnalytics(first.id, tokens.alice);
    expect(own.statusCode).toBe(403);
  });

  it('bad dates get 400 naming the parameter', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ from: '2024-02-30' }, 'from'],
      [{ to: '03/01/2024' }, 'to'],
      [{ from: '2024-03-05', to: '2024-03-01' }, 'to'],
      [{ from: '2020-01-01', to: '2024-01-01' }, 'from'],
      [{ from: '2999-01-01' }, 'from'],
      [{ from: '0000-01-01', to: '0000-01-31' }, 'from'],
    ];
    for (const [query, parameter] of cases) {
      const response = await courseAnalytics(courseId, tokens.teacher, query);
      expect(response.statusCode, JSON.stringify(query)).toBe(400);
      expect(errorOf(response), JSON.stringify(query)).toMatchObject({
        code: 'invalid_parameter',
        parameter,
      });
    }
    const bad = await certificateAnalytics(first.id, tokens.teacher, { to: 'yesterday' });
    expect(errorOf(bad)).toMatchObject({ code: 'invalid_parameter', parameter: 'to' });
  });

  it('dates at the edges of years 0001-9999 answer at once: 200 within them, 400 naming the parameter past them', async () => {
    // The last day of year 9999: counted (a string-compared day loop never ended here).
    const last = await courseAnalytics(courseId, tokens.teacher, { from: '9999-12-31', to: '9999-12-31' });
    expect(last.statusCode).toBe(200);
    expect(courseAnalyticsSchema.parse(JSON.parse(last.body)).days.map((day) => day.date)).toEqual([
      '9999-12-31',
    ]);
    // Only `from`: the default range would run past 9999-12-31; it ends today, so `from` is after it.
    const late = await courseAnalytics(courseId, tokens.teacher, { from: '9999-12-20' });
    expect(late.statusCode).toBe(400);
    expect(errorOf(late)).toMatchObject({ code: 'invalid_parameter', parameter: 'from' });
    // Only `to`: the default range would start in year 0000, which PostgreSQL refuses.
    const early = await courseAnalytics(courseId, tokens.teacher, { to: '0001-01-10' });
    expect(early.statusCode).toBe(400);
    expect(errorOf(early)).toMatchObject({ code: 'invalid_parameter', parameter: 'to' });
    // The first `to` whose default range fits, and an explicit range at year 1.
    const fits = await courseAnalytics(courseId, tokens.teacher, { to: '0001-01-30' });
    expect(fits.statusCode).toBe(200);
    expect(courseAnalyticsSchema.parse(JSON.parse(fits.body))).toMatchObject({
      from: '0001-01-01',
      to: '0001-01-30',
    });
    const start = await certificateAnalytics(first.id, tokens.teacher, {
      from: '0001-01-01',
      to: '0001-01-02',
    });
    expect(start.statusCode).toBe(200);
  });

  it('unknown course or certificate gets 404; a malformed id 400', async () => {
    expect((await courseAnalytics(randomUUID(), tokens.teacher)).statusCode).toBe(404);
    expect((await certificateAnalytics(randomUUID(), tokens.teacher)).statusCode).toBe(404);
    const malformed = await courseAnalytics('nope', tokens.teacher);
    expect(errorOf(malformed)).toMatchObject({ code: 'invalid_parameter', parameter: 'courseId' });
  });
});

describe('the migration to daily counters', () => {
  /** The timestamp of lib/db/migrations/1733300000000_analytics-daily-counts.sql. */
  const COUNTERS_MIGRATION = 1733300000000;
  // This migration and any after it go down; up applies everything pending.
  const own = ownDatabaseAcross(COUNTERS_MIGRATION);
  const { migrate } = own;

  const tableExists = async (name: string) => {
    const [row] = await own.sql<{ found: boolean }[]>`SELECT to_regclass(${name}) IS NOT NULL AS found`;
    return row?.found;
  };

  /** The old table's rows per UTC day, as its count query grouped them. */
  const oldGroups = (certificateId: string) => own.sql<
    { day: string; kind: string; referrer_kind: string; count: number }[]
  >`
    SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, kind, referrer_kind, count(*)::int AS count
    FROM certificate_events WHERE certificate_id = ${certificateId}
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`;

  it('up copies the events as UTC-day counters and drops certificate_events; down brings them back as rows', async () => {
    const courseId = await insertCourse(own.sql);
    const first = await insertCertificate(own.sql, { studentId: randomUUID(), courseId });
    const second = await insertCertificate(own.sql, { studentId: randomUUID(), courseId });

    await migrate('down');
    expect(await tableExists('certificate_event_counts')).toBe(false);
    const events: [SeededCertificate, EventKind, ReferrerKind, string][] = [
      [first, 'verification-view', 'linkedin', '2024-03-01T00:00:00Z'],
      [first, 'verification-view', 'linkedin', '2024-03-01T12:00:00Z'],
      [first, 'verification-view', 'linkedin', '2024-03-01T23:59:59Z'],
      [first, 'verification-view', 'linkedin', '2024-03-02T00:00:00Z'],
      [first, 'download-link', 'none', '2024-03-01T05:00:00Z'],
      [second, 'credential-export', 'other', '2024-03-01T08:00:00Z'],
      [second, 'credential-export', 'other', '2024-03-01T09:00:00Z'],
    ];
    for (const [certificate, kind, referrer, at] of events)
      await own.sql`
        INSERT INTO certificate_events (certificate_id, course_id, kind, referrer_kind, occurred_at)
        VALUES (${certificate.id}, ${certificate.courseId}, ${kind}, ${referrer}, ${at}::timestamptz)`;

    await migrate('up');
    expect(await tableExists('certificate_events')).toBe(false);
    const firstCounts = [
      { day: '2024-03-01', kind: 'download-link', referrer_kind: 'none', count: 1 },
      { day: '2024-03-01', kind: 'verification-view', referrer_kind: 'linkedin', count: 3 },
      { day: '2024-03-02', kind: 'verification-view', referrer_kind: 'linkedin', count: 1 },
    ];
    const secondCounts = [{ day: '2024-03-01', kind: 'credential-export', referrer_kind: 'other', count: 2 }];
    expect(await counterRows(own.sql, first.id)).toEqual(firstCounts);
    expect(await counterRows(own.sql, second.id)).toEqual(secondCounts);
    const copied = await countCourse({ sql: own.sql }, courseId, { from: '2024-03-01', to: '2024-03-02' });
    expect(copied.totals).toEqual({ 'download-link': 1, 'verification-view': 4, 'credential-export': 2 });

    // One more view on the 2nd, counted on the copied counter.
    await postgresEventStore(own.sql)({
      kind: 'verification-view',
      certificate: { verificationCode: first.verificationCode },
      referrerKind: 'linkedin',
      occurredAt: new Date('2024-03-02T18:00:00Z'),
    });
    firstCounts[2] = { day: '2024-03-02', kind: 'verification-view', referrer_kind: 'linkedin', count: 2 };

    // Down: the old shape, one row per counted event, grouped by the old query as counted.
    await migrate('down');
    expect(await tableExists('certificate_event_counts')).toBe(false);
    expect(await oldGroups(first.id)).toEqual(firstCounts);
    expect(await oldGroups(second.id)).toEqual(secondCounts);
    // And it takes new rows as the old recorder wrote them (id and time by default).
    await own.sql`
      INSERT INTO certificate_events (certificate_id, course_id, kind)
      VALUES (${second.id}, ${courseId}, 'download-link')`;
    // 6 + 2 rows back, and this one.
    expect((await own.sql`SELECT 1 FROM certificate_events`).length).toBe(9);

    // Up again; deleting a certificate deletes its counters.
    await migrate('up');
    expect(await counterRows(own.sql, first.id)).toEqual(firstCounts);
    await own.sql`DELETE FROM certificates WHERE id = ${second.id}`;
    expect(await counterRows(own.sql, second.id)).toEqual([]);
    expect(await counterRows(own.sql, first.id)).toEqual(firstCounts);
  });

  it('its long part, the copy, leaves certificates and courses writable: generate and the routes go on', async () => {
    const courseId = await insertCourse(own.sql);
    const certificate = await insertCertificate(own.sql, { studentId: randomUUID(), courseId });
    await migrate('down');
    await own.sql`
      INSERT INTO certificate_events (certificate_id, course_id, kind)
      SELECT ${certificate.id}, ${courseId}, 'verification-view' FROM generate_series(1, 1000)`;
    const file = readFileSync(
      join(MIGRATIONS_DIR, `${COUNTERS_MIGRATION}_analytics-daily-counts.sql`),
      'utf8',
    );
    const up = file.slice(file.indexOf('-- Up Migration'), file.indexOf('-- Down Migration'));
    // Everything up to the copy, in one open transaction as the runner does it.
    const copyPart = up.slice(0, up.indexOf('ALTER TABLE certificate_event_counts'));
    expect(copyPart).toContain('INSERT INTO certificate_event_counts');
    const rolledBack = new Error('rolled back');
    await expect(
      own.sql.begin(async (tx) => {
        await tx.unsafe(copyPart);
        // Another connection writes both tables the new table refers to; lock_timeout turns a
        // wait for the migration's lock into an error instead of a hang.
        await own.sql.begin(async (other) => {
          await other`SET LOCAL lock_timeout = '5s'`;
          await other`UPDATE certificates SET updated_at = now() WHERE id = ${certificate.id}`;
          await other`UPDATE courses SET title = title WHERE id = ${courseId}`;
        });
        throw rolledBack;
      }),
    ).rejects.toBe(rolledBack);
    await migrate('up');
    expect(await counterRows(own.sql, certificate.id)).toEqual([
      { day: expect.any(String), kind: 'verification-view', referrer_kind: 'none', count: 1000 },
    ]);
  });
});
