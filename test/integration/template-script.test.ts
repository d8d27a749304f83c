import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { runScript } from '../support/run-script.ts';
import { createCourse } from './pipeline-fixtures.ts';

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

describe('npm run template', () => {
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
});
