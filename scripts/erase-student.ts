import {
  type ErasureReport,
  eraseStudent,
  type FileErasureReport,
  purgeStudentFiles,
} from '../lib/certificates/erasure.ts';
import { isUuid } from '../lib/certificates/ids.ts';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { errorMessage } from '../lib/errors.ts';
import { logger } from '../lib/observability/logger.ts';
import { createCertificateFileEraser, createS3Client } from '../lib/storage/s3.ts';
import { CONFIRM_OPTIONS, cliArgs, dryRunOrConfirmed, usageError } from './cli-args.ts';
import { useLocalStandInCredentials } from './local-s3.ts';

// `npm run erase-student -- --student <uuid> --actor <text> [--dry-run] [--yes]`: erases one
// student's personal data (lib/certificates/erasure.ts) from DATABASE_URL, then, after the commit
// so that no upload can follow, every version of their files from S3_BUCKET. Published
// certificates stay as tombstones (code, course, dates, status: revoked, requested-by-holder).
// --dry-run runs the database part and rolls it back, and only lists the files. Running it again
// is safe: the database has nothing left, and the files of an interrupted run are found again.
//
// Before: disable the user in Keycloak and stop the LMS posting attempts for them (a new attempt
// would become a new certificate). Needs s3:ListBucket, s3:ListBucketVersions, s3:DeleteObject and
// s3:DeleteObjectVersion on the bucket: no role of the stack has them.

const USAGE =
  'usage: npm run erase-student -- --student <uuid> --actor <text> [--dry-run] [--yes]   (--yes: really erase; --actor: who, e.g. erasure-<ticket>)';

const { values } = cliArgs(USAGE, {
  student: { type: 'string' },
  actor: { type: 'string' },
  ...CONFIRM_OPTIONS,
});
if (!values.student || !values.actor?.trim()) usageError('--student and --actor are required', USAGE);
if (!isUuid(values.student)) usageError("--student must be a UUID (the student's Keycloak subject)", USAGE);
const dryRun = dryRunOrConfirmed(values, 'Not erasing: it cannot be undone.');
const studentId = values.student.toLowerCase();
const actor = values.actor.trim();

let config: ReturnType<typeof loadConfig<'db' | 's3'>>;
try {
  config = loadConfig(['db', 's3']);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`Cannot erase: ${error.message}\n`);
  process.exit(1);
}
// The last check reads every audit and outbox row once: seconds on a large table, more than the
// functions' statement timeout allows their own short statements.
const sql = createSql(
  { ...config.db, DB_STATEMENT_TIMEOUT_MS: Math.max(config.db.DB_STATEMENT_TIMEOUT_MS, 300_000) },
  { applicationName: 'certificates-erase-student' },
);
logger.setLogLevel('WARN');
const keyPrefix = config.s3.S3_KEY_PREFIX;

function printDatabase(report: ErasureReport): void {
  console.log(dryRun ? 'Database (dry run: rolled back, nothing was changed):' : 'Database (committed):');
  console.log(`  certificates deleted (never issued): ${report.certificatesDeleted}`);
  console.log(`  certificates revoked (requested-by-holder): ${report.certificatesRevoked}`);
  console.log(
    `  kept as tombstones (code, course, dates, status; no name, score, file or student id): ${report.tombstones.length}`,
  );
  console.log(
    `  attempts deleted: ${report.attemptsDeleted}; kept under a pseudonym (behind a tombstone): ${report.attemptsPseudonymised}`,
  );
  console.log(`  webhook events pseudonymised: ${report.webhookEventsPseudonymised}`);
  console.log(`  audit rows scrubbed: ${report.auditRowsScrubbed}`);
  // Printed before S3 is touched: if it fails, these are what is left to delete.
  console.log(`S3 folders of the student (bucket ${config.s3.S3_BUCKET}):`);
  for (const prefix of report.s3Prefixes) console.log(`  ${prefix}`);
  for (const key of report.s3Keys) console.log(`  ${key}`);
  if (report.s3Prefixes.length + report.s3Keys.length === 0)
    console.log(
      "  none recorded (nothing names the student: the student's folder in every course is checked)",
    );
}

function printFiles(files: FileErasureReport): void {
  const found = files.purged.filter((entry) => entry.versions + entry.deleteMarkers > 0);
  console.log(
    `S3: ${files.versions} object version(s) and ${files.deleteMarkers} delete marker(s) ${dryRun ? 'would be deleted' : 'deleted'} (${files.purged.length} prefix(es) checked):`,
  );
  for (const entry of found)
    console.log(`  ${entry.prefix}: ${entry.versions} version(s), ${entry.deleteMarkers} delete marker(s)`);
  if (files.currentObjectsOnly)
    console.log(
      '  This server has no versioning API (ListObjectVersions was not implemented): only current objects were listed. On a versioned bucket, check for older versions.',
    );
}

function printLogs(): void {
  console.log(
    [
      "CloudWatch Logs: the student's id is in the `HTTP request` lines (subject) and in generate's success and failure lines. Find them with:",
      "  for g in $(aws logs describe-log-groups --log-group-name-prefix /aws/lambda/course-certificates-<stage>- --query 'logGroups[].logGroupName' --output text); do",
      `    aws logs filter-log-events --log-group-name "$g" --filter-pattern '"${studentId}"' --query 'events[].[logStreamName,timestamp,message]' --output text`,
      '  done',
      "CloudWatch cannot delete single events: they go after LOG_RETENTION_DAYS (30 by default), or delete each stream found with `aws logs delete-log-stream` (it holds other people's lines too).",
      'Not erased here: copies already handed out (PDFs, printouts, wallets, webhook receivers), database backups and snapshots, the Keycloak account.',
    ].join('\n'),
  );
}

let exitCode = 0;
try {
  let report: ErasureReport;
  try {
    report = await eraseStudent({ sql, log: logger }, { studentId, actor, dryRun, keyPrefix });
  } catch (error) {
    process.stderr.write(`Nothing was erased: ${errorMessage(error)}\n`);
    process.exit(1);
  }
  printDatabase(report);
  useLocalStandInCredentials(config.s3);
  const s3 = createS3Client(config.s3);
  try {
    printFiles(
      await purgeStudentFiles(
        { sql, files: createCertificateFileEraser(s3, config.s3.S3_BUCKET) },
        { studentId, keyPrefix, prefixes: report.s3Prefixes, keys: report.s3Keys, dryRun },
      ),
    );
  } catch (error) {
    process.stderr.write(
      `S3 failed: ${errorMessage(error)}\n${dryRun ? '' : 'The database part is committed. Run the same command again to finish the files (the keys listed above that are outside a course folder are not found again).\n'}`,
    );
    exitCode = 1;
  } finally {
    s3.destroy();
  }
  printLogs();
} finally {
  await sql.end({ timeout: 5 });
}
process.exitCode = exitCode;
