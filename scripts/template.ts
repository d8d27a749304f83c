/**
 * Stores a course's certificate template (or the organisation default): a new version, validated
 * as saveTemplate validates it (lib/render/template-store.ts), then `npm run preview -- --template
 * <id>` shows it with sample data. Needs DATABASE_URL, and S3_BUCKET (with S3_REGION or
 * S3_ENDPOINT_URL) when an asset is in the bucket: it is read to check it.
 *
 *   npm run template -- save --course <uuid>|default --name "..." --html template.liquid
 *                       [--css style.css] [--locale de] [--asset logo=s3://bucket/template-assets/logo.png]...
 *   npm run template -- list [--course <uuid>|default]
 */
import { readFile } from 'node:fs/promises';
import { isUuid } from '../lib/certificates/ids.ts';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import {
  ConfigurationError,
  errorMessage,
  NotFoundError,
  TransientError,
  ValidationError,
} from '../lib/errors.ts';
import { saveTemplate } from '../lib/render/template-store.ts';
import { bucketAssetReader } from './bucket-assets.ts';
import { cliArgs, userPath } from './cli-args.ts';

const USAGE = [
  'usage: npm run template -- save --course <uuid>|default --name "..." --html FILE [--css FILE] [--locale de] [--asset KEY=REF]... [--by WHO]',
  '       npm run template -- list [--course <uuid>|default]',
].join('\n');

const { values, positionals } = cliArgs(
  USAGE,
  {
    course: { type: 'string' },
    name: { type: 'string' },
    html: { type: 'string' },
    css: { type: 'string' },
    locale: { type: 'string' },
    asset: { type: 'string', multiple: true },
    by: { type: 'string' },
  },
  true,
);
const [command, ...extra] = positionals;
if ((command !== 'save' && command !== 'list') || extra.length > 0) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}
const courseId = values.course === 'default' ? null : values.course;
if (courseId !== undefined && courseId !== null && !isUuid(courseId)) {
  process.stderr.write(
    `--course must be a course id (a UUID) or default, not ${JSON.stringify(courseId)}\n${USAGE}\n`,
  );
  process.exit(2);
}

const sql = createSql(loadConfig(['db']).db, { applicationName: 'certificates-template' });
try {
  if (command === 'list') {
    const rows = await sql<
      { id: string; course_id: string | null; version: number; name: string; created_at: Date }[]
    >`
      SELECT id, course_id, version, name, created_at FROM certificate_templates
      WHERE ${courseId === undefined ? sql`true` : sql`course_id IS NOT DISTINCT FROM ${courseId}::uuid`}
      ORDER BY course_id NULLS FIRST, version`;
    for (const row of rows)
      console.log(
        `${row.id}  ${row.course_id ?? 'default'}  v${row.version}  ${row.created_at.toISOString()}  ${row.name}`,
      );
    if (rows.length === 0) console.log('No stored templates: certificates use the built-in design.');
  } else {
    if (courseId === undefined || !values.name || !values.html) {
      process.stderr.write(`save needs --course, --name and --html\n${USAGE}\n`);
      process.exit(2);
    }
    const assets: Record<string, string> = {};
    for (const pair of values.asset ?? []) {
      const at = pair.indexOf('=');
      if (at < 1) {
        process.stderr.write(`--asset ${pair}: expected KEY=REF (logo, signature, seal, background)\n`);
        process.exit(2);
      }
      assets[pair.slice(0, at)] = pair.slice(at + 1);
    }
    // Bucket assets are read as the functions will read them, so a logo that is not there, not an
    // image or too large is refused now rather than by every certificate of the course.
    const bucket = bucketAssetReader(assets);
    try {
      const saved = await saveTemplate(
        sql,
        {
          courseId,
          name: values.name,
          html: await readFile(userPath(values.html, 'scripts/template.ts'), 'utf8'),
          css:
            values.css === undefined
              ? ''
              : await readFile(userPath(values.css, 'scripts/template.ts'), 'utf8'),
          locale: values.locale ?? null,
          assets,
          createdBy: values.by ?? null,
        },
        bucket ? { assetLoader: bucket.assetLoader } : {},
      );
      console.log(
        `Saved template ${saved.id}: ${saved.courseId ?? 'default'} version ${saved.version} ("${saved.name}"). ` +
          `Preview: npm run preview -- --template ${saved.id}`,
      );
    } finally {
      bucket?.close();
    }
  }
} catch (error) {
  // A refused template names what is wrong, as the preview route's 400 does; no stack.
  if (error instanceof ValidationError || error instanceof NotFoundError) {
    process.stderr.write(`Not saved: ${errorMessage(error)}\n`);
    process.exitCode = 2;
  } else if (
    error instanceof ConfigError ||
    error instanceof ConfigurationError ||
    error instanceof TransientError
  ) {
    // The shell's settings, or S3 not answering: nothing was stored, and saying why is enough.
    process.stderr.write(`Not saved: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  } else throw error;
} finally {
  await sql.end({ timeout: 5 });
}
