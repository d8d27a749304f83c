import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
