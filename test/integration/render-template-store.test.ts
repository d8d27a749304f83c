import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../lib/errors.ts';
import { loadDefaultTemplate } from '../../lib/render/renderer.ts';
import {
  createTemplateResolver,
  listTemplates,
  loadTemplateById,
  resolveTemplateForCourse,
  saveTemplate,
} from '../../lib/render/template-store.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { pdfTextLayer } from '../support/pdf-text-layer.ts';
import { content, createTestRenderer } from './render-fixtures.ts';

let t: TestEnv;
const { renderer } = createTestRenderer();
let courseA: string;
let courseB: string;

beforeAll(async () => {
  t = await createTestEnv();
  const rows = await t.sql<{ id: string }[]>`
    INSERT INTO courses (title) VALUES ('Course A'), ('Course B') RETURNING id`;
  courseA = rows[0]?.id ?? '';
  courseB = rows[1]?.id ?? '';
});
afterAll(async () => {
  await renderer.close();
  await t.cleanup();
});

const html = (marker: string) =>
  `<!doctype html><html lang="{{ locale }}" dir="{{ dir }}"><head><meta charset="utf-8"><title>{{ labels.title }}</title></head>
<body><h1>${marker}</h1><p class="name">{{ student_name }}</p><p>{{ course_name }}</p><p>{{ issued_on }} {{ certificate_id }}</p>
<img src="{{ qr_code }}" alt=""></body></html>`;

async function count(): Promise<number> {
  const [row] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM certificate_templates`;
  return row?.n ?? -1;
}

describe('saving templates', () => {
  it('refuses a template that references an unknown field, and stores nothing', async () => {
    const before = await count();
    const error = await saveTemplate(t.sql, {
      courseId: courseA,
      name: 'Bad',
      html: html('X').replace('{{ course_name }}', '{{ student_email }}'),
    }).catch((caught) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toContain('unknown field "student_email"');
    expect(await count()).toBe(before);
  });

  it('refuses unknown label keys, unknown filters, file tags and syntax errors', async () => {
    const bad = [
      html('X').replace('{{ labels.title }}', '{{ labels.secret }}'),
      html('X').replace('{{ student_name }}', '{{ student_name | shell }}'),
      html('X').replace('<h1>X</h1>', "{% include 'etc/passwd' %}"),
      html('X').replace('<h1>X</h1>', "{% render 'other' %}"),
      html('X').replace('{{ student_name }}', '{{ student_name '),
      '<p>{{ student_name }}</p>',
    ];
    for (const source of bad)
      await expect(
        saveTemplate(t.sql, { courseId: courseA, name: 'Bad', html: source }),
      ).rejects.toBeInstanceOf(ValidationError);
    await expect(
      saveTemplate(t.sql, {
        courseId: courseA,
        name: 'Bad',
        html: html('X'),
        assets: { logo: '../../etc/passwd' },
      }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('a template for a course that does not exist is NotFound', async () => {
    await expect(
      saveTemplate(t.sql, { courseId: '00000000-0000-4000-8000-00000000dead', name: 'X', html: html('X') }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it('numbers versions per course and per default', async () => {
    const v1 = await saveTemplate(t.sql, { courseId: courseA, name: 'A', html: html('Course A v1') });
    const v2 = await saveTemplate(t.sql, { courseId: courseA, name: 'A', html: html('Course A v2') });
    const d1 = await saveTemplate(t.sql, { courseId: null, name: 'Default', html: html('Org default v1') });
    expect([v1.version, v2.version, d1.version]).toEqual([1, 2, 1]);
    expect((await listTemplates(t.sql, courseA)).map((row) => row.version)).toEqual([2, 1]);
  });
});

describe('resolving and printing', () => {
  it('uses the course template, else the newest default row, else the built-in', async () => {
    const forA = await resolveTemplateForCourse(t.sql, courseA);
    expect(forA.html).toContain('Course A v2');
    const forB = await resolveTemplateForCourse(t.sql, courseB);
    expect(forB.html).toContain('Org default v1');
    await t.sql`DELETE FROM certificate_templates WHERE course_id IS NULL`;
    const builtin = await resolveTemplateForCourse(t.sql, courseB);
    expect(builtin).toMatchObject({ id: null, version: expect.stringMatching(/^builtin-[0-9a-f]{12}$/) });
    expect(builtin.html).toBe((await loadDefaultTemplate()).html);
  });

  it('records the template id and version that printed, and a later edit changes nothing issued', async () => {
    const template = await resolveTemplateForCourse(t.sql, courseA);
    const first = await renderer.render(content({ studentName: 'Grace <b>Hopper</b>' }), template);
    expect(first.template).toEqual({ id: template.id, version: '2' });
    expect(await pdfTextLayer(first.pdf)).toContain('Course A v2');
    expect(await pdfTextLayer(first.pdf)).toContain('Grace <b>Hopper</b>');

    await saveTemplate(t.sql, { courseId: courseA, name: 'A', html: html('Course A v3') });
    expect((await resolveTemplateForCourse(t.sql, courseA)).html).toContain('Course A v3');

    // Re-printing the recorded version gives the recorded text, not the edit.
    const recorded = await loadTemplateById(t.sql, first.template.id ?? '');
    const again = await renderer.render(content({ studentName: 'Grace <b>Hopper</b>' }), recorded);
    expect(again.template).toEqual(first.template);
    expect(await pdfTextLayer(again.pdf)).toContain('Course A v2');
  });

  it('a saved template cannot turn escaping off with raw', async () => {
    const saved = await saveTemplate(t.sql, {
      courseId: courseB,
      name: 'Raw',
      html: html('Raw').replace('{{ student_name }}', '{{ student_name | raw }}'),
    });
    const template = await loadTemplateById(t.sql, saved.id);
    const { pdf } = await renderer.render(content({ studentName: '<i>Ada</i>' }), template);
    expect(await pdfTextLayer(pdf)).toContain('<i>Ada</i>');
  });

  it("Liquid's escape filters do not escape a second time: O'Brien is printed, not O&#39;Brien", async () => {
    const saved = await saveTemplate(t.sql, {
      courseId: courseB,
      name: 'Escape',
      html: html('Escape')
        .replace('{{ student_name }}', '{{ student_name | escape }}')
        .replace('{{ course_name }}', '{{ course_name | escape_once }}'),
    });
    const template = await loadTemplateById(t.sql, saved.id);
    const { pdf } = await renderer.render(
      content({ studentName: `Siobhán O'Brien`, courseName: 'R&D <Basics>' }),
      template,
    );
    const text = await pdfTextLayer(pdf);
    expect(text).toContain(`Siobhán O'Brien`);
    expect(text).toContain('R&D <Basics>');
    expect(text).not.toContain('&#39;');
  });

  it('a template that escapes a name twice (through capture) is refused when saved, naming the field', async () => {
    const before = await count();
    const captured = html('Capture').replace(
      '{{ student_name }}',
      '{% capture shown %}{{ student_name }}{% endcapture %}{{ shown }}',
    );
    await expect(saveTemplate(t.sql, { courseId: courseB, name: 'Capture', html: captured })).rejects.toThrow(
      /template must print student_name as it is: .* escaped twice/,
    );
    expect(await count()).toBe(before);
  });
});

describe("generate's resolver, which keeps stored versions", () => {
  it('reads a version once, prints a new version from the next certificate on, and keeps at most maxVersions', async () => {
    const [c, d] = await t.sql<{ id: string }[]>`
      INSERT INTO courses (title) VALUES ('Course C'), ('Course D') RETURNING id`;
    const courseC = c?.id ?? '';
    const courseD = d?.id ?? '';
    // The statements the resolver sends, seen by the client (postgres.js `debug`).
    const sent: string[] = [];
    const watched = postgres(t.env.DATABASE_URL ?? '', {
      max: 1,
      onnotice: () => undefined,
      debug: (_connection, query) => sent.push(query),
    });
    const bodiesRead = () =>
      sent.filter((query) => /SELECT \* FROM certificate_templates WHERE id/.test(query)).length;
    try {
      const resolve = createTemplateResolver(watched, { maxVersions: 1 });
      const v1 = await saveTemplate(t.sql, { courseId: courseC, name: 'C', html: html('Course C v1') });
      expect(await resolve(courseC)).toMatchObject({
        id: v1.id,
        version: '1',
        html: expect.stringContaining('Course C v1'),
      });
      expect(await resolve(courseC)).toMatchObject({
        id: v1.id,
        html: expect.stringContaining('Course C v1'),
      });
      // Twice asked which version is current, its body read once.
      expect(bodiesRead()).toBe(1);
      expect(sent.filter((query) => query.includes('certificate_templates'))).toHaveLength(3);

      // A new version prints from the next certificate on.
      const v2 = await saveTemplate(t.sql, { courseId: courseC, name: 'C', html: html('Course C v2') });
      expect(await resolve(courseC)).toMatchObject({
        id: v2.id,
        version: '2',
        html: expect.stringContaining('Course C v2'),
      });
      expect(bodiesRead()).toBe(2);

      // One version kept: course D's pushes course C's out, so C's is read again.
      await saveTemplate(t.sql, { courseId: courseD, name: 'D', html: html('Course D v1') });
      expect((await resolve(courseD)).html).toContain('Course D v1');
      expect((await resolve(courseC)).html).toContain('Course C v2');
      expect(bodiesRead()).toBe(4);
    } finally {
      await watched.end({ timeout: 5 });
    }
  });

  it('a stored version cannot be changed in place, even by hand-written SQL: a change is a new version', async () => {
    const [row] = await t.sql<{ id: string }[]>`INSERT INTO courses (title) VALUES ('Course E') RETURNING id`;
    const saved = await saveTemplate(t.sql, {
      courseId: row?.id ?? '',
      name: 'E',
      html: html('Course E v1'),
    });
    const refused =
      await t.sql`UPDATE certificate_templates SET html = replace(html, 'v1', 'v2') WHERE id = ${saved.id}`.catch(
        (error: unknown) => error,
      );
    expect(refused).toMatchObject({
      code: '23001',
      message: expect.stringMatching(/append-only: save a new version/),
    });
    expect((await loadTemplateById(t.sql, saved.id)).html).toContain('Course E v1');
  });
});
