import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BackfillSelection,
  previewBackfill,
  runBackfill,
  selectionOf,
} from '../../lib/certificates/backfill.ts';
import { revokeCertificate } from '../../lib/certificates/lifecycle.ts';
import { enqueuePassingAttempts, runScan } from '../../lib/certificates/scan.ts';
import { sweepExpiredCertificates } from '../../lib/webhooks/expiry-sweep.ts';
import { type WatchedChild, watchChild } from '../support/child-output.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { contendWithOpenTransaction } from '../support/lock-wait.ts';
import { issuedCertificate } from './lifecycle-fixtures.ts';
import { createCourse, recordingLog } from './pipeline-fixtures.ts';

/**
 * 5,000 historical attempts generated in SQL: three courses, one passing attempt in five fails,
 * every student has up to four attempts per course, one in seven was already seen by the scan,
 * and ten students already hold a live certificate from before the window.
 */

let t: TestEnv;
const log = recordingLog();
// 2021-06-01 through 2023-06-30, `to` inclusive as the command line reads it; long before the run.
const selection: BackfillSelection = selectionOf(
  { from: '2021-06-01', to: '2023-06-30' },
  { startedAt: new Date('2025-01-01T00:00:00Z') },
);
const COURSES = [
  'c0000000-0000-4000-8000-000000000000',
  'c0000000-0000-4000-8000-000000000001',
  'c0000000-0000-4000-8000-000000000002',
];

interface AttemptRow {
  id: string;
  student_id: string;
  course_id: string;
  passed: boolean;
  completed_at: Date;
  certificate_enqueued_at: Date | null;
}

/** What the run must create, computed in plain code from the rows (not with the SQL under test). */
async function expectedPerCourse(): Promise<Map<string, Set<string>>> {
  const attempts = await t.sql<AttemptRow[]>`SELECT * FROM test_attempts`;
  const live = await t.sql<{ student_id: string; course_id: string }[]>`
    SELECT student_id, course_id FROM certificates WHERE status NOT IN ('revoked', 'superseded')`;
  const holders = new Set(live.map((row) => `${row.student_id}/${row.course_id}`));
  const to = selection.to;
  const expected = new Map<string, Set<string>>();
  for (const a of attempts) {
    if (!a.passed || a.certificate_enqueued_at !== null) continue;
    if (a.completed_at < selection.from || a.completed_at >= to) continue;
    if (holders.has(`${a.student_id}/${a.course_id}`)) continue;
    const students = expected.get(a.course_id) ?? new Set<string>();
    students.add(a.student_id);
    expected.set(a.course_id, students);
  }
  return expected;
}

/** Row counts and an order-independent checksum of everything a run could touch. */
async function fingerprint(): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const table of [
    'test_attempts',
    'certificates',
    'certificate_generation_log',
    'webhook_outbox',
    'courses',
  ]) {
    const [row] = await t.sql<{ rows: number; digest: string }[]>`
      SELECT count(*)::int AS rows, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS digest
      FROM ${t.sql(table)} x`;
    result[table] = `${row?.rows}:${row?.digest}`;
  }
  return result;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `npm run backfill -- ...` as an operator runs it, against this file's database. */
async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  return await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/backfill.ts', ...args], {
    cwd: ROOT,
    // A budget large enough that the backlog earlier tests left (nothing renders here) leaves room.
    env: { ...process.env, ...t.env, GENERATE_MAX_CONCURRENCY: '1000', ...env },
    timeout: 60_000,
  });
}

const options = { batchSize: 700, maxWaiting: 100_000, notify: false, pollMs: 10 };

beforeAll(async () => {
  t = await createTestEnv();
  await t.sql`
    INSERT INTO courses (id, code, title)
    SELECT id::uuid, 'HIST-' || n, 'History course ' || n
    FROM unnest(${COURSES}::text[]) WITH ORDINALITY AS c(id, n)`;
  await t.sql`
    INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at, certificate_enqueued_at)
    SELECT md5('student-' || (g % 1500))::uuid,
           (${COURSES}::uuid[])[g % 3 + 1],
           CASE WHEN g % 5 = 0 THEN 40 ELSE 60 + g % 41 END, 100, g % 5 <> 0,
           timestamptz '2021-01-01T12:00:00Z' + make_interval(days => g % 1000),
           CASE WHEN g % 7 = 0 THEN timestamptz '2024-01-01' END
    FROM generate_series(1, 5000) AS g`;
  // Ten students certified before the window: their attempts in it get no new certificate.
  await t.sql`
    WITH old AS (
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at, certificate_enqueued_at)
      SELECT md5('student-' || g)::uuid, (${COURSES}::uuid[])[g % 3 + 1], 90, 100, true, '2019-05-01', '2019-05-01'
      FROM generate_series(1, 10) AS g
      RETURNING id, student_id, course_id
    )
    INSERT INTO certificates (student_id, course_id, test_attempt_id) SELECT student_id, course_id, id FROM old`;
});
afterAll(async () => {
  await t.cleanup();
});

describe('backfill of 5,000 historical attempts', () => {
  it('the scan leaves attempts before SCAN_NOT_BEFORE to the backfill', async () => {
    const counted = async () =>
      (
        await t.sql<{ certificates: number; marked: number }[]>`
        SELECT (SELECT count(*) FROM certificates)::int AS certificates,
               (SELECT count(*) FROM test_attempts WHERE certificate_enqueued_at IS NOT NULL)::int AS marked`
      )[0];
    const before = await counted();
    const scan = await runScan(
      { sql: t.sql, log, dispatch: async () => undefined },
      {
        batchSize: 10,
        enqueueLimit: 1000,
        dispatchLeaseSeconds: 300,
        maxInFlight: 0,
        notBefore: new Date('2024-01-01'),
      },
    );
    expect(scan).toMatchObject({ scanned: 0, created: 0 });
    expect(await counted()).toEqual(before);
  });

  it('dry run: exact per-course counts, and nothing changes', async () => {
    const before = await fingerprint();
    const expected = await expectedPerCourse();
    const preview = await previewBackfill(t.sql, selection, 3);
    expect(await fingerprint()).toEqual(before);

    expect(preview.courses.map((c) => [c.courseId, c.title, c.certificates]).sort()).toEqual(
      [...expected.entries()]
        .map(([courseId, students]) => [
          courseId,
          `History course ${COURSES.indexOf(courseId) + 1}`,
          students.size,
        ])
        .sort(),
    );
    expect(preview.totalCertificates).toBeGreaterThan(1000);
    expect(preview.sample).toHaveLength(3);
    for (const attempt of preview.sample) expect(attempt.completedAt >= selection.from).toBe(true);

    const one = await previewBackfill(t.sql, { ...selection, courseId: COURSES[1] as string });
    expect(one.courses.map((c) => c.courseId)).toEqual([COURSES[1]]);
    expect(one.totalCertificates).toBe(expected.get(COURSES[1] as string)?.size);

    const { stdout } = await cli(['--from', '2021-06-01', '--to', '2023-06-30', '--dry-run']);
    expect(await fingerprint()).toEqual(before);
    for (const course of preview.courses)
      expect(stdout).toContain(`${course.courseId}  ${course.title}  ${course.certificates} certificate(s)`);
    expect(stdout).toContain(`Total: ${preview.totalCertificates} certificate(s)`);
    expect(stdout).toContain(preview.sample[0]?.attemptId);

    // A course title is the LMS's text: escape sequences in it are shown, not played to the terminal.
    const [first] = preview.courses;
    await t.sql`UPDATE courses SET title = ${`${first?.title}\u001b[2K\rVALID`} WHERE id = ${first?.courseId ?? ''}`;
    try {
      const hostile = await cli(['--from', '2021-06-01', '--to', '2023-06-30', '--dry-run']);
      expect(hostile.stdout).toContain(`${first?.courseId}  ${first?.title}\\u{1b}[2K\\u{d}VALID  `);
      expect(hostile.stdout).not.toContain('\u001b');
    } finally {
      await t.sql`UPDATE courses SET title = ${first?.title ?? ''} WHERE id = ${first?.courseId ?? ''}`;
    }
  });

  let budgetCreated = 0;
  it('respects the budget: adds nothing while the backlog is full', async () => {
    const waiting = async () =>
      (
        await t.sql<
          { n: number }[]
        >`SELECT count(*)::int AS n FROM certificates WHERE status IN ('pending', 'rendering')`
      )[0]?.n;
    // The ten older certificates are pending too: the backfill fills only what is left of 100.
    const first = await runBackfill({ sql: t.sql, log }, selection, {
      ...options,
      maxWaiting: 100,
      maxBatches: 5,
    });
    expect(first.created).toBeGreaterThan(0);
    expect(await waiting()).toBeLessThanOrEqual(100);
    expect(await waiting()).toBe(10 + first.created);
    const full = await runBackfill({ sql: t.sql, log }, selection, {
      ...options,
      maxWaiting: 10 + first.created,
      maxBatches: 1,
    });
    expect(full).toMatchObject({ created: 0, done: 0, stopped: 'batch-limit' });
    budgetCreated = first.created;
  });

  it('counts certificates failed and waiting for their retry: during an outage it adds nothing', async () => {
    // Generate failing everything (Keycloak down): the window is full of retries, not free.
    const failed = await t.sql<{ id: string }[]>`
      UPDATE certificates SET status = 'failed', attempt_count = 1, last_error = 'Keycloak answered 503',
        next_attempt_at = now() + interval '1 hour'
      WHERE status = 'pending' RETURNING id`;
    try {
      expect(failed).toHaveLength(10 + budgetCreated);
      const during = await runBackfill({ sql: t.sql, log }, selection, {
        ...options,
        maxWaiting: failed.length,
        maxBatches: 1,
      });
      expect(during).toMatchObject({ created: 0, done: 0, stopped: 'batch-limit' });
    } finally {
      await t.sql`
        UPDATE certificates SET status = 'pending', attempt_count = 0, last_error = NULL, next_attempt_at = now()
        WHERE id IN ${t.sql(failed.map((row) => row.id))}`;
    }
  });

  it('interrupted, resumed and run again: exactly one certificate per eligible student and course', async () => {
    const expected = await expectedPerCourse();
    const controller = new AbortController();
    const aborted = await runBackfill({ sql: t.sql, log }, selection, {
      ...options,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    expect(aborted.stopped).toBe('aborted');
    expect(aborted.remaining).toBeGreaterThan(0);

    const finished = await runBackfill({ sql: t.sql, log }, selection, options);
    expect(finished.stopped).toBe('done');
    expect(finished.remaining).toBe(0);
    const again = await runBackfill({ sql: t.sql, log }, selection, options);
    expect(again.created).toBe(0);
    expect(again.total).toBe(0);

    const created = await t.sql<{ course_id: string; student_id: string; n: number }[]>`
      SELECT course_id, student_id, count(*)::int AS n FROM certificates c
      WHERE EXISTS (SELECT 1 FROM certificate_generation_log l
                    WHERE l.certificate_id = c.id AND l.details->>'backfill' = 'true')
      GROUP BY course_id, student_id`;
    expect(created.every((row) => row.n === 1)).toBe(true);
    const perCourse = new Map<string, number>();
    for (const row of created) perCourse.set(row.course_id, (perCourse.get(row.course_id) ?? 0) + 1);
    const expectedBefore = new Map([...expected].map(([course, students]) => [course, students.size]));
    // The budget test had already created some of them.
    const total = [...expectedBefore.values()].reduce((a, b) => a + b, 0) + budgetCreated;
    expect([...perCourse.values()].reduce((a, b) => a + b, 0)).toBe(total);
    expect(aborted.created + finished.created).toBe(total - budgetCreated);

    const [unmarked] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM test_attempts
      WHERE passed AND certificate_enqueued_at IS NULL AND later_pass_outcome IS NULL
        AND completed_at >= ${selection.from} AND completed_at < ${selection.to}`;
    expect(unmarked?.n).toBe(0);
    const [silent] = await t.sql<{ loud: number; audited: number }[]>`
      SELECT count(*) FILTER (WHERE c.notify)::int AS loud,
             count(*) FILTER (WHERE l.message = 'pending certificate created by backfill' AND l.actor = 'backfill')::int
               AS audited
      FROM certificates c JOIN certificate_generation_log l ON l.certificate_id = c.id AND l.event = 'created'
      WHERE l.details->>'backfill' = 'true'`;
    expect(silent).toEqual({ loud: 0, audited: total });
  });

  it('a notify=false certificate marked issued writes no outbox event; a normal one does', async () => {
    await t.sql`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at)
      VALUES (gen_random_uuid(), ${COURSES[0] as string}, 90, 100, true, now())`;
    const scanned = await enqueuePassingAttempts(t.sql, 10, {
      filter: { from: new Date(Date.now() - 60_000) },
    });
    expect(scanned.created).toBe(1);
    const [loud] = await t.sql<
      { id: string }[]
    >`SELECT id FROM certificates WHERE notify ORDER BY created_at DESC LIMIT 1`;
    const [quiet] = await t.sql<{ id: string }[]>`SELECT id FROM certificates WHERE NOT notify LIMIT 1`;
    const issue = (id: string) => t.sql`
      UPDATE certificates SET status = 'issued', s3_key = 'certificates/' || id || '.pdf', generated_at = now(),
             pdf_sha256 = repeat('a', 64)
      WHERE id = ${id}`;
    await issue(quiet?.id as string);
    await issue(loud?.id as string);
    const events = await t.sql<{ certificate_id: string; event_type: string }[]>`
      SELECT certificate_id, event_type FROM webhook_outbox`;
    expect(events).toEqual([{ certificate_id: loud?.id, event_type: 'certificate.issued' }]);

    // Its expiry is as silent as its issuance; the normal one's is announced.
    await t.sql`UPDATE certificates SET expires_at = now() - interval '1 day' WHERE id IN (${quiet?.id as string}, ${loud?.id as string})`;
    expect(await sweepExpiredCertificates({ sql: t.sql, log, now: () => new Date() }, 100)).toEqual({
      marked: 2,
      announced: 1,
    });
    const expired = await t.sql<{ certificate_id: string }[]>`
      SELECT certificate_id FROM webhook_outbox WHERE event_type = 'certificate.expired'`;
    expect(expired).toEqual([{ certificate_id: loud?.id }]);
    const [marked] = await t.sql<{ expiry_notified_at: Date | null }[]>`
      SELECT expiry_notified_at FROM certificates WHERE id = ${quiet?.id as string}`;
    expect(marked?.expiry_notified_at).not.toBeNull();
  });
});

describe('npm run backfill', () => {
  it('a real run of one course after the window prints progress and creates what the dry run counted', async () => {
    const course = COURSES[2] as string;
    const window = ['--from', '2023-07-01', '--course', course];
    const preview = await previewBackfill(
      t.sql,
      selectionOf({ from: '2023-07-01' }, { startedAt: new Date('2025-01-01T00:00:00Z') }, course),
    );
    expect(preview.totalCertificates).toBeGreaterThan(0);
    const { stdout, stderr } = await cli([...window, '--batch-size', '50']);
    expect(stderr).toMatch(/\d+\/\d+ \(\d+\.\d%\) +[\d.]+\/s +ETA/);
    expect(stdout).toContain(`${preview.totalCertificates} certificate(s) created`);
    expect(stdout).toContain('0 attempt(s) left: done');
    const again = await cli(window);
    expect(again.stdout).toContain('0 certificate(s) created');
  });

  it('refuses bad arguments with a message and changes nothing', async () => {
    const before = await fingerprint();
    await expect(cli(['--from', 'yesterday'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^npm run backfill: from must be a date.*\nusage: npm run backfill/),
    });
    await expect(cli(['--dry-run'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/usage/),
    });
    // A mistyped course, and a window after the scan's boundary: refused, not "0 certificates, done".
    await expect(
      cli(['--from', '2021-06-01', '--course', '00000000-0000-4000-8000-00000000dead', '--dry-run']),
    ).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /^npm run backfill: --course 00000000-0000-4000-8000-00000000dead: no course has this id\nusage/,
      ),
    });
    await expect(cli(['--from', '2030-01-01'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(
        /from must be before .*, where the backfill's history ends \(this run's start\)/,
      ),
    });
    for (const size of ['0', 'abc', '-5', '2.5', '100000'])
      await expect(cli(['--from', '2021-06-01', '--batch-size', size]), size).rejects.toMatchObject({
        code: 2,
        stderr: expect.stringMatching(
          size === '-5' ? /batch-size.*\n.*usage/ : /--batch-size must be a whole number from 1 to 10000/,
        ),
      });
    expect(await fingerprint()).toEqual(before);
  });

  it('while another run holds the attempts left, it says so beside its progress, then finishes them once that run lets go', async () => {
    const course = await createCourse(t.sql);
    const attempts = [
      await passOn(course, new Date('2021-03-01T00:00:00Z')),
      await passOn(course, new Date('2021-04-01T00:00:00Z')),
    ];
    // The other run: a transaction holding both attempts, as its enqueue's statement does.
    const other = await t.sql.reserve();
    let watched: WatchedChild | undefined;
    try {
      await other`BEGIN`;
      await other`SELECT 1 FROM test_attempts WHERE id IN ${other(attempts)} FOR UPDATE`;
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'scripts/backfill.ts',
          '--from',
          '2021-01-01',
          '--to',
          '2021-12-31',
          '--course',
          course,
        ],
        { cwd: ROOT, env: { ...process.env, ...t.env, GENERATE_MAX_CONCURRENCY: '1000' } },
      );
      watched = watchChild(child);
      // It lets go only once this run has said that it waits for it.
      await expect
        .poll(() => watched?.stderr(), { timeout: 60_000, interval: 100 })
        .toContain('waiting: another run holds the 2 attempt(s) left');
      await other`COMMIT`;
      expect((await watched.exited).code).toBe(0);
    } finally {
      await other`ROLLBACK`.catch(() => undefined);
      other.release();
    }
    expect(watched?.stdout()).toContain(
      '2 certificate(s) created (2 attempt(s) handled), 0 attempt(s) left: done.',
    );
    for (const attempt of attempts) expect(await enqueuedAt(attempt)).not.toBeNull();
  });

  it('Ctrl-C while it waits for the backlog ends the run cleanly; nothing half-done', async () => {
    const before = await fingerprint();
    // A budget of 1: two waiting certificates fill it, so the run waits for the scan to drain.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'scripts/backfill.ts', '--from', '2019-01-01'],
      {
        cwd: ROOT,
        env: { ...process.env, ...t.env, GENERATE_MAX_CONCURRENCY: '1' },
      },
    );
    const { stdout, exited } = watchChild(child);
    // Connected means it is past argument parsing and waiting on the database.
    await expect
      .poll(
        async () =>
          (await t.sql`SELECT 1 FROM pg_stat_activity WHERE application_name = 'certificates-backfill'`)
            .length,
        { timeout: 30_000, interval: 100 },
      )
      .toBeGreaterThan(0);
    child.kill('SIGINT');
    // Stopped with work left: not a success a `&&` or a job runner would go on from.
    expect((await exited).code).toBe(130);
    expect(stdout()).toContain('0 certificate(s) created');
    expect(stdout()).toContain(': aborted.');
    expect(await fingerprint()).toEqual(before);
  });
});

/** A passing attempt completed at `completedAt`, of a new student unless `studentId` is given. */
async function passOn(courseId: string, completedAt: Date, studentId?: string): Promise<string> {
  const [row] = await t.sql<{ id: string }[]>`
    INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at)
    VALUES (coalesce(${studentId ?? null}::uuid, gen_random_uuid()), ${courseId}, 90, 100, true, ${completedAt})
    RETURNING id`;
  if (!row) throw new Error('attempt not inserted');
  return row.id;
}

/**
 * Runs a backfill of 2021 in `course` while another run's statement holds `attemptIds` (row
 * locks, as its enqueue takes them). The other run lets go when this one first logs that it waits
 * for it, or only once this one ended. Returns the run and the waits it logged.
 */
async function whileAnotherRunHolds(
  attemptIds: readonly string[],
  course: string,
  { letGo = 'when waited for' }: { letGo?: 'when waited for' | 'after the run' } = {},
): Promise<{ run: Awaited<ReturnType<typeof runBackfill>>; waits: Record<string, unknown>[] }> {
  let release = (): void => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let locked = (): void => undefined;
  const holding = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const other = t.sql.begin(async (tx) => {
    await tx`SELECT 1 FROM test_attempts WHERE id IN ${tx(attemptIds)} FOR UPDATE`;
    locked();
    await released;
  });
  await holding;
  const log = recordingLog();
  const info = log.info;
  const waits: Record<string, unknown>[] = [];
  log.info = (message, ...extra) => {
    info(message, ...extra);
    if (!message.startsWith('Backfill waiting')) return;
    waits.push(Object.assign({ message }, ...extra));
    if (letGo === 'when waited for') release();
  };
  try {
    const run = await runBackfill(
      { sql: t.sql, log },
      selectionOf(
        { from: '2021-01-01', to: '2021-12-31' },
        { startedAt: new Date('2025-01-01T00:00:00Z') },
        course,
      ),
      options,
    );
    return { run, waits };
  } finally {
    release();
    await other;
  }
}

async function enqueuedAt(attemptId: string): Promise<Date | null> {
  const [row] = await t.sql<{ certificate_enqueued_at: Date | null }[]>`
    SELECT certificate_enqueued_at FROM test_attempts WHERE id = ${attemptId}`;
  return row?.certificate_enqueued_at ?? null;
}

async function databaseNow(): Promise<Date> {
  const [row] = await t.sql<{ now: Date }[]>`SELECT now() AS now`;
  if (!row) throw new Error('no clock');
  return row.now;
}

describe("a backfill's selection ends where the scan's work begins", () => {
  // These tests leave passes the scan owns: they run last, so no earlier run or scan sees them.
  const SCAN_NOT_BEFORE = new Date('2025-01-01T00:00:00Z');

  it('with only `from`, a pass completed after SCAN_NOT_BEFORE is left to the scan, which announces it', async () => {
    const course = await createCourse(t.sql);
    const history = await passOn(course, new Date('2021-05-01T00:00:00Z'));
    // A student passes now, while the backfill runs: the LMS writes it to test_attempts.
    const fresh = await passOn(course, await databaseNow());
    const env = { SCAN_NOT_BEFORE: SCAN_NOT_BEFORE.toISOString() };
    const selectionLine =
      'Selection: passing attempts completed from 2020-01-01T00:00:00.000Z and before 2025-01-01T00:00:00.000Z ' +
      '(SCAN_NOT_BEFORE: the scan issues later passes).';

    // A `to` past the boundary is cut to it, and the dry run says so; only the history counts.
    const dry = await cli(
      ['--from', '2020-01-01', '--to', '2099-12-31', '--course', course, '--dry-run'],
      env,
    );
    expect(dry.stdout).toContain(selectionLine);
    expect(dry.stdout).toContain('Total: 1 certificate(s) from 1 passing attempt(s).');
    expect(dry.stdout).not.toContain(fresh);

    // Without `to`, the real run ends there too.
    const run = await cli(['--from', '2020-01-01', '--course', course], env);
    expect(run.stdout).toContain(selectionLine);
    expect(run.stdout).toContain('1 certificate(s) created (1 attempt(s) handled), 0 attempt(s) left: done.');
    expect(await enqueuedAt(history)).not.toBeNull();
    expect(await enqueuedAt(fresh)).toBeNull();

    // The scan then takes it as any live pass: its certificate announces its issuance.
    await runScan(
      { sql: t.sql, log, dispatch: async () => undefined },
      {
        batchSize: 10,
        enqueueLimit: 1000,
        dispatchLeaseSeconds: 300,
        maxInFlight: 0,
        notBefore: SCAN_NOT_BEFORE,
      },
    );
    const certificates = await t.sql<{ test_attempt_id: string; notify: boolean; message: string }[]>`
      SELECT c.test_attempt_id, c.notify, l.message
      FROM certificates c JOIN certificate_generation_log l ON l.certificate_id = c.id AND l.event = 'created'
      WHERE c.course_id = ${course}
      ORDER BY c.created_at`;
    expect(certificates).toEqual([
      { test_attempt_id: history, notify: false, message: 'pending certificate created by backfill' },
      { test_attempt_id: fresh, notify: true, message: 'pending certificate created by scan' },
    ]);
  });

  it('selectionOf: SCAN_NOT_BEFORE ends a selection without `to` or with a later one; an earlier `to` stays', () => {
    const boundary = { scanNotBefore: SCAN_NOT_BEFORE, startedAt: new Date('2026-06-01T00:00:00Z') };
    expect(selectionOf({ from: '2020-01-01' }, boundary)).toMatchObject({
      to: SCAN_NOT_BEFORE,
      endedBy: 'SCAN_NOT_BEFORE',
    });
    expect(selectionOf({ from: '2020-01-01', to: '2025-01-01' }, boundary)).toMatchObject({
      to: SCAN_NOT_BEFORE,
      endedBy: 'SCAN_NOT_BEFORE',
    });
    expect(selectionOf({ from: '2020-01-01', to: '2024-12-31' }, boundary)).toMatchObject({
      to: SCAN_NOT_BEFORE,
      endedBy: 'to',
    });
    expect(selectionOf({ from: '2020-01-01', to: '2024-06-30T12:00:00Z' }, boundary)).toMatchObject({
      to: new Date('2024-06-30T12:00:00Z'),
      endedBy: 'to',
    });
    // From the boundary on, the passes are the scan's: nothing to select, said by name.
    expect(() => selectionOf({ from: SCAN_NOT_BEFORE.toISOString() }, boundary)).toThrow(
      expect.objectContaining({ field: 'from', message: expect.stringMatching(/^from must be before/) }),
    );
  });

  it("without SCAN_NOT_BEFORE, the run's start ends it: a pass completed after that is not taken", async () => {
    const course = await createCourse(t.sql);
    const startedAt = await databaseNow();
    const history = await passOn(course, new Date('2021-05-01T00:00:00Z'));
    // Completed after the run started (an hour, so that the command line below starts before it too).
    const arriving = await passOn(course, new Date(startedAt.getTime() + 3_600_000));

    const selection = selectionOf({ from: '2020-01-01' }, { startedAt }, course);
    expect(selection).toMatchObject({ to: startedAt, endedBy: 'start' });
    // A `to` after the start could only select passes made during the run: cut as well.
    expect(selectionOf({ from: '2020-01-01', to: '2099-12-31' }, { startedAt }, course)).toMatchObject({
      to: startedAt,
      endedBy: 'start',
    });
    expect(await previewBackfill(t.sql, selection)).toMatchObject({ totalAttempts: 1, totalCertificates: 1 });
    expect(await runBackfill({ sql: t.sql, log }, selection, options)).toMatchObject({
      created: 1,
      remaining: 0,
      stopped: 'done',
    });
    expect(await enqueuedAt(history)).not.toBeNull();
    expect(await enqueuedAt(arriving)).toBeNull();

    // The command line reports its own start as the end, and counts nothing after it.
    const before = Date.now();
    const { stdout } = await cli(['--from', '2020-01-01', '--course', course, '--dry-run']);
    const after = Date.now();
    const reported = stdout.match(
      /^Selection: passing attempts completed from 2020-01-01T00:00:00\.000Z and before (\S+) \(the run's start: SCAN_NOT_BEFORE is not set\)\.$/m,
    )?.[1];
    expect(reported).toBeDefined();
    expect(Date.parse(reported ?? '')).toBeGreaterThanOrEqual(before);
    expect(Date.parse(reported ?? '')).toBeLessThanOrEqual(after);
    expect(stdout).toContain('Total: 0 certificate(s) from 0 passing attempt(s).');
  });

  it("the later-pass rule's decisions in a backfill are audited as the backfill's", async () => {
    const course = await createCourse(t.sql);
    await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${course}`;
    // Issued for a 2021 pass, expired in 2022.
    const live = await issuedCertificate(t.sql, { courseId: course });
    await t.sql`UPDATE test_attempts SET completed_at = '2021-01-01T00:00:00Z' WHERE id = ${live.attemptId}`;
    await t.sql`UPDATE certificates SET expires_at = '2022-01-01T00:00:00Z' WHERE id = ${live.id}`;
    // A history pass after it: the rule renews the expired certificate, silently as the run is.
    const pass = await passOn(course, new Date('2023-03-01T00:00:00Z'), live.studentId);

    const run = await runBackfill(
      { sql: t.sql, log },
      selectionOf({ from: '2020-01-01', to: '2024-12-31' }, { startedAt: SCAN_NOT_BEFORE }, course),
      options,
    );
    expect(run).toMatchObject({ created: 1, done: 1, stopped: 'done' });
    const [successor] = await t.sql<{ id: string; notify: boolean }[]>`
      SELECT id, notify FROM certificates WHERE test_attempt_id = ${pass}`;
    expect(successor?.notify).toBe(false);
    const audit = await t.sql<{ certificate_id: string; event: string; actor: string; rule: string }[]>`
      SELECT certificate_id, event, actor, details->>'rule' AS rule FROM certificate_generation_log
      WHERE details->>'test_attempt_id' = ${pass}
      ORDER BY id`;
    expect(audit).toEqual([
      // Superseded when the replacement is issued; asked for now, in the backfill's name.
      {
        certificate_id: live.id,
        event: 'reissue-requested',
        actor: 'backfill',
        rule: 'renewed-after-expiry',
      },
      { certificate_id: successor?.id, event: 'created', actor: 'backfill', rule: 'renewed-after-expiry' },
    ]);
  });
});

describe('a backfill and a revocation', () => {
  it("an older pass than a revoked certificate's own gets no certificate: recorded against the revoked one, and the dry run counts none", async () => {
    const course = await createCourse(t.sql);
    // Issued for a 2026 pass, then revoked for misconduct.
    const revoked = await issuedCertificate(t.sql, { courseId: course });
    await t.sql`UPDATE test_attempts SET completed_at = '2026-11-01T00:00:00Z' WHERE id = ${revoked.attemptId}`;
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: revoked.id, reasonCode: 'academic-misconduct', actor: 'staff-1' },
    );
    // History from 2020, imported afterwards.
    const history = await passOn(course, new Date('2020-03-01T00:00:00Z'), revoked.studentId);
    const selection = selectionOf(
      { from: '2019-01-01', to: '2021-01-01' },
      { startedAt: new Date('2025-01-01T00:00:00Z') },
      course,
    );

    const preview = await previewBackfill(t.sql, selection);
    expect(preview).toMatchObject({ totalAttempts: 1, totalCertificates: 0 });
    const run = await runBackfill({ sql: t.sql, log }, selection, options);
    expect(run).toMatchObject({ created: 0, done: 1, stopped: 'done' });

    const certificates = await t.sql<{ id: string; status: string }[]>`
      SELECT id, status::text FROM certificates WHERE student_id = ${revoked.studentId} AND course_id = ${course}`;
    expect(certificates).toEqual([{ id: revoked.id, status: 'revoked' }]);
    const [attempt] = await t.sql<{ later_pass_outcome: string | null }[]>`
      SELECT later_pass_outcome FROM test_attempts WHERE id = ${history}`;
    expect(attempt?.later_pass_outcome).toBe('already-certified');
    const audit = await t.sql<{ certificate_id: string; event: string; actor: string; rule: string }[]>`
      SELECT certificate_id, event, actor, details->>'rule' AS rule FROM certificate_generation_log
      WHERE details->>'test_attempt_id' = ${history}`;
    expect(audit).toEqual([
      { certificate_id: revoked.id, event: 'later-pass', actor: 'backfill', rule: 'already-certified' },
    ]);

    // A pass after the revocation is the student's new certificate, as the rule has it.
    const retake = await passOn(course, new Date(), revoked.studentId);
    await enqueuePassingAttempts(t.sql, 100, { filter: { courseId: course } });
    const [renewed] = await t.sql<{ status: string }[]>`
      SELECT status::text FROM certificates WHERE test_attempt_id = ${retake}`;
    expect(renewed?.status).toBe('pending');
  });
});

describe('two backfills at once', () => {
  it('an attempt deferred behind an earlier pass another run holds is taken once that run lets go; the run does not stop "stuck"', async () => {
    const course = await createCourse(t.sql);
    const student = '5a000000-0000-4000-8000-00000000b0f1';
    const earlier = await passOn(course, new Date('2021-03-01T00:00:00Z'), student);
    const later = await passOn(course, new Date('2021-06-01T00:00:00Z'), student);
    // The other run: its enqueue holds the earlier pass (SKIP LOCKED passes over it), so this
    // run's batch holds only the later one, which must not win the student's certificate.
    const { run, waits } = await whileAnotherRunHolds([earlier], course);
    expect(run).toMatchObject({ stopped: 'done', remaining: 0, created: 1 });
    expect(waits).toContainEqual({
      message: 'Backfill waiting: another run holds earlier passes of the same students',
      deferred: 1,
    });
    const certificates = await t.sql<{ test_attempt_id: string }[]>`
      SELECT test_attempt_id FROM certificates WHERE course_id = ${course}`;
    expect(certificates).toEqual([{ test_attempt_id: earlier }]);
    expect(await enqueuedAt(later)).not.toBeNull();
  });
  it('every attempt left held by another run: the run waits for it and ends "done" with none left, not "done" with work left', async () => {
    const course = await createCourse(t.sql);
    const first = await passOn(course, new Date('2021-03-01T00:00:00Z'));
    const second = await passOn(course, new Date('2021-04-01T00:00:00Z'));
    const { run, waits } = await whileAnotherRunHolds([first, second], course);
    expect(waits).toContainEqual({
      message: 'Backfill waiting: another run holds the attempts left',
      held: 2,
    });
    expect(run).toMatchObject({ stopped: 'done', remaining: 0, created: 2 });
    expect(await enqueuedAt(first)).not.toBeNull();
    expect(await enqueuedAt(second)).not.toBeNull();
  });
  it('a hold that outlasts the wait ends the run "stuck", with the attempts left counted', async () => {
    const course = await createCourse(t.sql);
    const held = await passOn(course, new Date('2021-03-01T00:00:00Z'));
    const { run, waits } = await whileAnotherRunHolds([held], course, { letGo: 'after the run' });
    expect(run).toMatchObject({ stopped: 'stuck', remaining: 1, created: 0 });
    expect(waits).toHaveLength(30);
    expect(await enqueuedAt(held)).toBeNull();
  });
  it("the route's one batch, all deferred behind another run's earlier pass, returns at once and says nothing of waiting", async () => {
    const course = await createCourse(t.sql);
    const student = '5a000000-0000-4000-8000-00000000b0f3';
    const earlier = await passOn(course, new Date('2021-03-01T00:00:00Z'), student);
    await passOn(course, new Date('2021-06-01T00:00:00Z'), student);
    const quiet = recordingLog();
    // A poll far longer than the test may take: were the one-batch run to wait, it would not end.
    const run = await contendWithOpenTransaction(
      t.sql,
      (other) => other`SELECT 1 FROM test_attempts WHERE id = ${earlier} FOR UPDATE`,
      () =>
        runBackfill(
          { sql: t.sql, log: quiet },
          selectionOf(
            { from: '2021-01-01', to: '2021-12-31' },
            { startedAt: new Date('2025-01-01T00:00:00Z') },
            course,
          ),
          { ...options, maxBatches: 1, pollMs: 3_600_000 },
        ),
    );
    expect(run).toMatchObject({
      status: 'fulfilled',
      value: { stopped: 'batch-limit', created: 0, remaining: 2 },
    });
    expect(quiet.entries.map((entry) => entry.message)).not.toContain(
      'Backfill waiting: another run holds earlier passes of the same students',
    );
  });
});

describe('passes completed at the same instant', () => {
  // Last in this file: it leaves a pending certificate and an undecided pass no scan here takes.
  it('takes two passes completed at the same instant in the order the deferral counts, so a batch of one is not deferred forever', async () => {
    // History imported at day precision: a student's two passes of a course on the same
    // timestamp. The deferral counts the one with the lower id as earlier; taken in any other
    // order, a batch holding only the other would defer it, and the next batch would pick the
    // same one again.
    const studentId = '5a000000-0000-4000-8000-00000000b0f2';
    const courseId = await createCourse(t.sql);
    const [later, earlier] = [
      'ffffffff-ffff-4fff-bfff-ffffffffffff',
      '00000000-0000-4000-8000-000000000000',
    ].map((id) => `${id.slice(0, 24)}${courseId.slice(24)}`);
    for (const id of [later, earlier]) {
      await t.sql`
        INSERT INTO test_attempts (id, student_id, course_id, score, max_score, passed, completed_at)
        VALUES (${id ?? ''}, ${studentId}, ${courseId}, 90, 100, true, '2021-03-01T00:00:00Z')`;
    }
    const first = await enqueuePassingAttempts(t.sql, 1, { filter: { courseId } });
    expect(first).toMatchObject({ scanned: 1, created: 1, deferred: 0 });
    const certificates = await t.sql<{ test_attempt_id: string }[]>`
      SELECT test_attempt_id FROM certificates WHERE course_id = ${courseId}`;
    expect(certificates).toEqual([{ test_attempt_id: earlier }]);
    expect(await enqueuePassingAttempts(t.sql, 1, { filter: { courseId } })).toMatchObject({
      scanned: 1,
      created: 0,
      deferred: 0,
      laterPasses: [later],
    });
  });
});
