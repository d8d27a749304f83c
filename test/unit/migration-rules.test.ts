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

// README, "Upgrading and rolling back": code from before a migration runs on it during every
// upgrade (between `npm run migrate` and the deploy) and after a rollback. Each migration is
// judged for that: the README's table names those earlier code gets wrong, with the check to
// make before rolling back across them; the rest are here, with why earlier code is unaffected.
const EARLIER_CODE_RUNS_ON_IT: Record<string, string> = {
  '1732400000000_initial-schema': 'no earlier code',
  '1732410000000_scan-summary-index': 'an index',
  '1732490000000_dispatch-budget-index': 'an index',
  '1732500000000_lifecycle':
    'its inserts still match the partial unique index; the status entries it lacks are backfilled later',
  '1732600000000_issuer-keys': 'nullable columns and a table it ignores',
  '1732600000000_webhooks':
    'the trigger writes the outbox in its transactions; deliveries wait for the newer code',
  '1732700000000_analytics': 'a new table',
  '1732900000000_course-lifecycle-log': 'a new table',
  '1733100000000_pipeline-audit-fixes': 'a default, an index and a widened view it does not read',
  '1733200000000_dead-certificates': 'an index',
  '1733400000000_view-effective-status': 'a view column it does not read',
  '1733700000000_later-pass-notify-upgrade': 'a data update',
  '1733800000000_certificate-templates-append-only': 'it only inserts templates',
  '1734000000000_webhook-fair-claim': 'an index',
  '1734100000000_certificate-achievement-snapshot':
    'a nullable column; what it issues is kept by 1734600000000',
  '1734200000000_status-list-hot-updates': 'an index swapped for another',
  '1734300000000_webhook-delivery-indexes': 'indexes',
  '1734400000000_scan-runs': 'its scan markers go to the log again; only its first summary line is off',
  '1734600000000_achievement-for-earlier-certificates': 'a trigger on course changes',
  '1734800000000_open-badge-kid':
    "a nullable column it does not write: its PDFs' Open Badges credentials are signed by credential_kid's key",
  '1734900000000_later-pass-actor':
    'a nullable column it does not write: its later passes waiting in-progress are decided again by the scan, as before',
  '1735000000000_webhook-endpoint-throttle':
    'a nullable column it does not read: its throttles last one run, as before; one it leaves set has passed by the time the newer code reads it, which then probes that endpoint once',
  '1735100000000_unscanned-passes-by-course-index': 'an index',
  '1735200000000_attempt-score-erasable':
    "a column made nullable, NULL only on the attempts behind tombstones, which it never claims or decides; its staff reads of a tombstone show no score, and an erasure it makes keeps the attempt's (the newer code's reads show none)",
  '1735300000000_erased-attempt-scores':
    'a data update of the attempts behind tombstones, and a check its writes meet: it reads their scores only for staff reads of a tombstone, which then show none',
  '1734700000000_issuer-key-per-algorithm':
    'registering a new facts key, it retires the RS256 key too, which the newer code makes current again when it loads it; its key set publishes the RS256 keys, which its checks skip',
};

describe('rolling back', () => {
  const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Upgrading and rolling back'));
  const table = section.slice(0, section.indexOf('\n## '));
  const named = new Set([...table.matchAll(/^\| `(\d{13}_[\w-]+)`/gm)].map((m) => m[1] ?? ''));

  it("judges every migration: named in the README's table of those earlier code gets wrong, or listed here", () => {
    const migrations = readdirSync(MIGRATIONS)
      .filter((file) => file.endsWith('.sql'))
      .map((file) => file.replace(/\.sql$/, ''));
    const unjudged = migrations.filter((name) => !named.has(name) && !(name in EARLIER_CODE_RUNS_ON_IT));
    expect(unjudged).toEqual([]);
    expect([...named].filter((name) => name in EARLIER_CODE_RUNS_ON_IT)).toEqual([]);
    // Both lists name real migrations (a renamed file must not leave its judgement behind).
    expect(
      [...named, ...Object.keys(EARLIER_CODE_RUNS_ON_IT)].filter((name) => !migrations.includes(name)),
    ).toEqual([]);
    expect(named.size).toBeGreaterThan(0);
  });
});
