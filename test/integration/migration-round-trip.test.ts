import { describe, expect, it } from 'vitest';
import type { Sql } from '../../lib/db/client.ts';
import { ownDatabaseAcross } from '../support/migrations.ts';

// Every migration's down section, run in order from the newest to the first, leaves an empty
// schema, and applying them all again gives the schema a fresh database gets. Production never
// runs down sections (README, "Upgrading and rolling back"), but a rollback of the last few, a
// test of an upgrade, or a developer resetting a database does: one that fails halfway leaves the
// chain stuck there.

const own = ownDatabaseAcross(1732400000000);

/** Tables, columns, indexes, views, types and functions of the public schema, as text. */
async function schema(sql: Sql): Promise<string[]> {
  const rows = await sql<{ item: string }[]>`
    SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
           || coalesce(' default ' || column_default, '') AS item
    FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'pgmigrations'
    UNION ALL
    SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'pgmigrations'
    UNION ALL
    SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid <> 0
      AND conrelid <> 'pgmigrations'::regclass
    UNION ALL
    SELECT 'type ' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
    WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname
    UNION ALL
    SELECT 'function ' || p.proname || '(' || pg_get_function_arguments(p.oid) || ')'
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace`;
  return rows.map((row) => row.item).sort();
}

describe('the migrations, down to nothing and up again', () => {
  it('every down section runs, the schema is left empty, and up again rebuilds it exactly', async () => {
    const fresh = await schema(own.sql);
    expect(fresh.some((item) => item.startsWith('view certificate_b '))).toBe(true);

    await own.migrate('down');
    expect(await schema(own.sql)).toEqual([]);
    const [{ applied = -1 } = {}] = await own.sql<{ applied: number }[]>`
      SELECT count(*)::int AS applied FROM pgmigrations`;
    expect(applied).toBe(0);

    await own.migrate('up');
    expect(await schema(own.sql)).toEqual(fresh);
  });
});
