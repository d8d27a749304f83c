import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countWaiting } from '../../lib/certificates/backfill.ts';
import { requeueDeadCertificates } from '../../lib/certificates/requeue.ts';
import type { Sql } from '../../lib/db/client.ts';
import { claimDue } from '../../lib/webhooks/delivery.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';

// The queries that count or list unfinished certificates run against a table that is nearly all
// issued certificates: they must reach the few unfinished ones through an index, not a scan of
// the whole table. Checked on the planner's own choice, with statistics of a table shaped like
// production (a few dozen unfinished among tens of thousands issued), not by disabling scans.

const ISSUED = 20_000;
const UNFINISHED = { pending: 20, rendering: 20, failed: 20 };
const DEAD = 20;

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv();
  await t.sql`INSERT INTO courses (title) SELECT 'Plan ' || g FROM generate_series(1, 20) g`;
  await t.sql`
    WITH course AS (SELECT array_agg(id) AS ids FROM courses),
    attempt AS (
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at, certificate_enqueued_at)
      SELECT gen_random_uuid(), (SELECT ids[1 + g % 20] FROM course), 90, 100, true,
             now() - g * interval '1 minute', now()
      FROM generate_series(1, ${ISSUED}) g
      RETURNING id, student_id, course_id
    )
    INSERT INTO certificates (student_id, course_id, test_attempt_id, status, s3_key, generated_at, pdf_sha256)
    SELECT student_id, course_id, id, 'issued', 'certificates/' || id, now(), repeat('a', 64) FROM attempt`;
  let offset = 0;
  for (const [status, count] of Object.entries(UNFINISHED)) {
    await t.sql`
      UPDATE certificates SET status = ${status}::certificate_status,
        lease_owner = CASE WHEN ${status} = 'rendering' THEN 'worker' END,
        lease_expires_at = CASE WHEN ${status} = 'rendering' THEN now() + interval '3 minutes' END
      WHERE id IN (SELECT id FROM certificates ORDER BY id OFFSET ${offset} LIMIT ${count})`;
    offset += count;
  }
  await t.sql`
    UPDATE certificates SET status = 'dead', updated_at = now() - interval '1 hour'
    WHERE id IN (SELECT id FROM certificates ORDER BY id OFFSET ${offset} LIMIT ${DEAD})`;
  await t.sql`ANALYZE certificates`;
  await t.sql`ANALYZE test_attempts`;
  await t.sql`ANALYZE courses`;
});
afterAll(async () => {
  await t.cleanup();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  /** EXPLAIN ANALYZE only: rows each loop returned, and how many loops ran. */
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** How the plan reads `certificates`: one entry per node that touches it. */
function certificateAccess(plan: PlanNode): string[] {
  return nodes(plan)
    .filter((node) => node['Relation Name'] === 'certificates')
    .map((node) => `${node['Node Type']}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}`);
}

async function planOf(query: string, values: unknown[] = []): Promise<PlanNode> {
  const [row] = await t.sql.unsafe<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>(
    `EXPLAIN (FORMAT JSON) ${query}`,
    values as never[],
  );
  const plan = row?.['QUERY PLAN'][0]?.Plan;
  if (!plan) throw new Error(`no plan for ${query}`);
  return plan;
}

/**
 * Runs `use` against a stand-in for the database that explains each statement instead of
 * running it: the plan of the query the code really sends.
 */
async function plansOf(use: (sql: Sql) => Promise<unknown>): Promise<PlanNode[]> {
  const plans: PlanNode[] = [];
  const explaining = async (strings: TemplateStringsArray, ...values: unknown[]) => {
    const query = strings.reduce((text, part, index) => `${text}$${index}${part}`);
    plans.push(await planOf(query, values));
    return [];
  };
  await use(explaining as unknown as Sql);
  return plans;
}

describe('query plans on a production-shaped certificates table', () => {
  it('the backfill counts waiting certificates through the unfinished-certificates index', async () => {
    expect(await countWaiting(t.sql)).toBe(UNFINISHED.pending + UNFINISHED.rendering + UNFINISHED.failed);
    const plans = await plansOf((sql) => countWaiting(sql));
    expect(plans).toHaveLength(1);
    const access = certificateAccess(plans[0] as PlanNode);
    expect(access.length).toBeGreaterThan(0);
    for (const node of access) expect(node).toMatch(/ using certificates_unfinished_idx$/);
  });

  it("the guide's get_certificates_pending_generation() finds certificates through the same index", async () => {
    const rows = await t.sql<{ status: string }[]>`SELECT status FROM get_certificates_pending_generation()`;
    expect(rows).toHaveLength(UNFINISHED.pending + UNFINISHED.rendering + UNFINISHED.failed);
    const access = certificateAccess(await planOf('SELECT * FROM get_certificates_pending_generation()'));
    expect(access.length).toBeGreaterThan(0);
    for (const node of access) expect(node).toMatch(/ using certificates_unfinished_idx$/);
  });

  it('the bulk requeue finds dead certificates through the dead-certificates index', async () => {
    const dryRun = await requeueDeadCertificates(t.sql, { dryRun: true, requestedBy: 'plan' });
    expect(dryRun).toMatchObject({ count: DEAD, remaining: 0 });
    // Its selection, as requeueDeadCertificates sends it (all courses, since an instant).
    const access = certificateAccess(
      await planOf(
        `SELECT id FROM certificates
         WHERE status = 'dead' AND ($1::uuid IS NULL OR course_id = $1::uuid)
           AND ($2::timestamptz IS NULL OR updated_at >= $2::timestamptz)
         ORDER BY updated_at, id LIMIT 1000`,
        [null, '2026-01-01T00:00:00Z'],
      ),
    );
    expect(access.length).toBeGreaterThan(0);
    for (const node of access) expect(node).toMatch(/ using certificates_dead_idx$/);
  });
});

describe('query plans of the webhook delivery worker', () => {
  const BACKLOG = 30_000;
  const BATCH = 100;

  it("the claim reads each endpoint's oldest due deliveries, not a whole backlog", async () => {
    // One receiver down for a day (30,000 due), four healthy ones with a few each, none throttled.
    const endpoints = await t.sql<{ id: string }[]>`
      INSERT INTO webhook_endpoints (url, event_types, secret)
      SELECT 'https://hooks.example.org/' || g, ARRAY['certificate.issued'], 'whsec_plan'
      FROM generate_series(1, 5) g RETURNING id`;
    const ids = endpoints.map((endpoint) => endpoint.id);
    const [backlogged] = ids;
    if (!backlogged) throw new Error('no endpoint inserted');
    await t.sql`
      WITH event AS (
        INSERT INTO webhook_outbox (event_type, certificate_id, data, fanned_out_at)
        SELECT 'certificate.issued', gen_random_uuid(), '{}', now() FROM generate_series(1, ${BACKLOG}) g
        RETURNING id
      ), numbered AS (SELECT id, row_number() OVER () AS n FROM event)
      INSERT INTO webhook_deliveries (endpoint_id, event_id, next_attempt_at)
      SELECT CASE WHEN n <= ${BACKLOG - 40} THEN ${backlogged}::uuid
                  ELSE (${ids}::uuid[])[2 + n % 4] END,
             id, now() - n * interval '1 second'
      FROM numbered`;
    await t.sql`ANALYZE webhook_endpoints`;
    await t.sql`ANALYZE webhook_deliveries`;

    // The claim as the worker sends it, run and measured (EXPLAIN ANALYZE), then rolled back.
    const plans: PlanNode[] = [];
    const rollback = new Error('rollback');
    await t.sql
      .begin(async (tx) => {
        const analyzing = async (strings: TemplateStringsArray, ...values: unknown[]) => {
          const query = strings.reduce((text, part, index) => `${text}$${index}${part}`);
          const [row] = await tx.unsafe<{ 'QUERY PLAN': { Plan: PlanNode }[] }[]>(
            `EXPLAIN (ANALYZE, FORMAT JSON) ${query}`,
            values as never[],
          );
          const plan = row?.['QUERY PLAN'][0]?.Plan;
          if (plan) plans.push(plan);
          return [];
        };
        await claimDue(
          { sql: analyzing as unknown as Sql, now: () => new Date() },
          {
            batchSize: BATCH,
            concurrency: 8,
            timeoutMs: 15_000,
          },
          [],
        );
        throw rollback;
      })
      .catch((error: unknown) => {
        if (error !== rollback) throw error;
      });
    expect(plans).toHaveLength(1);
    const reads = nodes(plans[0] as PlanNode).filter(
      (node) => node['Relation Name'] === 'webhook_deliveries' && node['Node Type'] !== 'ModifyTable',
    );
    expect(reads.map((node) => node['Index Name'])).toContain('webhook_deliveries_endpoint_due_idx');
    // It claimed a batch (the plan ran), reading rows in proportion to the batch: a batch from
    // each endpoint at most, the candidates again by id to lock them, the claimed ones to update;
    // not the 30,000 of the backlog, nor the whole table.
    const claimed = (plans[0] as PlanNode)['Actual Rows'] ?? 0;
    expect(claimed).toBe(BATCH);
    const read = reads.reduce(
      (sum, node) => sum + (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 0),
      0,
    );
    expect(read).toBeLessThanOrEqual(4 * (BATCH + 40));
  });
});
