import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// README, "Database": a migration runs in one transaction, so an index built in the migration
// that ALTERs its table is built under the ALTER's ACCESS EXCLUSIVE lock, and every read of the
// table waits for the whole build (1.4 s per 500,000 certificates, measured). The ALTER goes in
// one migration, the index in the next. Migrations applied before the rule stay as they are
// (never edit an applied one).

const MIGRATIONS = join(import.meta.dirname, '../../lib/db/migrations');
/** The last migration written before the rule; later ones are held to it. */
const BEFORE_THE_RULE = '1734300000000';

/** The Up section, without comments. */
function upSql(file: string): string {
  const text = readFileSync(join(MIGRATIONS, file), 'utf8');
  const up = text.split(/^\s*--\s*Down Migration/im)[0] ?? '';
  return up.replace(/--.*$/gm, '');
}

/** Tables an SQL text ALTERs, and tables it builds an index on (not CONCURRENTLY). */
function lockedIndexBuilds(sql: string): string[] {
  const altered = new Set(
    [...sql.matchAll(/ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?([\w.]+)/gi)].map((m) =>
      m[1]?.toLowerCase(),
    ),
  );
  const indexed = [
    ...sql.matchAll(/CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)[\s\S]*?\bON\s+(?:ONLY\s+)?([\w.]+)/gi),
  ].map((m) => m[1]?.toLowerCase() ?? '');
  return indexed.filter((table) => altered.has(table));
}

describe('migrations', () => {
  it('the rule sees an index built with its ALTER, and not one built alone', () => {
    expect(
      lockedIndexBuilds('ALTER TABLE certificates ADD COLUMN x int;\nCREATE INDEX c_x ON certificates (x);'),
    ).toEqual(['certificates']);
    expect(lockedIndexBuilds('CREATE UNIQUE INDEX c_x ON certificates (x) WHERE x IS NOT NULL;')).toEqual([]);
    expect(
      lockedIndexBuilds('ALTER TABLE courses ADD COLUMN y int;\nCREATE INDEX c_x ON certificates (x);'),
    ).toEqual([]);
  });

  it('none written after the rule builds an index on a table it also ALTERs', () => {
    const later = readdirSync(MIGRATIONS).filter((file) => file.endsWith('.sql') && file > BEFORE_THE_RULE);
    const offending = later.flatMap((file) =>
      lockedIndexBuilds(upSql(file)).map((table) => `${file}: ${table}`),
    );
    expect(offending).toEqual([]);
  });

  it('one written before the rule shows what it catches', () => {
    expect(lockedIndexBuilds(upSql('1733900000000_replacement-on-issue.sql'))).toContain('certificates');
  });
});
