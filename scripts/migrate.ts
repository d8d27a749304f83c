import { loadConfig } from '../lib/config.ts';
import { migrateUp } from '../lib/db/migrate.ts';

// `npm run migrate`: applies pending migrations to DATABASE_URL.
const config = loadConfig(['db']);
const ran = await migrateUp(config.db.DATABASE_URL);
console.log(
  ran.length === 0 ? 'Database is up to date.' : `Applied ${ran.length} migration(s): ${ran.join(', ')}`,
);
