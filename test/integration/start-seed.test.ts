import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_STUDENTS } from '../../localstack/embedded/demo-data.ts';
import { DEMO_ATTEMPTS, DEMO_COURSES, seedDemoData } from '../../localstack/embedded/seed.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';

let testEnv: TestEnv;
beforeAll(async () => {
  testEnv = await createTestEnv();
});
afterAll(async () => {
  await testEnv.cleanup();
});

describe('demo seed (npm start, npm run seed)', () => {
  it('inserts courses in several locales and passing and failing attempts of the stand-in students', async () => {
    const first = await seedDemoData(testEnv.sql);
    expect(first).toEqual({
      coursesInserted: DEMO_COURSES.length,
      attemptsInserted: DEMO_ATTEMPTS.length,
      courses: DEMO_COURSES.length,
      attempts: DEMO_ATTEMPTS.length,
      passing: 12,
      failing: 4,
      // Over a year old: npm start leaves these to the backfill (SCAN_NOT_BEFORE).
      pastPasses: 5,
    });
    const locales = await testEnv.sql<
      { locale: string }[]
    >`SELECT DISTINCT locale FROM courses ORDER BY locale`;
    expect(locales.map((row) => row.locale)).toEqual(['ar', 'en', 'es', 'ru', 'zh']);

    const attempts = await testEnv.sql<
      { student_id: string; passed: boolean; percentage: string; pass: string }[]
    >`
      SELECT a.student_id, a.passed, (a.score / a.max_score * 100)::numeric(6, 2)::text AS percentage,
             c.pass_percentage::text AS pass
      FROM test_attempts a JOIN courses c ON c.id = a.course_id`;
    expect(attempts).toHaveLength(DEMO_ATTEMPTS.length);
    // `passed` agrees with each course's threshold, and every student is one the stand-in knows.
    for (const attempt of attempts) {
      expect(attempt.passed).toBe(Number(attempt.percentage) >= Number(attempt.pass));
    }
    const known = new Set(DEMO_STUDENTS.map((student) => student.id));
    expect(attempts.every((attempt) => known.has(attempt.student_id))).toBe(true);
    expect(new Set(attempts.map((attempt) => attempt.student_id)).size).toBe(DEMO_STUDENTS.length);

    // Without a SCAN_NOT_BEFORE the scan sees every passing one as pending work.
    const pending = await testEnv.sql`SELECT * FROM get_certificates_pending_generation()`;
    expect(pending).toHaveLength(12);
  });

  it('is idempotent and leaves rows the pipeline changed alone', async () => {
    await testEnv.sql`UPDATE test_attempts SET certificate_enqueued_at = now() WHERE external_ref = 'demo:ada:ts-101:1'`;
    await testEnv.sql`UPDATE courses SET title = 'Renamed by an operator' WHERE code = 'DEMO-TS-101'`;

    const again = await seedDemoData(testEnv.sql);
    expect(again.coursesInserted).toBe(0);
    expect(again.attemptsInserted).toBe(0);

    const [counts] = await testEnv.sql<{ courses: number; attempts: number }[]>`
      SELECT (SELECT count(*)::int FROM courses) AS courses, (SELECT count(*)::int FROM test_attempts) AS attempts`;
    expect(counts).toEqual({ courses: DEMO_COURSES.length, attempts: DEMO_ATTEMPTS.length });
    const [ada] = await testEnv.sql<{ enqueued: boolean }[]>`
      SELECT certificate_enqueued_at IS NOT NULL AS enqueued FROM test_attempts WHERE external_ref = 'demo:ada:ts-101:1'`;
    expect(ada?.enqueued).toBe(true);
    const [course] = await testEnv.sql<
      { title: string }[]
    >`SELECT title FROM courses WHERE code = 'DEMO-TS-101'`;
    expect(course?.title).toBe('Renamed by an operator');
  });
});
