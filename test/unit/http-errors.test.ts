import { describe, expect, it } from 'vitest';
import { InvalidTokenError, MissingTokenError } from '../../lib/auth/errors.ts';
import { downloadFileName } from '../../lib/certificates/read-model.ts';
import { ConfigError } from '../../lib/config.ts';
import {
  ConflictError,
  ForbiddenError,
  GoneError,
  NotFoundError,
  PermanentError,
  TransientError,
  ValidationError,
} from '../../lib/errors.ts';
import { mapError } from '../../lib/http/errors.ts';
import { decodeCursor, encodeCursor, pageQuery, pageQuerySchema } from '../../lib/http/pagination.ts';
import { jsonBody } from '../../lib/http/params.ts';
import { certificateIdPath } from '../../lib/http/routes/common.ts';
import { parseWith } from '../../lib/validation.ts';
import { apiEvent } from '../e2e/http-fixtures.ts';

function mapped(error: unknown) {
  const { response, serverFault } = mapError(error, 'req-1');
  return {
    status: response.statusCode,
    headers: response.headers,
    body: JSON.parse(response.body) as { error: Record<string, unknown> },
    serverFault,
  };
}

describe('error mapper', () => {
  it('maps each domain error to its status and a stable code', () => {
    const cases: [unknown, number, string][] = [
      [new ValidationError('certificateId must be a UUID', 'certificateId'), 400, 'invalid_parameter'],
      [new ValidationError('bad input'), 400, 'validation_error'],
      [new MissingTokenError(), 401, 'unauthenticated'],
      [new InvalidTokenError('The access token expired', 'expired'), 401, 'unauthenticated'],
      [new ForbiddenError('no'), 403, 'forbidden'],
      [new NotFoundError('Certificate'), 404, 'not_found'],
      [new ConflictError('busy'), 409, 'conflict'],
      [new GoneError('gone'), 410, 'gone'],
      [new PermanentError('course 42 missing in table x', 'course_missing'), 422, 'course_missing'],
      [new TransientError('s3 down', 's3'), 503, 'service_unavailable'],
      [new Error('boom'), 500, 'internal_error'],
    ];
    for (const [error, status, code] of cases) {
      const result = mapped(error);
      expect(result.status, code).toBe(status);
      expect(result.body.error.code, code).toBe(code);
      expect(result.body.error.requestId).toBe('req-1');
      expect(result.headers['Content-Type']).toContain('application/json');
    }
  });

  it('names the parameter of a 400', () => {
    expect(mapped(new ValidationError('studentId must be a UUID', 'studentId')).body.error).toMatchObject({
      parameter: 'studentId',
      message: 'studentId must be a UUID',
    });
  });

  it('challenges 401s per RFC 6750', () => {
    expect(mapped(new MissingTokenError()).headers['WWW-Authenticate']).toBe(
      'Bearer realm="course-certificates"',
    );
    expect(
      mapped(new InvalidTokenError('The access token expired', 'expired')).headers['WWW-Authenticate'],
    ).toBe(
      'Bearer realm="course-certificates", error="invalid_token", error_description="The access token expired"',
    );
  });

  it('challenges a 403 with insufficient_scope per RFC 6750 (section 3.1)', () => {
    const result = mapped(new ForbiddenError('no'));
    expect(result.status).toBe(403);
    expect(result.headers['WWW-Authenticate']).toBe(
      'Bearer realm="course-certificates", error="insufficient_scope"',
    );
  });

  it('never leaks internal messages or stacks of unexpected errors', () => {
    const error = new Error('password=hunter2 at connect (/srv/app/lib/db.ts:12:3)');
    const result = mapped(error);
    const text = JSON.stringify(result.body);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('db.ts');
    expect(result.body.error.message).toBe('Internal server error');
    expect(result.serverFault).toBe(true);
    const config = mapped(new ConfigError([{ variable: 'DATABASE_URL', message: 'is required' }]));
    expect(config.status).toBe(500);
    expect(JSON.stringify(config.body)).not.toContain('DATABASE_URL');
    const permanent = mapped(new PermanentError('student row 7 in table x vanished', 'student_missing'));
    expect(JSON.stringify(permanent.body)).not.toContain('table x');
  });

  // Each code by name (not read from the mapper's own list, which a test could not then catch
  // losing one): a request retried after any of them can succeed, so 503 with Retry-After, not 500.
  it.each([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'ENOTFOUND',
    'EAI_AGAIN',
    'CONNECT_TIMEOUT',
    'CONNECTION_CLOSED',
    'CONNECTION_ENDED',
    'CONNECTION_DESTROYED',
    '57P01',
    '57P03',
    '53300',
    '57014',
    '40001',
    '40P01',
    // A login refused while a password rotation reaches the container's cached secret.
    '28P01',
    '28000',
  ])('a database that cannot serve now (%s) is 503, not 500', (code) => {
    const result = mapped(Object.assign(new Error(`database said ${code}`), { code }));
    expect(result.status).toBe(503);
    expect(result.body.error.code).toBe('service_unavailable');
    expect(result.headers['Retry-After']).toBe('5');
    expect(JSON.stringify(result.body)).not.toContain('database said');
  });

  it('passes public conflict details through, drops objects, and sets Retry-After', () => {
    const result = mapped(
      new ConflictError('being generated', {
        code: 'certificate_not_ready',
        certificateStatus: 'pending',
        retryAfterSeconds: 5,
        internal: { sql: 'SELECT' },
        at: new Date('2026-01-01T00:00:00Z'),
      }),
    );
    expect(result.status).toBe(409);
    expect(result.headers['Retry-After']).toBe('5');
    expect(result.body.error).toEqual({
      code: 'certificate_not_ready',
      message: 'being generated',
      certificateStatus: 'pending',
      at: '2026-01-01T00:00:00.000Z',
      requestId: 'req-1',
    });
  });
});

describe('parameters', () => {
  it('validates UUID path parameters, naming them', () => {
    const id = 'A1B2C3D4-0000-4000-8000-000000000001';
    expect(parseWith(certificateIdPath, { certificateId: id })).toEqual({ certificateId: id.toLowerCase() });
    expect(() => parseWith(certificateIdPath, { certificateId: "1' OR 1=1" })).toThrow(
      /certificateId must be a UUID/,
    );
    expect(() => parseWith(certificateIdPath, {})).toThrow(/certificateId is required/);
  });

  it('validates integer query parameters', () => {
    expect(parseWith(pageQuerySchema, { limit: '10' })).toEqual({ limit: 10 });
    for (const bad of ['0', '101', '-1', '1.5', '1e3', 'ten', '99999999999']) {
      expect(() => parseWith(pageQuerySchema, { limit: bad }), bad).toThrow(/limit must be/);
    }
    expect(pageQuery(parseWith(pageQuerySchema, {}))).toEqual({ limit: 20 });
  });

  it('accepts limit=100, the documented maximum page size, and refuses 101', () => {
    expect(parseWith(pageQuerySchema, { limit: '100' })).toEqual({ limit: 100 });
    expect(() => parseWith(pageQuerySchema, { limit: '101' })).toThrow(/limit must be between 1 and 100/);
  });

  it('parses JSON bodies and rejects junk naming `body`', () => {
    expect(jsonBody(apiEvent('POST', '/x', { body: '{"a":1}' }))).toEqual({ a: 1 });
    expect(() => jsonBody(apiEvent('POST', '/x', { body: '{' }))).toThrow(/body must be valid JSON/);
    expect(() => jsonBody(apiEvent('POST', '/x'))).toThrow(/body is required/);
    expect(() => jsonBody(apiEvent('POST', '/x', { body: `"${'x'.repeat(20000)}"` }))).toThrow(/at most/);
  });

  it('decodes a body API Gateway base64-encoded (as it does for a non-text Content-Type)', () => {
    const body = Buffer.from('{"a":1}').toString('base64');
    expect(jsonBody({ ...apiEvent('POST', '/x', { body }), isBase64Encoded: true })).toEqual({ a: 1 });
  });
});

describe('cursor', () => {
  it('round-trips microsecond timestamps and rejects anything else', () => {
    const cursor = { createdAt: '2026-03-01T12:00:00.000001Z', id: '00000000-0000-4000-8000-000000000001' };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    const forged = Buffer.from(JSON.stringify({ v: 1, t: "2026'; DROP TABLE x", i: cursor.id })).toString(
      'base64url',
    );
    // The right shape, but no such instant: PostgreSQL would fail the query on it.
    const impossible = [
      '2024-13-45T99:00:00.000000Z',
      '2025-02-29T00:00:00.000000Z',
      '2026-01-01T24:00:00.000000Z',
      '0000-01-01T00:00:00.000000Z',
    ].map((t) => Buffer.from(JSON.stringify({ v: 1, t, i: cursor.id })).toString('base64url'));
    const leapDay = { createdAt: '2024-02-29T23:59:59.999999Z', id: cursor.id };
    expect(decodeCursor(encodeCursor(leapDay))).toEqual(leapDay);
    for (const bad of [
      '',
      'abc',
      '!!!',
      forged,
      Buffer.from('{"v":2}').toString('base64url'),
      ...impossible,
    ]) {
      expect(() => decodeCursor(bad), bad).toThrow(/cursor is not a valid pagination cursor/);
    }
  });
});

describe('download file name', () => {
  it('is readable and safe', () => {
    expect(downloadFileName({ courseTitle: 'Data Science 101', studentName: 'Ada Lovelace' })).toBe(
      'Certificate - Data Science 101 - Ada Lovelace.pdf',
    );
    expect(downloadFileName({ courseTitle: '../../etc/passwd', studentName: 'a"b\r\nSet-Cookie: x' })).toBe(
      'Certificate - etc passwd - a b Set-Cookie x.pdf',
    );
    // A right-to-left override would disguise the extension.
    expect(downloadFileName({ courseTitle: 'Course', studentName: 'evil\u202Efdp.exe' })).toBe(
      'Certificate - Course - evil fdp.exe.pdf',
    );
    expect(downloadFileName({ courseTitle: 'Курс 数据', studentName: null })).toBe(
      'Certificate - Курс 数据.pdf',
    );
    for (const long of ['x'.repeat(500), '数'.repeat(500), '😀'.repeat(500)]) {
      const name = downloadFileName({ courseTitle: long, studentName: long });
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
      expect(name).toMatch(/\.pdf$/);
      expect(name).not.toContain('\uFFFD');
    }
    // What the printed name keeps to be spelled right stays in the file name: ZWNJ, ZWJ, a flag.
    const scotland = '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}';
    for (const printed of ['مریم علی\u200Cزاده', 'लक्ष्\u200Dमी', '👩\u200D💻 Ada', `${scotland} Ewan`])
      expect(downloadFileName({ courseTitle: 'Data', studentName: printed })).toBe(
        `Certificate - Data - ${printed}.pdf`,
      );
    // Cut by whole characters as a reader sees them: never half a ZWJ sequence or a flag.
    const family = '👨\u200D👩\u200D👧\u200D👦';
    const cut = downloadFileName({ courseTitle: 'Data', studentName: family.repeat(20) });
    expect(cut.replace('Certificate - Data - ', '').replace('.pdf', '')).toMatch(
      new RegExp(`^(${family})+$`, 'u'),
    );
  });
});
