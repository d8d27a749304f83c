import { backfillIssueLifecycle } from '../lib/certificates/lifecycle.ts';
import { loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { migrateUp } from '../lib/db/migrate.ts';
import { cliArgs } from './cli-args.ts';

// `npm run migrate`: applies pending migrations to DATABASE_URL.
cliArgs('usage: npm run migrate   (applies pending migrations to DATABASE_URL)', {});
const config = loadConfig(['db']);
const ran = await migrateUp(config.db, undefined, { onRetry: (message) => console.error(message) });
console.log(
  ran.length === 0 ? 'Database is up to date.' : `Applied ${ran.length} migration(s): ${ran.join(', ')}`,
);

// Then the one data step the lifecycle schema needs: certificates issued before status lists
// existed get their random status-list entry (and an expiry, if their course has a validity
// period). Generate gives every certificate it renders its entry, so once this has run nothing
// is missing: a one-off here, rather than a query in every scan tick.
const sql = createSql(config.db, { applicationName: 'certificates-migrate' });
try {
  let assigned = 0;
  for (;;) {
    const batch = await backfillIssueLifecycle(sql, 500);
    assigned += batch;
    if (batch === 0) break;
  }
  if (assigned > 0) console.log(`Gave ${assigned} issued certificate(s) their status-list entry.`);
} finally {
  await sql.end();
}
