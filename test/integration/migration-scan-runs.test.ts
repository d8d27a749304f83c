import { describe, expect, it } from 'vitest';
import { summariseSinceLastScan } from '../../lib/certificates/scan.ts';
import { ownDatabaseAcross } from '../support/migrations.ts';

// An upgrade from before scan_runs: the scan's markers leave the audit log (where they hid the
// guide's generation history); the week of them the scan keeps moves, so the next summary counts
// from the last tick before the upgrade. Down puts them back where the older version reads them.

const own = ownDatabaseAcross(1734400000000);
const { migrate } = own;

describe('upgrading to scan_runs', () => {
  it("moves the week's markers out of the audit log, counts from the last one, and moves them back on the way down", async () => {
    await migrate('down');
    const marker = (ago: string, generated: number) => own.sql`
      INSERT INTO certificate_generation_log (event, message, details, created_at)
      VALUES ('scan', 'scan completed', ${own.sql.json({ generated })}::jsonb, now() - ${ago}::interval)`;
    await marker('8 days', 1);
    await marker('2 hours', 2);
    await marker('30 minutes', 3);
    // An outcome before the last marker (already counted by that tick) and one after it.
    await own.sql`INSERT INTO certificate_generation_log (event, created_at) VALUES ('issued', now() - interval '40 minutes')`;
    await own.sql`INSERT INTO certificate_generation_log (event, created_at) VALUES ('issued', now() - interval '10 minutes')`;

    await migrate('up');

    const runs = await own.sql<{ generated: number }[]>`
      SELECT (details->>'generated')::int AS generated FROM scan_runs ORDER BY created_at`;
    expect(runs.map((run) => run.generated)).toEqual([2, 3]);
    const [left] = await own.sql<{ markers: number; outcomes: number }[]>`
      SELECT count(*) FILTER (WHERE event = 'scan')::int AS markers,
             count(*) FILTER (WHERE event = 'issued')::int AS outcomes
      FROM certificate_generation_log`;
    expect(left).toEqual({ markers: 0, outcomes: 2 });
    expect((await summariseSinceLastScan(own.sql, {})).generated).toBe(1);

    await migrate('down');
    const [back] = await own.sql<{ markers: number }[]>`
      SELECT count(*)::int AS markers FROM certificate_generation_log
      WHERE event = 'scan' AND certificate_id IS NULL AND message = 'scan completed'`;
    // The two kept, and the one this test's summary wrote after the upgrade.
    expect(back?.markers).toBe(3);
    await migrate('up');
  });
});
