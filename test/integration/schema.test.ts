import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScan } from '../../lib/certificates/scan.ts';
import { createAddressGuard } from '../../lib/webhooks/address-guard.ts';
import { fanOut } from '../../lib/webhooks/delivery.ts';
import { createEndpoint } from '../../lib/webhooks/endpoints.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { recordingLog } from './pipeline-fixtures.ts';

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

describe('schema', () => {
  it('runs the integration guide monitoring queries as written', async () => {
    const [course] = await t.sql`INSERT INTO courses (title) VALUES ('Monitoring 101') RETURNING id`;
    const [attempt] = await t.sql`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, certificate_enqueued_at)
      VALUES (gen_random_uuid(), ${course?.id}, 90, 100, true, now()) RETURNING id, student_id`;
    await t.sql`
      INSERT INTO certificates (student_id, course_id, test_attempt_id, status, last_error)
      VALUES (${attempt?.student_id}, ${course?.id}, ${attempt?.id}, 'failed', 'boom')`;

    const pending = await t.sql`SELECT * FROM get_certificates_pending_generation()`;
    expect(pending.map((row) => row.status)).toEqual(['failed']);
    const history = await t.sql`SELECT * FROM certificate_generation_log ORDER BY created_at DESC LIMIT 20`;
    expect(history).toHaveLength(0);
    const errors = await t.sql`SELECT * FROM certificate_b WHERE last_error IS NOT NULL`;
    expect(errors).toHaveLength(1);
    const overview = await t.sql`SELECT status, COUNT(*) FROM v_certificates_with_metadata GROUP BY status`;
    expect(overview).toEqual([{ status: 'failed', count: '1' }]);
  });

  it("the guide's generation history still shows certificates after many quiet scans", async () => {
    const [course] = await t.sql`INSERT INTO courses (title) VALUES ('Quiet 101') RETURNING id`;
    const [attempt] = await t.sql`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, certificate_enqueued_at)
      VALUES (gen_random_uuid(), ${course?.id}, 90, 100, true, now()) RETURNING id, student_id`;
    const [certificate] = await t.sql<{ id: string }[]>`
      INSERT INTO certificates (student_id, course_id, test_attempt_id, status)
      VALUES (${attempt?.student_id}, ${course?.id}, ${attempt?.id}, 'dead') RETURNING id`;
    await t.sql`
      INSERT INTO certificate_generation_log (certificate_id, event, from_status, to_status)
      VALUES (${certificate?.id ?? null}, 'dead', 'rendering', 'dead')`;
    // Twenty-five minutes of a schedule with nothing to do.
    for (let tick = 0; tick < 25; tick += 1)
      await runScan(
        { sql: t.sql, dispatch: async () => undefined, log: recordingLog() },
        { batchSize: 10, enqueueLimit: 10, dispatchLeaseSeconds: 300 },
      );
    const history = await t.sql<{ certificate_id: string | null; event: string }[]>`
      SELECT * FROM certificate_generation_log ORDER BY created_at DESC LIMIT 20`;
    expect(history.map((row) => [row.certificate_id, row.event])).toContainEqual([certificate?.id, 'dead']);
    expect(history.filter((row) => row.certificate_id === null)).toEqual([]);
  });

  it("runs the README's webhook backlog query as written: pending deliveries per endpoint, oldest first", async () => {
    const query = /-- Webhook backlog per endpoint\n([\s\S]*?;)/.exec(readFileSync('README.md', 'utf8'))?.[1];
    expect(query).toBeDefined();
    const guard = createAddressGuard(['127.0.0.1']);
    const { endpoint } = await createEndpoint(
      { sql: t.sql, guard },
      { url: 'http://127.0.0.1:9/hooks', eventTypes: ['certificate.issued'], description: 'down' },
      'admin',
    );
    const now = new Date();
    for (let i = 0; i < 3; i++)
      await t.sql`
        INSERT INTO webhook_outbox (event_type, certificate_id, data)
        VALUES ('certificate.issued', gen_random_uuid(), '{}'::jsonb)`;
    await fanOut({ sql: t.sql, now: () => now }, 50);
    await t.sql`
      UPDATE webhook_deliveries SET attempt_count = 2, last_error = 'connect ECONNREFUSED'
      WHERE id = (SELECT id FROM webhook_deliveries WHERE endpoint_id = ${endpoint.id} LIMIT 1)`;
    const rows = await t.sql.unsafe<
      { id: string; pending: string; most_attempts: number; a_last_error: string }[]
    >(query ?? '');
    expect(rows.find((row) => row.id === endpoint.id)).toMatchObject({
      pending: '3',
      most_attempts: 2,
      a_last_error: 'connect ECONNREFUSED',
    });
  });

  it("runs the README's webhook retention statement as written: old events go with their deliveries and attempts, recent and still-owed ones stay", async () => {
    const statement = /-- Webhook history older than 90 days, one batch\n([\s\S]*?;)/.exec(
      readFileSync('README.md', 'utf8'),
    )?.[1];
    expect(statement).toBeDefined();
    const guard = createAddressGuard(['127.0.0.1']);
    await createEndpoint(
      { sql: t.sql, guard },
      { url: 'http://127.0.0.1:9/retention', eventTypes: ['certificate.revoked'], description: 'kept' },
      'admin',
    );
    const events: Record<string, string> = {};
    for (const name of ['old', 'owed', 'recent']) {
      const [row] = await t.sql<{ id: string }[]>`
        INSERT INTO webhook_outbox (event_type, certificate_id, data)
        VALUES ('certificate.revoked', gen_random_uuid(), '{}'::jsonb) RETURNING id`;
      events[name] = row?.id ?? '';
    }
    await fanOut({ sql: t.sql, now: () => new Date() }, 50);
    await t.sql`UPDATE webhook_outbox SET fanned_out_at = now() - interval '91 days'
                WHERE id IN (${events.old ?? ''}, ${events.owed ?? ''})`;
    await t.sql`UPDATE webhook_deliveries SET status = 'succeeded', next_attempt_at = NULL
                WHERE event_id IN (${events.old ?? ''}, ${events.recent ?? ''})`;
    const [old] = await t.sql<
      { id: string }[]
    >`SELECT id FROM webhook_deliveries WHERE event_id = ${events.old ?? ''}`;
    await t.sql`INSERT INTO webhook_delivery_attempts (delivery_id, attempt_number, attempted_at, duration_ms, succeeded)
                VALUES (${old?.id ?? ''}, 1, now() - interval '91 days', 12, true)`;

    await t.sql.unsafe(statement ?? '');
    const left = await t.sql<{ id: string }[]>`
      SELECT id FROM webhook_outbox WHERE id IN (${events.old ?? ''}, ${events.owed ?? ''}, ${events.recent ?? ''})`;
    expect(left.map((row) => row.id).sort()).toEqual([events.owed, events.recent].sort());
    expect(await t.sql`SELECT 1 FROM webhook_deliveries WHERE event_id = ${events.old ?? ''}`).toHaveLength(
      0,
    );
    expect(
      await t.sql`SELECT 1 FROM webhook_delivery_attempts WHERE delivery_id = ${old?.id ?? ''}`,
    ).toHaveLength(0);
  });

  it("counts an issued certificate past its date as expired in the README's effective overview", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const query =
      /SELECT effective_status, COUNT\(\*\) FROM v_certificates_with_metadata\s+GROUP BY effective_status/.exec(
        readme,
      )?.[0];
    expect(query).toBeDefined();
    // Other tests share the database: what this one adds is the difference.
    const overview = async () =>
      Object.fromEntries(
        (await t.sql.unsafe<{ effective_status: string; count: string }[]>(query ?? '')).map((row) => [
          row.effective_status,
          Number(row.count),
        ]),
      );
    const before = await overview();
    const [course] = await t.sql`INSERT INTO courses (title) VALUES ('Expiring 101') RETURNING id`;
    for (const expiresAt of [new Date(Date.now() - 86_400_000), new Date(Date.now() + 86_400_000), null]) {
      const [attempt] = await t.sql`
        INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, certificate_enqueued_at)
        VALUES (gen_random_uuid(), ${course?.id}, 90, 100, true, now()) RETURNING id, student_id`;
      await t.sql`
        INSERT INTO certificates (student_id, course_id, test_attempt_id, status, s3_key, generated_at,
                                  pdf_sha256, expires_at)
        VALUES (${attempt?.student_id}, ${course?.id}, ${attempt?.id}, 'issued',
                ${`certificates/${attempt?.id}.pdf`}, now(), ${'0'.repeat(64)}, ${expiresAt})`;
    }
    const after = await overview();
    expect((after.expired ?? 0) - (before.expired ?? 0)).toBe(1);
    expect((after.issued ?? 0) - (before.issued ?? 0)).toBe(2);
  });

  it("runs the README's trigger for an LMS's own results as written: integer points pass at the pass mark", async () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /```sql\n(CREATE FUNCTION lms\.copy_result_to_test_attempts[\s\S]*?)```/.exec(
      readme.replace(/^ {3}/gm, ''),
    )?.[1];
    expect(block).toContain('CREATE TRIGGER results_to_test_attempts');
    await t.sql.unsafe(`CREATE SCHEMA lms;
      CREATE TABLE lms.results (id serial PRIMARY KEY, user_id uuid, course_id uuid,
        points integer, points_max integer, finished_at timestamptz)`);
    await t.sql.unsafe(block ?? '');
    const [course] =
      await t.sql`INSERT INTO courses (title, pass_percentage) VALUES ('LMS', 50) RETURNING id`;
    // 95/100 and exactly the pass mark (1/2) pass; 49/100 and 2/5 do not.
    for (const [points, max] of [
      [95, 100],
      [1, 2],
      [49, 100],
      [2, 5],
    ])
      await t.sql`
        INSERT INTO lms.results (user_id, course_id, points, points_max, finished_at)
        VALUES (gen_random_uuid(), ${course?.id}, ${points ?? 0}, ${max ?? 1}, now())`;
    const copied = await t.sql<{ score: string; max_score: string; passed: boolean }[]>`
      SELECT score, max_score, passed FROM test_attempts WHERE course_id = ${course?.id} ORDER BY external_ref`;
    expect(copied.map((row) => [Number(row.score), Number(row.max_score), row.passed])).toEqual([
      [95, 100, true],
      [1, 2, true],
      [49, 100, false],
      [2, 5, false],
    ]);

    // Results test_attempts cannot hold never fail the LMS's own write; the README's query lists them.
    const unfit = [
      { user: true, points: 105, max: 100 },
      { user: true, points: null, max: 100 },
      { user: false, points: 80, max: 100 },
      { user: true, points: 0, max: 0 },
    ];
    const unfitIds: number[] = [];
    for (const { user, points, max } of unfit) {
      const [row] = await t.sql<{ id: number }[]>`
        INSERT INTO lms.results (user_id, course_id, points, points_max, finished_at)
        VALUES (${user ? randomUUID() : null}, ${course?.id}, ${points}, ${max}, now()) RETURNING id`;
      unfitIds.push(row?.id ?? -1);
    }
    const [{ lms = -1 } = {}] = await t.sql<{ lms: number }[]>`SELECT count(*)::int AS lms FROM lms.results`;
    expect(lms).toBe(8);
    const query = /```sql\n(-- Finished results the trigger did not copy[\s\S]*?)```/.exec(
      readme.replace(/^ {3}/gm, ''),
    )?.[1];
    expect(query).toContain('lms.results');
    const missed = await t.sql.unsafe<{ id: number }[]>(query ?? '');
    expect(missed.map((row) => row.id).sort((a, b) => a - b)).toEqual(unfitIds);

    // Fractional points: the stored score is cut to 2 decimals and pass/fail follows the stored row.
    await t.sql.unsafe(`CREATE TABLE lms.graded (id integer PRIMARY KEY, user_id uuid, course_id uuid,
        points numeric, points_max numeric, finished_at timestamptz);
      CREATE TRIGGER graded_to_test_attempts AFTER INSERT ON lms.graded
        FOR EACH ROW EXECUTE FUNCTION lms.copy_result_to_test_attempts()`);
    const [pass70] = await t.sql<{ id: string }[]>`
      INSERT INTO courses (title, pass_percentage) VALUES ('LMS 70', 70) RETURNING id`;
    // Ids apart from lms.results' ones: both tables' rows share the 'lms:' external references.
    for (const [id, points] of [
      [1001, 69.996],
      [1002, 70.004],
      // A float sum's error (0.05 + 68.88 + 1.07): 70.00 as the ingestion route takes it, a pass.
      [1003, 69.99999999999999],
    ])
      await t.sql`
        INSERT INTO lms.graded (id, user_id, course_id, points, points_max, finished_at)
        VALUES (${id ?? 0}, gen_random_uuid(), ${pass70?.id ?? null}, ${points ?? 0}, 100, now())`;
    const graded = await t.sql<{ score: string; passed: boolean }[]>`
      SELECT score, passed FROM test_attempts WHERE course_id = ${pass70?.id ?? null} ORDER BY score`;
    expect(graded).toEqual([
      { score: '69.99', passed: false },
      { score: '70.00', passed: true },
      { score: '70.00', passed: true },
    ]);
  });

  it("keeps the guide's certificate_b view showing every column of certificates, in order", async () => {
    const columns = async (table: string) =>
      (
        await t.sql<{ column_name: string }[]>`
          SELECT column_name FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = ${table} ORDER BY ordinal_position`
      ).map((row) => row.column_name);
    const table = await columns('certificates');
    expect(table).toEqual(expect.arrayContaining(['notify', 'expiry_notified_at', 'credential_kid']));
    expect(await columns('certificate_b')).toEqual(table);
  });

  it("keeps the status list's allocation a HOT update: no index of status_lists reads a column an allocation or a revocation writes", async () => {
    // assignIssueLifecycle increments `allocated`, revokeIssued sets a bit: with either column in
    // an index's key or predicate, every certificate's issue would write a new index entry.
    const indexes = await t.sql<{ definition: string }[]>`
      SELECT pg_get_indexdef(indexrelid) AS definition FROM pg_index
      WHERE indrelid = 'status_lists'::regclass`;
    expect(indexes.length).toBeGreaterThan(1);
    for (const { definition } of indexes) expect(definition).not.toMatch(/\b(allocated|bits|updated_at)\b/);
  });

  it('indexes every foreign key by its own columns first: deleting a parent does not scan the child table once per row', async () => {
    // PostgreSQL 18 can skip-scan an index that has the key second; 15 to 17, which the README
    // supports, cannot, and a cascade then reads the whole child table for each deleted row.
    const unindexed = await t.sql<{ constraint_name: string }[]>`
      SELECT c.conname AS constraint_name FROM pg_constraint c
      WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace AND NOT EXISTS (
        SELECT 1 FROM pg_index i
        WHERE i.indrelid = c.conrelid
          AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey)
      ORDER BY 1`;
    // Except where the parent is never deleted: issuer keys stay published for good (a retired
    // key still verifies what it signed) and templates are append-only.
    expect(unindexed.map((row) => row.constraint_name)).toEqual([
      'certificates_credential_kid_fkey',
      'certificates_open_badge_kid_fkey',
      'certificates_template_id_fkey',
    ]);
    // And the delivery run's check of an endpoint's recent successes reads its recent deliveries.
    const [recent] = await t.sql<{ found: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = 'webhook_deliveries'
        AND indexdef LIKE '%(endpoint_id, last_attempt_at)%') AS found`;
    expect(recent?.found).toBe(true);
  });

  it('allows one live certificate per student and course', async () => {
    const [course] = await t.sql`INSERT INTO courses (title) VALUES ('Uniq') RETURNING id`;
    const student = '11111111-1111-4111-8111-111111111111';
    const attempts = await t.sql`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed)
      VALUES (${student}, ${course?.id}, 80, 100, true), (${student}, ${course?.id}, 95, 100, true) RETURNING id`;
    await t.sql`INSERT INTO certificates (student_id, course_id, test_attempt_id) VALUES (${student}, ${course?.id}, ${attempts[0]?.id})`;
    await expect(
      t.sql`INSERT INTO certificates (student_id, course_id, test_attempt_id) VALUES (${student}, ${course?.id}, ${attempts[1]?.id})`,
    ).rejects.toThrow(/certificates_one_live_per_student_course/);
  });
});
