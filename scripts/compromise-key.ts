import {
  CurrentKeyError,
  compromiseIssuerKey,
  type KeyCompromiseReport,
} from '../lib/certificates/key-compromise.ts';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { thumbprintOfKid } from '../lib/credentials/jwks.ts';
import { keyState, markKeyCompromised } from '../lib/credentials/key-store.ts';
import { createSql } from '../lib/db/client.ts';
import { NotFoundError } from '../lib/errors.ts';
import { logger } from '../lib/observability/logger.ts';
import { CONFIRM_OPTIONS, cliArgs, dryRunOrConfirmed, usageError } from './cli-args.ts';

// `npm run compromise-key -- --kid <kid> --actor <text> [--dry-run] [--yes]`: after an issuer key
// leaks, and after the secret holds a new key (README, "Rotation"), marks the key compromised in
// DATABASE_URL and queues a replacement of every certificate it signed that is still issued and
// not expired (lib/certificates/key-compromise.ts). The scan hands the replacements to generate,
// which signs them with the current key; each original is superseded when its replacement is
// issued. Waits first for the renders in flight when the key was marked (at most LEASE_SECONDS).
// --dry-run changes nothing and counts. Running it again is safe.

const USAGE =
  'usage: npm run compromise-key -- --kid <kid> --actor <text> [--dry-run] [--yes] [--current]   (--kid: as in the JWK Set; --yes: really mark it; --actor: who, e.g. incident-<ticket>; --current: the key is the one signing now, mark it anyway)';

const { values } = cliArgs(USAGE, {
  kid: { type: 'string' },
  actor: { type: 'string' },
  current: { type: 'boolean', default: false },
  ...CONFIRM_OPTIONS,
});
if (!values.kid || !values.actor?.trim()) usageError('--kid and --actor are required', USAGE);
// A key id is its RFC 7638 thumbprint, base64url, or the key's URL `.../keys/{thumbprint}`, the
// kid the JWK Set lists the credentials key under first: anything else names no key of this issuer.
const kid = thumbprintOfKid(values.kid);
if (!/^[A-Za-z0-9_-]{1,128}$/.test(kid))
  usageError(
    '--kid must be a key id as the JWK Set lists it (its thumbprint, or its .../keys/<thumbprint> URL)',
    USAGE,
  );
const dryRun = dryRunOrConfirmed(
  values,
  'Not marking: a compromised key cannot be made current again, and every certificate it signed is reissued.',
);
const actor = values.actor.trim();

let config: ReturnType<typeof loadConfig<'db'>>;
try {
  config = loadConfig(['db']);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`Cannot mark the key: ${error.message}\n`);
  process.exit(1);
}
// One statement replaces up to 500 certificates: more than the functions' short statements.
const sql = createSql(
  { ...config.db, DB_STATEMENT_TIMEOUT_MS: Math.max(config.db.DB_STATEMENT_TIMEOUT_MS, 300_000) },
  { applicationName: 'certificates-compromise-key' },
);
logger.setLogLevel('WARN');

function print(report: KeyCompromiseReport): void {
  const verb = dryRun ? 'would be' : 'were';
  console.log(
    dryRun
      ? `Key ${kid} (now ${report.previousState}): dry run, nothing was changed.`
      : `Key ${kid} is marked compromised (it was ${report.previousState}).`,
  );
  if (!dryRun) console.log(`  renders in flight when it was marked, waited for: ${report.rendersWaitedFor}`);
  console.log(`  replacements that ${verb} queued: ${report.replacementsQueued}`);
  console.log(
    `  issued certificates signed with it that already had a replacement: ${report.alreadyReplacing}`,
  );
  const dead = report.deadReplacements;
  if (dead.length > 0)
    console.log(
      `  of which failed for good (dead), so their holders keep what the key signed until each is requeued once its cause is fixed (POST /api/v1/certificates/{id}/requeue): ${dead.length}\n${dead.map((id) => `    ${id}`).join('\n')}`,
    );
  console.log(
    `  expired certificates signed with it, left as they are (a reissue keeps the expiry): ${report.expiredLeft}`,
  );
  if (report.previousState === 'current' && dryRun)
    console.log(
      'It is the current signing key: put a new key in the secret first (README, "Rotation"); marking it as it is needs --current, and stops issuing until then.',
    );
  if (report.previousState === 'current' && !dryRun)
    console.log(
      'It was the current key: no certificate is issued until the secret holds a new one (README, "Rotation").',
    );
  if (!dryRun && report.replacementsQueued > 0)
    console.log(
      'The scan hands the replacements to generate at its budget; each original is superseded when its replacement is issued.',
    );
}

// Any other failure escapes to cliArgs: one line, `npm run compromise-key: <reason>`. Running it
// again is safe: it marks the key if not yet, and queues what is not queued.
try {
  const onWait = (renders: number) =>
    console.log(`Waiting for ${renders} render(s) in flight to settle (at most until their lease ends)...`);
  print(
    await compromiseIssuerKey(
      {
        sql,
        log: logger,
        keys: { state: (id) => keyState(sql, id), markCompromised: (id) => markKeyCompromised(sql, id) },
        onWait,
      },
      { kid, actor, dryRun, allowCurrent: values.current },
    ),
  );
} catch (error) {
  if (error instanceof CurrentKeyError) process.stderr.write(`Not marking: ${error.message}.\n`);
  else if (error instanceof NotFoundError)
    process.stderr.write(
      `No key ${kid} in this database: it has signed nothing here (the JWK Set lists the keys that have).\n`,
    );
  else throw error;
  process.exitCode = 1;
} finally {
  await sql.end({ timeout: 5 });
}
