import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeStudentFiles } from '../../lib/certificates/erasure.ts';
import { ConfigurationError, ValidationError } from '../../lib/errors.ts';
import { createCertificateFileEraser, createS3Client } from '../../lib/storage/s3.ts';
import { applyS3Credentials, createTestEnv, type TestEnv } from '../support/env.ts';
import { createCourse, listKeys, s3ConfigFor } from './pipeline-fixtures.ts';

/**
 * The erasure's S3 step: every version and delete marker under the student's folders. Against
 * the s3rver stand-in (no versioning API: the fallback to current objects), and against a small
 * versioned stand-in here that answers ListObjectVersions and DeleteObjects as S3 does.
 */

let t: TestEnv;
let restoreCredentials: () => void;
let client: S3Client;
beforeAll(async () => {
  t = await createTestEnv();
  restoreCredentials = applyS3Credentials(t);
  client = createS3Client(s3ConfigFor(t));
});
afterAll(async () => {
  client?.destroy();
  restoreCredentials?.();
  await t.cleanup();
});

async function put(key: string): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: t.bucket, Key: key, Body: `%PDF-1.7 ${key}` }));
}

describe('purging the student folders on the s3rver stand-in (no versioning API)', () => {
  it("deletes the student's files in every course, their recorded keys, and nothing of anyone else", async () => {
    const student = randomUUID();
    const other = randomUUID();
    const [first, second, unrecorded] = [
      await createCourse(t.sql),
      await createCourse(t.sql),
      // A folder no certificate of the database names any more: found by the sweep of every course.
      await createCourse(t.sql),
    ];
    const mine = [
      `certificates/${first}/${student}/${randomUUID()}.pdf`,
      `certificates/${first}/${student}/${randomUUID()}.pdf`,
      `certificates/${second}/${student}/${randomUUID()}.pdf`,
      `certificates/${unrecorded}/${student}/${randomUUID()}.pdf`,
    ];
    const legacy = `old-prefix/${randomUUID()}.pdf`;
    const theirs = [`certificates/${first}/${other}/${randomUUID()}.pdf`, `old-prefix/${randomUUID()}.pdf`];
    for (const key of [...mine, legacy, ...theirs]) await put(key);
    // Whole pages: s3rver cannot continue a truncated listing under Node 22 (its continuation
    // token is DES, which OpenSSL 3 no longer has); the versioned stand-in below pages.
    const deps = { sql: t.sql, files: createCertificateFileEraser(client, t.bucket) };
    const input = {
      studentId: student,
      prefixes: [`certificates/${first}/${student}/`, `certificates/${second}/${student}/`],
      keys: [legacy],
    };

    const preview = await purgeStudentFiles(deps, { ...input, dryRun: true });
    expect(preview).toMatchObject({ versions: 5, deleteMarkers: 0, currentObjectsOnly: true });
    expect(await listKeys(t)).toEqual(expect.arrayContaining([...mine, legacy, ...theirs]));

    const purged = await purgeStudentFiles(deps, input);
    expect(purged).toMatchObject({ versions: 5, deleteMarkers: 0, currentObjectsOnly: true });
    expect(
      purged.purged.filter((entry) => entry.versions > 0).map((entry) => [entry.prefix, entry.versions]),
    ).toEqual(
      expect.arrayContaining([
        [`certificates/${first}/${student}/`, 2],
        [`certificates/${unrecorded}/${student}/`, 1],
        [legacy, 1],
      ]),
    );
    for (const entry of purged.purged) expect(entry.listing).toBe('current-objects');
    const left = await listKeys(t);
    for (const key of [...mine, legacy]) expect(left, key).not.toContain(key);
    expect(left).toEqual(expect.arrayContaining(theirs));

    // Again: nothing left to find.
    expect(await purgeStudentFiles(deps, input)).toMatchObject({ versions: 0, deleteMarkers: 0 });
  });

  it("refuses a prefix that is not one of the student's, and the whole bucket", async () => {
    const files = createCertificateFileEraser(client, t.bucket);
    const student = randomUUID();
    const mine = `certificates/${await createCourse(t.sql)}/${student}/${randomUUID()}.pdf`;
    await put(mine);
    // Refused before anything is deleted, the student's own folder included.
    await expect(
      purgeStudentFiles(
        { sql: t.sql, files },
        { studentId: student, prefixes: [mine.replace(/[^/]+$/, ''), 'certificates/'] },
      ),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(await listKeys(t)).toContain(mine);
    await expect(files.purgePrefix('')).rejects.toBeInstanceOf(ValidationError);
    await expect(files.purgePrefix('/')).rejects.toBeInstanceOf(ValidationError);
  });
});

// ---- a versioned stand-in ----

interface Entry {
  key: string;
  versionId: string;
  deleteMarker: boolean;
  /** Place in S3's listing order (key, then newest version first). */
  position: number;
  deleted: boolean;
}

/**
 * ListObjectVersions (paginated by key and version-id markers) and DeleteObjects, as S3 answers
 * them. A marker naming a version that was deleted ends the listing, as moto does (S3 does not
 * promise to go on from a position that no longer exists). `failures`
 * makes one operation answer an error instead; `failures.list = 501` is a server with no
 * versioning API, which lists current objects (ListObjectsV2, with continuation tokens) and
 * deletes a key without a version id as an unversioned bucket does.
 */
function versionedStandIn(bucket: string) {
  const entries: Entry[] = [];
  const requests: string[] = [];
  const failures: { list?: number; deleteKey?: string } = {};
  const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const unxml = (text: string) => text.replace(/&lt;/g, '<').replace(/&amp;/g, '&');
  const send = (response: ServerResponse, status: number, body: string) => {
    response.writeHead(status, { 'Content-Type': 'application/xml' });
    response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
  };
  const body = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const server: Server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://stand-in');
    requests.push(`${request.method} ${[...url.searchParams.keys()].join('&')}`);
    if (url.pathname.replace(/\/$/, '') !== `/${bucket}`)
      return send(response, 404, '<Error><Code>NoSuchBucket</Code></Error>');
    if (request.method === 'GET' && url.searchParams.has('versions')) {
      if (failures.list === 403)
        return send(
          response,
          403,
          '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>',
        );
      if (failures.list === 501)
        return send(
          response,
          501,
          '<Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>',
        );
      const prefix = url.searchParams.get('prefix') ?? '';
      const max = Number(url.searchParams.get('max-keys') ?? '1000');
      const keyMarker = url.searchParams.get('key-marker');
      const versionMarker = url.searchParams.get('version-id-marker');
      const after = keyMarker
        ? (entries.find(
            (entry) => entry.key === keyMarker && entry.versionId === versionMarker && !entry.deleted,
          )?.position ?? Number.POSITIVE_INFINITY)
        : -1;
      const matching = entries
        .filter((entry) => entry.key.startsWith(prefix) && entry.position > after)
        .sort((left, right) => left.position - right.position)
        .filter((entry) => !entry.deleted);
      const page = matching.slice(0, max);
      const last = page[page.length - 1];
      const truncated = matching.length > max && last !== undefined;
      const items = page
        .map((entry) =>
          entry.deleteMarker
            ? `<DeleteMarker><Key>${xml(entry.key)}</Key><VersionId>${entry.versionId}</VersionId><IsLatest>false</IsLatest><LastModified>2025-01-01T00:00:00.000Z</LastModified></DeleteMarker>`
            : `<Version><Key>${xml(entry.key)}</Key><VersionId>${entry.versionId}</VersionId><IsLatest>false</IsLatest><LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>"e"</ETag><Size>9</Size><StorageClass>STANDARD</StorageClass></Version>`,
        )
        .join('');
      return send(
        response,
        200,
        `<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>${xml(prefix)}</Prefix><MaxKeys>${max}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${
          truncated
            ? `<NextKeyMarker>${xml(last.key)}</NextKeyMarker><NextVersionIdMarker>${last.versionId}</NextVersionIdMarker>`
            : ''
        }${items}</ListVersionsResult>`,
      );
    }
    if (request.method === 'GET' && url.searchParams.get('list-type') === '2') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const max = Number(url.searchParams.get('max-keys') ?? '1000');
      const token = url.searchParams.get('continuation-token');
      const after = token ? Buffer.from(token, 'base64').toString('utf8') : '';
      const keys = [
        ...new Set(
          entries
            .filter((entry) => !entry.deleted && !entry.deleteMarker && entry.key.startsWith(prefix))
            .map((entry) => entry.key),
        ),
      ]
        .filter((key) => key > after)
        .sort();
      const page = keys.slice(0, max);
      const last = page[page.length - 1];
      const truncated = keys.length > max && last !== undefined;
      return send(
        response,
        200,
        `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>${xml(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${max}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${
          truncated
            ? `<NextContinuationToken>${Buffer.from(last).toString('base64')}</NextContinuationToken>`
            : ''
        }${page.map((key) => `<Contents><Key>${xml(key)}</Key><Size>9</Size></Contents>`).join('')}</ListBucketResult>`,
      );
    }
    if (request.method === 'POST' && url.searchParams.has('delete')) {
      const errors: string[] = [];
      for (const [, object = ''] of (await body(request)).matchAll(/<Object>([\s\S]*?)<\/Object>/g)) {
        const key = unxml(/<Key>([\s\S]*?)<\/Key>/.exec(object)?.[1] ?? '');
        const versionId = /<VersionId>([\s\S]*?)<\/VersionId>/.exec(object)?.[1];
        if (key === failures.deleteKey) {
          errors.push(
            `<Error><Key>${xml(key)}</Key><VersionId>${versionId ?? ''}</VersionId><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`,
          );
          continue;
        }
        for (const entry of entries)
          if (entry.key === key && (versionId === undefined || entry.versionId === versionId))
            entry.deleted = true;
      }
      return send(
        response,
        200,
        `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${errors.join('')}</DeleteResult>`,
      );
    }
    return send(response, 405, '<Error><Code>MethodNotAllowed</Code></Error>');
  });
  return {
    server,
    requests,
    failures,
    /** Adds entries in listing order. */
    add(key: string, kinds: ('version' | 'marker')[]): void {
      for (const kind of kinds)
        entries.push({
          key,
          versionId: randomUUID().replace(/-/g, ''),
          deleteMarker: kind === 'marker',
          position: entries.length,
          deleted: false,
        });
    },
    left: () => entries.filter((entry) => !entry.deleted).map((entry) => [entry.key, entry.deleteMarker]),
  };
}

describe('purging a prefix of a versioned bucket', () => {
  async function start(bucket: string) {
    const standIn = versionedStandIn(bucket);
    await new Promise<void>((resolve) => standIn.server.listen(0, '127.0.0.1', resolve));
    const { port } = standIn.server.address() as AddressInfo;
    const s3 = createS3Client({
      ...s3ConfigFor(t),
      S3_BUCKET: bucket,
      S3_ENDPOINT_URL: `http://127.0.0.1:${port}`,
    });
    return {
      ...standIn,
      files: createCertificateFileEraser(s3, bucket, { pageSize: 2 }),
      stop: async () => {
        s3.destroy();
        await new Promise<void>((resolve) => standIn.server.close(() => resolve()));
      },
    };
  }

  it('deletes every version and delete marker under the prefix, page by page, and nothing else', async () => {
    const standIn = await start('versioned');
    try {
      const student = randomUUID();
      const prefix = `certificates/course/${student}/`;
      // A retried upload left three versions, an `aws s3 rm` a delete marker on top of them.
      standIn.add(`${prefix}a.pdf`, ['marker', 'version', 'version', 'version']);
      standIn.add(`${prefix}b.pdf`, ['version']);
      standIn.add(`certificates/course/${randomUUID()}/c.pdf`, ['version', 'version']);

      const preview = await standIn.files.purgePrefix(prefix, { dryRun: true });
      expect(preview).toEqual({ prefix, listing: 'all-versions', versions: 4, deleteMarkers: 1 });
      expect(standIn.left()).toHaveLength(7);

      const purged = await standIn.files.purgePrefix(prefix);
      expect(purged).toEqual({ prefix, listing: 'all-versions', versions: 4, deleteMarkers: 1 });
      expect(standIn.left().map(([key]) => key)).toEqual([
        expect.stringMatching(/\/c\.pdf$/),
        expect.stringMatching(/\/c\.pdf$/),
      ]);
      // Three pages of two, each deleted after it was listed.
      expect(standIn.requests.filter((request) => request.startsWith('POST'))).toHaveLength(3);
      expect(standIn.requests.some((request) => request.includes('list-type'))).toBe(false);
    } finally {
      await standIn.stop();
    }
  });

  it('a server with no versioning API (NotImplemented): the current objects, page by page, and it says so', async () => {
    const standIn = await start('unversioned');
    try {
      const prefix = `certificates/course/${randomUUID()}/`;
      for (const name of ['a', 'b', 'c', 'd', 'e']) standIn.add(`${prefix}${name}.pdf`, ['version']);
      standIn.add(`certificates/course/${randomUUID()}/z.pdf`, ['version']);
      standIn.failures.list = 501;

      expect(await standIn.files.purgePrefix(prefix, { dryRun: true })).toEqual({
        prefix,
        listing: 'current-objects',
        versions: 5,
        deleteMarkers: 0,
      });
      expect(standIn.left()).toHaveLength(6);
      expect(await standIn.files.purgePrefix(prefix)).toEqual({
        prefix,
        listing: 'current-objects',
        versions: 5,
        deleteMarkers: 0,
      });
      expect(standIn.left()).toEqual([[expect.stringMatching(/\/z\.pdf$/), false]]);
      // Three pages of two, each deleted after it was listed.
      expect(standIn.requests.filter((request) => request.startsWith('POST'))).toHaveLength(3);
    } finally {
      await standIn.stop();
    }
  });

  it('a refused listing is an error, never the current-objects fallback; so is a version it could not delete', async () => {
    const standIn = await start('refusing');
    try {
      const prefix = `certificates/course/${randomUUID()}/`;
      standIn.add(`${prefix}a.pdf`, ['version', 'version']);
      standIn.failures.list = 403;
      await expect(standIn.files.purgePrefix(prefix)).rejects.toBeInstanceOf(ConfigurationError);
      expect(standIn.requests.some((request) => request.includes('list-type'))).toBe(false);
      expect(standIn.left()).toHaveLength(2);

      standIn.failures.list = undefined;
      standIn.failures.deleteKey = `${prefix}a.pdf`;
      await expect(standIn.files.purgePrefix(prefix)).rejects.toThrow(
        /DeleteObjects failed for 2 of 2 object version\(s\).*AccessDenied.*s3:DeleteObjectVersion/,
      );
      await expect(standIn.files.purgePrefix(prefix)).rejects.toBeInstanceOf(ConfigurationError);
    } finally {
      await standIn.stop();
    }
  });
});
