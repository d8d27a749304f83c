import { ConfigError, loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { migrateUp } from '../lib/db/migrate.ts';
import { seedDemoData } from '../localstack/embedded/seed.ts';

// `npm run seed`: applies migrations, then inserts the demo courses and attempts into
// DATABASE_URL. Idempotent: a second run inserts nothing. `npm start` does this by itself.
let config: ReturnType<typeof loadConfig<'db'>>;
try {
  config = loadConfig(['db']);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`Cannot seed: ${error.message}\n`);
  process.exit(1);
}
await migrateUp(config.db.DATABASE_URL);
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
