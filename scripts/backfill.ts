import {
  backfillMaxWaiting,
  backfillRequestSchema,
  formatProgress,
  previewBackfill,
  runBackfill,
  selectionOf,
} from '../lib/certificates/backfill.ts';
import { isUuid } from '../lib/certificates/ids.ts';
import { courseExists } from '../lib/certificates/read-model.ts';
import { loadConfig } from '../lib/config.ts';
import { printable } from '../lib/credentials/offline-check.ts';
import { createSql } from '../lib/db/client.ts';
import { logger } from '../lib/observability/logger.ts';
import { parseWith } from '../lib/validation.ts';
import { cliArgs } from './cli-args.ts';

// `npm run backfill -- --from DATE [--to DATE] [--course ID] [--dry-run] [--notify]` against
// DATABASE_URL: certificates for past passing attempts, fed in at the concurrency budget's pace
// (lib/certificates/backfill.ts). Ctrl-C stops between batches; running it again continues. The
// selection ends at SCAN_NOT_BEFORE (later passes are the scan's), or at the run's start when it
// is not set; the first line printed says where.

const USAGE =
  'usage: npm run backfill -- --from DATE [--to DATE] [--course ID] [--dry-run] [--notify] [--batch-size N (1-10000)]';

// An unknown option, a missing value: the reason and the usage, no stack (cli-args.ts).
const { values } = cliArgs(USAGE, {
  from: { type: 'string' },
  to: { type: 'string' },
  course: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  notify: { type: 'boolean', default: false },
  'batch-size': { type: 'string', default: '500' },
});
if (!values.from) {
  console.error(`--from is required: the first day of the completions to backfill (YYYY-MM-DD)\n${USAGE}`);
  process.exit(2);
}
// A batch of 0 would end at once, "done", with everything left; text would reach SQL as NaN.
const batchSize = Number(values['batch-size']);
if (!/^\d{1,5}$/.test(values['batch-size'] ?? '') || batchSize < 1 || batchSize > 10_000) {
  console.error(`--batch-size must be a whole number from 1 to 10000\n${USAGE}`);
  process.exit(2);
}
if (values.course !== undefined && !isUuid(values.course)) {
  console.error(`--course must be a course id (a UUID), not ${JSON.stringify(values.course)}\n${USAGE}`);
  process.exit(2);
}
// A date that is not one, or --to before --from: a ValidationError, the reason and the usage (exit 2).
const input = parseWith(
  backfillRequestSchema,
  { from: values.from, to: values.to, dryRun: values['dry-run'], notify: values.notify },
  'arguments',
);
const config = loadConfig(['db', 'pipeline']);
// The history ends where the scan's work begins (SCAN_NOT_BEFORE), or at this run's start.
const selection = selectionOf(
  input,
  { scanNotBefore: config.pipeline.SCAN_NOT_BEFORE, startedAt: new Date() },
  values.course,
);
const sql = createSql(config.db, { applicationName: 'certificates-backfill' });
logger.setLogLevel('WARN');
if (values.course !== undefined && !(await courseExists(sql, values.course))) {
  console.error(`npm run backfill: --course ${values.course}: no course has this id\n${USAGE}`);
  await sql.end({ timeout: 5 });
  process.exit(2);
}

const ENDED_BY = {
  to: '--to',
  SCAN_NOT_BEFORE: 'SCAN_NOT_BEFORE: the scan issues later passes',
  start: "the run's start: SCAN_NOT_BEFORE is not set",
} as const;

/** ", N of them already past their validity period", when there are any. */
function expiredNote(count: number): string {
  return count > 0 ? `, ${count} of them already past their validity period` : '';
}

try {
  console.log(
    `Selection: passing attempts completed from ${selection.from.toISOString()} and before ${selection.to.toISOString()} (${ENDED_BY[selection.endedBy]}).`,
  );
  if (input.dryRun) {
    const preview = await previewBackfill(sql, selection);
    console.log('Dry run: nothing was changed.');
    for (const course of preview.courses)
      console.log(
        // The LMS's title, as it stands: printable(), so escape sequences in it cannot rewrite
        // the counts an operator is about to act on.
        `${course.courseId}  ${printable(course.title)}  ${course.certificates} certificate(s)${expiredNote(course.expiredAtIssue)}  (${course.attempts} attempt(s))`,
      );
    console.log(
      `Total: ${preview.totalCertificates} certificate(s)${expiredNote(preview.totalExpiredAtIssue)} from ${preview.totalAttempts} passing attempt(s).`,
    );
    if (preview.totalExpiredAtIssue > 0)
      console.log(
        "A backfilled certificate's validity period counts from its pass: those past it are issued expired (shown so, not downloadable).",
      );
    if (preview.sample.length > 0) console.log('Sample:');
    for (const a of preview.sample)
      console.log(
        `  ${a.attemptId}  student ${a.studentId}  ${a.completedAt.toISOString()}  ${a.score}/${a.maxScore}`,
      );
  } else {
    const controller = new AbortController();
    process.once('SIGINT', () => {
      process.stderr.write('\nStopping after the current batch; run the same command again to continue.\n');
      controller.abort();
    });
    // One line on stderr, rewritten in place: the progress, and while the run pauses, why.
    let shown = '';
    let lastProgress = '';
    const show = (line: string): void => {
      process.stderr.write(`\r${line.padEnd(shown.length)}`);
      shown = line;
    };
    const result = await runBackfill({ sql, log: logger }, selection, {
      batchSize,
      maxWaiting: backfillMaxWaiting(config.pipeline.GENERATE_MAX_CONCURRENCY),
      notify: input.notify,
      signal: controller.signal,
      onProgress: (progress) => {
        lastProgress = formatProgress(progress);
        show(lastProgress);
      },
      onWait: (reason) => show(lastProgress ? `${lastProgress}  ${reason}` : reason),
    });
    process.stderr.write('\n');
    console.log(
      `${result.created} certificate(s) created (${result.done} attempt(s) handled), ${result.remaining} attempt(s) left: ${result.stopped}.`,
    );
    if (result.stopped === 'stuck') process.exitCode = 1;
    // Stopped with work left: a `&&` after the command, or a job runner, must not go on as if done.
    if (result.stopped === 'aborted') process.exitCode = 130;
  }
} finally {
  await sql.end({ timeout: 5 });
}
