import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../lib/storage/s3.ts';
import { applyS3Credentials, createTestEnv, type TestEnv } from '../support/env.ts';
import { pdfInfo, pdfText } from '../support/pdf.ts';
import { runScript } from '../support/run-script.ts';
import { createCourse, s3ConfigFor, TINY_PNG } from './pipeline-fixtures.ts';

let t: TestEnv;
let dir: string;

beforeAll(async () => {
  t = await createTestEnv();
  dir = await mkdtemp(join(tmpdir(), 'template-script-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await t.cleanup();
});

/** `npm run template -- ...` on this file's database. */
const template = (...args: string[]) =>
  runScript('template', args, { DATABASE_URL: t.env.DATABASE_URL ?? '' });

/** This file's database and bucket (the S3 stand-in), as a script's environment. */
const withBucket = (): Record<string, string> => {
  const { S3_BUCKET, S3_ENDPOINT_URL, S3_REGION } = s3ConfigFor(t);
  return {
    DATABASE_URL: t.env.DATABASE_URL ?? '',
    S3_BUCKET,
    S3_ENDPOINT_URL: S3_ENDPOINT_URL ?? '',
    S3_REGION,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: t.env.AWS_ACCESS_KEY_ID ?? 'S3RVER',
    AWS_SECRET_ACCESS_KEY: t.env.AWS_SECRET_ACCESS_KEY ?? 'S3RVER',
  };
};
const templateWithBucket = (...args: string[]) => runScript('template', args, withBucket());

describe('npm run template', () => {
  it('npm run preview shows a stored template in its own locale unless another is asked for', async () => {
    const courseId = await createCourse(t.sql, { title: 'Templates 102' });
    const labels = join(dir, 'labels.liquid');
    await writeFile(
      labels,
      '<!doctype html><html><head><title>x</title></head><body><h1>{{ labels.title }}</h1><p>{{ student_name }}</p><p>{{ course_name }}</p><p>{{ verify_url }}</p></body></html>',
    );
    const german = await template(
      'save',
      '--course',
      courseId,
      '--name',
      'German',
      '--html',
      labels,
      '--locale',
      'de',
    );
    const germanId = /Saved template ([0-9a-f-]{36})/.exec(german.stdout)?.[1] ?? 'not printed';
    for (const [args, title] of [
      [[], 'Leistungszertifikat'],
      [['--locale', 'fr'], 'Certificat de réussite'],
    ] as const) {
      const out = join(dir, `labels-${args.length}`);
      const shown = await runScript('preview', ['--template', germanId, ...args, '--out', out], {
        DATABASE_URL: t.env.DATABASE_URL ?? '',
      });
      expect(shown.code, shown.stderr).toBe(0);
      // Nothing on stderr: a success says what it wrote, no library's warnings (pdf.js's own).
      expect(shown.stderr).toBe('');
      expect(await pdfText(await readFile(`${out}.pdf`))).toContain(title);
    }
  });

  it('saves a course template as a new version, refuses an invalid one by name, and lists them', async () => {
    const courseId = await createCourse(t.sql, { title: 'Templates 101' });
    const html = join(dir, 'template.liquid');
    await writeFile(
      html,
      '<!doctype html><html><head><title>x</title></head><body><h1>Marker</h1><p>{{ student_name }}</p><p>{{ course_name }}</p><p>{{ verify_url }}</p></body></html>',
    );
    const saved = await template(
      'save',
      '--course',
      courseId,
      '--name',
      'Spring design',
      '--html',
      html,
      '--locale',
      'de',
    );
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stdout).toMatch(/Saved template [0-9a-f-]{36}: .* version 1 \("Spring design"\)/);
    const again = await template('save', '--course', courseId, '--name', 'Spring design', '--html', html);
    expect(again.stdout).toContain('version 2');
    const rows = await t.sql<{ version: number; locale: string | null; html: string }[]>`
      SELECT version, locale, html FROM certificate_templates WHERE course_id = ${courseId} ORDER BY version`;
    expect(rows.map((row) => [row.version, row.locale])).toEqual([
      [1, 'de'],
      [2, null],
    ]);
    expect(rows[0]?.html).toContain('<h1>Marker</h1>');

    // Validated as saveTemplate validates: an unknown field is named, nothing is stored, no stack.
    const bad = join(dir, 'bad.liquid');
    await writeFile(
      bad,
      '<html><head></head><body>{{ student_name }} {{ course_name }} {{ verify_url }} {{ secret }}</body></html>',
    );
    const refused = await template('save', '--course', courseId, '--name', 'Bad', '--html', bad);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^Not saved: .*secret/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    const [count] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificate_templates WHERE course_id = ${courseId}`;
    expect(count?.n).toBe(2);

    const listed = await template('list', '--course', courseId);
    expect(listed.code).toBe(0);
    expect(listed.stdout.trim().split('\n')).toHaveLength(2);
    expect(listed.stdout).toContain('v2');
  });

  it('an unknown course is refused by name; save without its options is a usage error', async () => {
    const html = join(dir, 'minimal.liquid');
    await writeFile(
      html,
      '<html><head></head><body><p>{{ student_name }}</p><p>{{ course_name }}</p><p>{{ verify_url }}</p></body></html>',
    );
    const unknown = await template(
      'save',
      '--course',
      '00000000-0000-4000-8000-000000000000',
      '--name',
      'x',
      '--html',
      html,
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Not saved: course not found');
    const badId = await template('list', '--course', 'nope');
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('--course must be a course id');
    expect(badId.stderr).not.toMatch(/\n\s+at /);
    const usage = await template('save', '--name', 'x');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: npm run template');
  });

  it('a bucket asset is read when the template is saved: missing, elsewhere, not an image or without S3_BUCKET is refused by name; a good one saves, and npm run preview prints it', async () => {
    const courseId = await createCourse(t.sql, { title: 'Logos 101' });
    const html = join(dir, 'with-logo.liquid');
    await writeFile(
      html,
      '<html><head><title>x</title></head><body><img src="{{ assets.logo }}" alt=""><p>{{ student_name }}</p><p>{{ course_name }}</p><p>{{ verify_url }}</p></body></html>',
    );
    const restore = applyS3Credentials(t);
    const s3 = createS3Client(s3ConfigFor(t));
    try {
      for (const [key, body, type] of [
        ['template-assets/script-logo.png', Buffer.from(TINY_PNG, 'base64'), 'image/png'],
        ['template-assets/script-logo.txt', Buffer.from('not an image'), 'text/plain'],
      ] as const)
        await s3.send(new PutObjectCommand({ Bucket: t.bucket, Key: key, Body: body, ContentType: type }));
    } finally {
      s3.destroy();
      restore();
    }
    const save = (logo: string, run = templateWithBucket) =>
      run('save', '--course', courseId, '--name', 'With logo', '--html', html, '--asset', `logo=${logo}`);
    const refused: [logo: string, refusal: string][] = [
      [`s3://${t.bucket}/template-assets/nowhere.png`, 'could not be read: not found'],
      [`s3://${t.bucket}/template-assets/script-logo.txt`, 'has type text/plain, not an image'],
      ['s3://someone-elses-bucket/template-assets/script-logo.png', 'not in the certificates bucket'],
      [
        `s3://${t.bucket}/certificates/script-logo.png`,
        'must be templates/..., s3://<certificates bucket>/template-assets/...',
      ],
    ];
    for (const [logo, refusal] of refused) {
      const run = await save(logo);
      expect(run.code, logo).toBe(2);
      expect(run.stderr, logo).toMatch(/^Not saved: /);
      expect(run.stderr, logo).toContain(refusal);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    const logo = `s3://${t.bucket}/template-assets/script-logo.png`;
    const withoutBucket = await save(logo, (...args) =>
      runScript('template', args, { DATABASE_URL: t.env.DATABASE_URL ?? '', S3_BUCKET: undefined }),
    );
    expect(withoutBucket.code).toBe(1);
    expect(withoutBucket.stderr).toMatch(/^Not saved: .*S3_BUCKET/);
    // A bucket in another region than S3_REGION says (S3's 301), or an S3 that is not there:
    // the reason, without a stack, and nothing stored.
    const redirecting = createServer((_, res) => {
      res
        .writeHead(301, { 'content-type': 'application/xml' })
        .end(
          '<?xml version="1.0"?><Error><Code>PermanentRedirect</Code><Message>Use the right endpoint</Message></Error>',
        );
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    const { port } = redirecting.address() as AddressInfo;
    try {
      for (const [endpoint, code, reason] of [
        [`http://127.0.0.1:${port}`, 2, /PermanentRedirect: check S3_BUCKET, S3_REGION/],
        ['http://127.0.0.1:9', 1, /could not be read: .*ECONNREFUSED/],
      ] as const) {
        const run = await save(logo, (...args) =>
          runScript('template', args, { ...withBucket(), S3_ENDPOINT_URL: endpoint }),
        );
        expect(run.code, endpoint).toBe(code);
        expect(run.stderr, endpoint).toMatch(/^Not saved: /);
        expect(run.stderr, endpoint).toMatch(reason);
        expect(run.stderr, endpoint).not.toMatch(/\n\s+at /);
      }
    } finally {
      await new Promise((resolve) => redirecting.close(resolve));
    }
    const [none] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM certificate_templates WHERE course_id = ${courseId}`;
    expect(none?.n).toBe(0);

    const saved = await save(logo);
    expect(saved.code, saved.stderr).toBe(0);
    const id = /Saved template ([0-9a-f-]{36})/.exec(saved.stdout)?.[1] ?? 'not printed';
    const out = join(dir, 'previewed');
    const preview = await runScript(
      'preview',
      ['--template', id, '--name', 'Ada Lovelace', '--out', out],
      withBucket(),
    );
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain(`wrote ${out}.pdf`);
    const pdf = await readFile(`${out}.pdf`);
    expect(String((await pdfInfo(pdf)).info.Title)).toContain('Ada Lovelace');
    expect(pdf.includes('/Subtype /Image')).toBe(true);
  });
});
