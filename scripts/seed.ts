import { ConfigError, loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { migrateUp } from '../lib/db/migrate.ts';
import { seedDemoData } from '../localstack/embedded/seed.ts';
import { cliArgs } from './cli-args.ts';

// `npm run seed`: applies migrations, then inserts the demo courses and attempts into
// DATABASE_URL. Idempotent: a second run inserts nothing. `npm start` does this by itself.
const USAGE =
  'usage: npm run seed [-- --yes]   (demo courses and attempts into DATABASE_URL; a database on another host than this one needs --yes)';
const { values } = cliArgs(USAGE, { yes: { type: 'boolean', default: false } });
let config: ReturnType<typeof loadConfig<'db'>>;
try {
  config = loadConfig(['db']);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`Cannot seed: ${error.message}\n`);
  process.exit(1);
}
// Demo data is for a database on this machine; anywhere else it is asked for by name.
const host = new URL(config.db.DATABASE_URL).hostname.replace(/^\[|\]$/g, '');
if (!['localhost', '127.0.0.1', '::1', ''].includes(host) && !values.yes) {
  process.stderr.write(
    `Not seeding ${host}: demo data goes into a database on this machine; add --yes if you mean it.\n`,
  );
  process.exit(2);
}
await migrateUp(config.db, undefined, { onRetry: (message) => console.error(message) });
const sql = createSql(config.db, { applicationName: 'course-certificates-seed' });
try {
  const result = await seedDemoData(sql);
  console.log(
    `Demo data: ${result.courses} courses (${result.coursesInserted} new), ` +
      `${result.attempts} attempts (${result.attemptsInserted} new; ${result.passing} passing, ${result.failing} failing).`,
  );
} finally {
  await sql.end({ timeout: 5 });
}
