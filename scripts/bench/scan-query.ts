import { claimDueForDispatch, enqueuePassingAttempts } from '../../lib/certificates/scan.ts';
import type { Sql } from '../../lib/db/client.ts';
import { type LatencySummary, round, summarize, timed } from './stats.ts';

export interface ScanQueryBench {
  attempts: number;
  certificates: number;
  generateSeconds: number;
  enqueue: LatencySummary;
  claim: LatencySummary;
  total: LatencySummary;
}

/**
 * (d) The scan's two statements on a large history: `rows` passing attempts that all have an
 * issued certificate (generated inside PostgreSQL), then repeated ticks each finding a small
 * batch of new passing attempts (`newPerTick`) and claiming them.
 */
export async function benchScanQuery(
  sql: Sql,
  options: { rows: number; ticks: number; newPerTick: number },
): Promise<ScanQueryBench> {
  const generation = await timed(async () => {
    await sql`INSERT INTO courses (title) SELECT 'Scan bench course ' || g FROM generate_series(1, 200) g`;
    await sql`
      CREATE TEMP TABLE bench_courses AS
      SELECT row_number() OVER () AS n, id FROM courses WHERE title LIKE 'Scan bench course %'`;
    await sql`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at, certificate_enqueued_at)
      SELECT gen_random_uuid(), c.id, 90, 100, true, now() - make_interval(mins => g), now() - make_interval(mins => g)
      FROM generate_series(1, ${options.rows}) g
      JOIN bench_courses c ON c.n = 1 + (g % 200)`;
    await sql`
      INSERT INTO certificates (student_id, course_id, test_attempt_id, status, s3_key, pdf_sha256, generated_at,
                                student_name, course_name, score, max_score, percentage, issued_on, next_attempt_at)
      SELECT a.student_id, a.course_id, a.id, 'issued', 'certificates/' || a.course_id || '/' || a.student_id || '/' || a.id || '.pdf',
             repeat('0', 64), a.completed_at, 'Bench', 'Bench', 90, 100, 90, a.completed_at::date, a.completed_at
      FROM test_attempts a JOIN bench_courses c ON c.id = a.course_id`;
    await sql`ANALYZE`;
  });

  const enqueue: number[] = [];
  const claim: number[] = [];
  const total: number[] = [];
  for (let tick = 0; tick < options.ticks; tick += 1) {
    await sql`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed)
      SELECT gen_random_uuid(), (SELECT id FROM bench_courses WHERE n = 1), 95, 100, true
      FROM generate_series(1, ${options.newPerTick})`;
    const e = await timed(() => enqueuePassingAttempts(sql, 1000));
    const c = await timed(() => claimDueForDispatch(sql, 100, 300));
    if (c.value.length !== options.newPerTick)
      throw new Error(`scan claimed ${c.value.length}, expected ${options.newPerTick}`);
    // Mark them issued so the next tick sees the same shape of table.
    await sql`UPDATE certificates SET dispatched_until = NULL, status = 'issued', s3_key = 'certificates/x/' || id || '.pdf',
              pdf_sha256 = repeat('0', 64), generated_at = now() WHERE id = ANY(${c.value}::uuid[])`;
    enqueue.push(e.ms);
    claim.push(c.ms);
    total.push(e.ms + c.ms);
  }
  const [counts] = await sql<{ attempts: number; certificates: number }[]>`
    SELECT (SELECT count(*) FROM test_attempts)::int AS attempts, (SELECT count(*) FROM certificates)::int AS certificates`;
  return {
    attempts: counts?.attempts ?? 0,
    certificates: counts?.certificates ?? 0,
    generateSeconds: round(generation.ms / 1000),
    enqueue: summarize(enqueue),
    claim: summarize(claim),
    total: summarize(total),
  };
}
