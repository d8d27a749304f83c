import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddressGuard } from '../../lib/webhooks/address-guard.ts';
import { fanOut } from '../../lib/webhooks/delivery.ts';
import { createEndpoint } from '../../lib/webhooks/endpoints.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';

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
