import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificatePage,
  findByCourse,
  findByStudent,
  type PageQuery,
} from '../../lib/certificates/read-model.ts';
import { decodeCursor, encodeCursor } from '../../lib/http/pagination.ts';
import { insertCertificate, insertCourse } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';

/**
 * Keyset pagination of the certificate lists (findByStudent, findByCourse) in-process against the
 * real PostgreSQL: newest first, ties by id, each cursor taken through the encoded form the
 * routes hand a client. The routes' own e2e run pages only through lists whose last page is short.
 */

let t: TestEnv;

beforeAll(async () => {
  t = await createTestEnv();
});

afterAll(async () => {
  await t?.cleanup();
});

type List = (page: PageQuery) => Promise<CertificatePage>;

/** Eight rows: four created at one instant (ordered by id alone), four a microsecond apart. */
const CREATED_AT = [
  ...Array<string>(4).fill('2026-03-01T12:00:00.000000Z'),
  ...[1, 2, 3, 4].map((micro) => `2026-03-01T12:00:00.00000${micro}Z`),
];

/** Seeds one student's (or one course's) certificates; the list and its ids in the promised order. */
async function seeded(by: 'student' | 'course'): Promise<{ list: List; expected: string[] }> {
  const studentId = randomUUID();
  const courseId = await insertCourse(t.sql);
  const rows: { id: string; createdAt: string }[] = [];
  for (const createdAt of CREATED_AT) {
    const certificate = await insertCertificate(t.sql, {
      ...(by === 'student' ? { studentId } : { studentId: randomUUID(), courseId }),
      createdAt,
    });
    rows.push({ id: certificate.id, createdAt });
  }
  // Descending; the timestamps share one format, so their text sorts as they do.
  const descending = (x: string, y: string) => (x < y ? 1 : x > y ? -1 : 0);
  const newestFirst = (a: (typeof rows)[number], b: (typeof rows)[number]) =>
    descending(a.createdAt, b.createdAt) || descending(a.id, b.id);
  return {
    list: (page) =>
      by === 'student' ? findByStudent(t.sql, studentId, page) : findByCourse(t.sql, courseId, page),
    expected: rows.sort(newestFirst).map((row) => row.id),
  };
}

const ids = (pages: CertificatePage[]) => pages.flatMap((page) => page.items.map((item) => item.id));

/** Every page of a list, following the cursors (bounded, so a cursor that never ends fails). */
async function allPages(list: List, limit: number): Promise<CertificatePage[]> {
  const pages: CertificatePage[] = [];
  let after: PageQuery['after'];
  do {
    const page = await list({ limit, ...(after ? { after } : {}) });
    pages.push(page);
    after = page.next ? decodeCursor(encodeCursor(page.next)) : undefined;
  } while (after && pages.length <= CREATED_AT.length + 1);
  return pages;
}

describe.each(['student', 'course'] as const)('the certificates of a %s, page by page', (by) => {
  let list: List;
  let expected: string[];

  beforeAll(async () => {
    ({ list, expected } = await seeded(by));
  });

  it.each([3, 5, 7, 9])(
    'limit %i: pages of exactly that size, the last one short, give every row once in order, rows created within one millisecond included',
    async (limit) => {
      const pages = await allPages(list, limit);
      const full = Math.floor(expected.length / limit);
      expect(pages.map((page) => page.items.length)).toEqual([
        ...Array<number>(full).fill(limit),
        ...(expected.length % limit > 0 ? [expected.length % limit] : []),
      ]);
      expect(ids(pages)).toEqual(expected);
      expect(pages.at(-1)?.next).toBeNull();
    },
  );

  it.each([1, 2, 4, 8])(
    'limit %i: the page that ends exactly on the last row has no next cursor, so no empty page follows',
    async (limit) => {
      const pages = await allPages(list, limit);
      expect(pages.map((page) => page.items.length)).toEqual(Array(expected.length / limit).fill(limit));
      expect(ids(pages)).toEqual(expected);
      expect(pages.map((page) => page.next === null)).toEqual([
        ...Array<boolean>(pages.length - 1).fill(false),
        true,
      ]);
    },
  );
});
