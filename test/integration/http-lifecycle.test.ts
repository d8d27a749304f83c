import { randomUUID } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as createGetHandler } from '../../functions/http/get-certificate.ts';
import { createHandler as createDownloadHandler } from '../../functions/http/get-certificate-download.ts';
import { createHandler as createGetCourseLifecycleHandler } from '../../functions/http/get-course-lifecycle.ts';
import { createHandler as createLaterPassesHandler } from '../../functions/http/list-later-passes.ts';
import { createHandler as createReissueHandler } from '../../functions/http/reissue-certificate.ts';
import { createHandler as createRevokeHandler } from '../../functions/http/revoke-certificate.ts';
import { createHandler as createUpdateCourseLifecycleHandler } from '../../functions/http/update-course-lifecycle.ts';
import { createTokenVerifier } from '../../lib/auth/verifier.ts';
import { applyLaterPassRule, assignIssueLifecycle } from '../../lib/certificates/lifecycle.ts';
import type { Dispatch } from '../../lib/certificates/ports.ts';
import { loadConfig } from '../../lib/config.ts';
import { getBit } from '../../lib/credentials/status-list.ts';
import type { CertificateReadDeps } from '../../lib/http/deps.ts';
import type { HttpResponse } from '../../lib/http/response.ts';
import {
  certificateSchema,
  errorSchema,
  laterPassListSchema,
  reissueResultSchema,
  revokeResultSchema,
} from '../../lib/http/schemas.ts';
import { logger } from '../../lib/observability/logger.ts';
import { createCertificateStorage } from '../../lib/storage/s3.ts';
import {
  apiEvent,
  insertCertificate,
  insertCourse,
  lambdaContext,
  type Status,
} from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { issueReplacement } from './lifecycle-fixtures.ts';

/** POST /api/v1/certificates/{certificateId}/revoke and /reissue, in-process against the real stack. */

let t: TestEnv;
let kc: ReturnType<typeof keycloakControl>;
let deps: Required<CertificateReadDeps>;
let s3: S3Client;
const ids = { alice: '', staff: '', teacher: '' };

const errorOf = (response: HttpResponse) => errorSchema.parse(JSON.parse(response.body)).error;

function post(
  action: 'revoke' | 'reissue',
  certificateId: string,
  token: string,
  body: unknown,
  dispatch: Dispatch = async () => undefined,
): Promise<HttpResponse> {
  const event = apiEvent('POST', `/api/v1/certificates/{certificateId}/${action}`, {
    pathParameters: { certificateId },
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const handler =
    action === 'revoke'
      ? createRevokeHandler(deps)
      : createReissueHandler({ ...deps, dispatch, dispatchLeaseSeconds: 300 });
  return handler(event, lambdaContext());
}

function download(certificateId: string, token: string): Promise<HttpResponse> {
  return createDownloadHandler({
    ...deps,
    storage: createCertificateStorage(s3, t.bucket),
    download: { defaultTtlSeconds: 3600, maxTtlSeconds: 86400 },
  })(
    apiEvent('GET', '/api/v1/certificates/{certificateId}/download', {
      pathParameters: { certificateId },
      headers: { authorization: `Bearer ${token}` },
    }),
    lambdaContext(),
  );
}

async function view(certificateId: string, token: string, withDeps: CertificateReadDeps = deps) {
  const response = await createGetHandler(withDeps)(
    apiEvent('GET', '/api/v1/certificates/{certificateId}', {
      pathParameters: { certificateId },
      headers: { authorization: `Bearer ${token}` },
    }),
    lambdaContext(),
  );
  expect(response.statusCode).toBe(200);
  return certificateSchema.parse(JSON.parse(response.body));
}

function laterPasses(courseId: string, token: string): Promise<HttpResponse> {
  return createLaterPassesHandler(deps)(
    apiEvent('GET', '/api/v1/courses/{courseId}/later-passes', {
      pathParameters: { courseId },
      headers: { authorization: `Bearer ${token}` },
    }),
    lambdaContext(),
  );
}

/** A dispatch that records the ids it was asked to start. */
function recordingDispatch(): { dispatch: Dispatch; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    dispatch: async (id) => {
      calls.push(id);
    },
  };
}

/** A certificate of Alice's in `status`; issued ones get their status-list entry as generate gives it. */
async function seeded(status: Status = 'issued'): Promise<string> {
  const certificate = await insertCertificate(t.sql, { studentId: ids.alice, status });
  if (status === 'issued') await assignIssueLifecycle(t.sql, certificate.id);
  return certificate.id;
}

async function row(id: string) {
  const [found] = await t.sql<
    {
      status: string;
      revocation_reason: string | null;
      revoked_reason: string | null;
      revoked_by: string | null;
      revoked_at: Date | null;
      superseded_by: string | null;
      test_attempt_id: string;
    }[]
  >`SELECT status::text, revocation_reason, revoked_reason, revoked_by, revoked_at, superseded_by, test_attempt_id
    FROM certificates WHERE id = ${id}`;
  return found;
}

async function audit(id: string) {
  return t.sql<
    {
      event: string;
      from_status: string | null;
      to_status: string | null;
      actor: string | null;
      message: string | null;
      details: Record<string, unknown>;
    }[]
  >`SELECT event, from_status::text, to_status::text, actor, message, details
    FROM certificate_generation_log WHERE certificate_id = ${id} ORDER BY id`;
}

async function statusBit(id: string): Promise<boolean> {
  const [entry] = await t.sql<{ bits: Buffer; status_list_index: number }[]>`
    SELECT l.bits, c.status_list_index FROM certificates c JOIN status_lists l ON l.id = c.status_list_id
    WHERE c.id = ${id}`;
  if (!entry) throw new Error(`certificate ${id} has no status entry`);
  return getBit(new Uint8Array(entry.bits), entry.status_list_index);
}

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  t = await createTestEnv();
  kc = keycloakControl(t.keycloakUrl);
  ids.alice = (await kc.addUser({ firstName: 'Alice' })).id;
  ids.staff = (await kc.addUser({ firstName: 'Grace', realmRoles: ['certificate-admin'] })).id;
  ids.teacher = (await kc.addUser({ firstName: 'Tess', realmRoles: ['teacher'] })).id;
  deps = {
    sql: t.sql,
    verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth),
    corsOrigins: [],
    links: {
      verifyBaseUrl: 'https://certs.example.org/verify/',
      issuer: { organizationName: 'Example Academy' },
    },
  };
  s3 = new S3Client({
    endpoint: t.env.S3_ENDPOINT_URL,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
});

afterAll(async () => {
  s3?.destroy();
  await t?.cleanup();
});

describe('revoke in-process', () => {
  it('staff revoke with a reason: 200, revoked with actor and reason, status bit set, audit row, download 410', async () => {
    const id = await seeded();
    expect(await statusBit(id)).toBe(false);
    const response = await post('revoke', id, await kc.token(ids.staff), {
      reasonCode: 'academic-misconduct',
      reasonText: 'plagiarism found in the final project',
    });

    expect(response.statusCode).toBe(200);
    const result = revokeResultSchema.parse(JSON.parse(response.body));
    expect(result).toMatchObject({
      id,
      status: 'revoked',
      reasonCode: 'academic-misconduct',
      reasonText: 'plagiarism found in the final project',
      statusListUpdated: true,
    });
    expect(await row(id)).toMatchObject({
      status: 'revoked',
      revocation_reason: 'academic-misconduct',
      revoked_reason: 'plagiarism found in the final project',
      revoked_by: ids.staff,
      revoked_at: new Date(result.revokedAt),
    });
    expect(await statusBit(id)).toBe(true);
    expect(await audit(id)).toEqual([
      expect.objectContaining({
        event: 'revoked',
        from_status: 'issued',
        to_status: 'revoked',
        actor: ids.staff,
        message: 'plagiarism found in the final project',
        details: expect.objectContaining({ reason_code: 'academic-misconduct' }),
      }),
    ]);

    const gone = await download(id, await kc.token(ids.alice));
    expect(gone.statusCode).toBe(410);
    expect(errorOf(gone)).toMatchObject({ code: 'certificate_revoked', certificateStatus: 'revoked' });
  });

  it('a second revoke gets 409 saying it is already revoked, and the first reason stays', async () => {
    const id = await seeded();
    const token = await kc.token(ids.staff);
    expect((await post('revoke', id, token, { reasonCode: 'issued-in-error' })).statusCode).toBe(200);
    const again = await post('revoke', id, token, { reasonCode: 'other', reasonText: 'changed my mind' });
    expect(again.statusCode).toBe(409);
    expect(errorOf(again)).toMatchObject({ code: 'conflict', status: 'revoked' });
    expect(await row(id)).toMatchObject({ revocation_reason: 'issued-in-error', revoked_reason: null });
    expect((await audit(id)).filter((entry) => entry.event === 'revoked')).toHaveLength(1);
  });

  it('of three concurrent revokes exactly one answers 200 and the others 409', async () => {
    const id = await seeded();
    const token = await kc.token(ids.staff);
    const responses = await Promise.all(
      [0, 1, 2].map(() => post('revoke', id, token, { reasonCode: 'identity-fraud' })),
    );
    expect(responses.map((response) => response.statusCode).sort()).toEqual([200, 409, 409]);
    expect((await audit(id)).filter((entry) => entry.event === 'revoked')).toHaveLength(1);
  });

  it('a bad body gets 400 naming the field, and nothing changes', async () => {
    const id = await seeded();
    const token = await kc.token(ids.staff);
    const unknownReason = await post('revoke', id, token, { reasonCode: 'bored' });
    expect(unknownReason.statusCode).toBe(400);
    expect(errorOf(unknownReason)).toMatchObject({ code: 'invalid_parameter', parameter: 'reasonCode' });
    const otherWithoutText = await post('revoke', id, token, { reasonCode: 'other' });
    expect(otherWithoutText.statusCode).toBe(400);
    expect(errorOf(otherWithoutText)).toMatchObject({ code: 'invalid_parameter', parameter: 'reasonText' });
    const tooLong = await post('revoke', id, token, { reasonCode: 'other', reasonText: 'x'.repeat(1001) });
    expect(errorOf(tooLong)).toMatchObject({ code: 'invalid_parameter', parameter: 'reasonText' });
    const unknownField = await post('revoke', id, token, {
      reasonCode: 'other',
      reasonText: 'x',
      undo: true,
    });
    expect(unknownField.statusCode).toBe(400);
    // Valid JSON, but PostgreSQL's text cannot hold U+0000: a 400 naming the field, not a 500.
    const withNul = await post('revoke', id, token, { reasonCode: 'other', reasonText: 'a\u0000b' });
    expect(withNul.statusCode).toBe(400);
    expect(errorOf(withNul)).toMatchObject({ code: 'invalid_parameter', parameter: 'reasonText' });
    const reissueWithNul = await post('reissue', id, token, { reason: '\u0000' });
    expect(reissueWithNul.statusCode).toBe(400);
    expect(errorOf(reissueWithNul)).toMatchObject({ code: 'invalid_parameter', parameter: 'reason' });
    // Thousands of nested brackets (within the 16 KB limit): a 400, with or without a NUL inside.
    let deep: unknown = 'x';
    let deepWithNul: unknown = '\u0000';
    for (let level = 0; level < 4000; level += 1) {
      deep = [deep];
      deepWithNul = [deepWithNul];
    }
    expect((await post('revoke', id, token, deep)).statusCode).toBe(400);
    const nested = await post('revoke', id, token, deepWithNul);
    expect(nested.statusCode).toBe(400);
    expect(errorOf(nested).message).toMatch(/^0\.0\.0\..* must not contain NUL characters/);
    expect((await row(id))?.status).toBe('issued');
    expect(await statusBit(id)).toBe(false);
    expect(await audit(id)).toEqual([]);
  });

  it('a student, even the holder, gets 403 and nothing changes', async () => {
    const id = await seeded();
    const response = await post('revoke', id, await kc.token(ids.alice), {
      reasonCode: 'requested-by-holder',
    });
    expect(response.statusCode).toBe(403);
    expect(errorOf(response).code).toBe('forbidden');
    expect((await row(id))?.status).toBe('issued');
  });

  it('an unknown id gets 404; a certificate still being generated gets 409 with its status', async () => {
    const token = await kc.token(ids.staff);
    const unknown = await post('revoke', randomUUID(), token, { reasonCode: 'issued-in-error' });
    expect(unknown.statusCode).toBe(404);
    expect(errorOf(unknown).code).toBe('not_found');
    const pending = await seeded('pending');
    const early = await post('revoke', pending, token, { reasonCode: 'issued-in-error' });
    expect(early.statusCode).toBe(409);
    expect(errorOf(early)).toMatchObject({ status: 'pending' });
    expect((await row(pending))?.status).toBe('pending');
  });
});

describe('reissue in-process', () => {
  it('staff reissue: 201, a new pending certificate of the same attempt is dispatched; the old one stays downloadable until it is issued, then is superseded', async () => {
    const id = await seeded();
    const { dispatch, calls } = recordingDispatch();
    const response = await post(
      'reissue',
      id,
      await kc.token(ids.staff),
      { reason: 'name changed' },
      dispatch,
    );

    expect(response.statusCode).toBe(201);
    const result = reissueResultSchema.parse(JSON.parse(response.body));
    expect(result).toMatchObject({ supersedes: id, status: 'pending', dispatched: true });
    expect(result.id).not.toBe(id);
    expect(calls).toEqual([result.id]);
    // The resource created is the new certificate, not the .../reissue URL asked (RFC 9110 15.3.2).
    expect(response.headers.Location).toBe(`/api/v1/certificates/${result.id}`);

    const old = await row(id);
    expect(old).toMatchObject({ status: 'issued', superseded_by: null });
    expect(await row(result.id)).toMatchObject({ status: 'pending', test_attempt_id: old?.test_attempt_id });
    expect(await statusBit(id)).toBe(false);
    expect(await audit(id)).toEqual([
      expect.objectContaining({ event: 'reissue-requested', actor: ids.staff, message: 'name changed' }),
    ]);
    expect(await audit(result.id)).toEqual([
      expect.objectContaining({
        event: 'created',
        actor: ids.staff,
        message: 'name changed',
        details: expect.objectContaining({ reissue_of: id }),
      }),
    ]);

    // Until the replacement is issued the holder keeps a valid, downloadable certificate; the
    // replacement is on its way, not downloadable yet.
    const token = await kc.token(ids.alice);
    expect((await download(id, token)).statusCode).toBe(200);
    expect((await download(result.id, token)).statusCode).toBe(409);

    await issueReplacement(t.sql, result.id);
    expect(await row(id)).toMatchObject({ status: 'superseded', superseded_by: result.id });
    expect(await statusBit(id)).toBe(true);
    expect(await audit(id)).toEqual([
      expect.objectContaining({ event: 'reissue-requested' }),
      expect.objectContaining({ event: 'superseded', actor: ids.staff, message: 'name changed' }),
    ]);
    const gone = await download(id, token);
    expect(gone.statusCode).toBe(410);
    expect(errorOf(gone)).toMatchObject({ code: 'certificate_superseded', supersededBy: result.id });
  });

  it('answers 201 when the immediate invoke fails and leaves the new certificate to the scan', async () => {
    const id = await seeded();
    const response = await post(
      'reissue',
      id,
      await kc.token(ids.staff),
      { reason: 'template fix' },
      async () => {
        throw new Error('lambda down');
      },
    );
    expect(response.statusCode).toBe(201);
    const result = reissueResultSchema.parse(JSON.parse(response.body));
    expect(result.dispatched).toBe(false);
    const [successor] = await t.sql<{ dispatched_until: Date | null }[]>`
      SELECT dispatched_until FROM certificates WHERE id = ${result.id}`;
    expect(successor?.dispatched_until).toBeNull();
  });

  it('a second reissue gets 409 (replacement-pending, then superseded); a revoked certificate cannot be reissued (409 revoked)', async () => {
    const id = await seeded();
    const token = await kc.token(ids.staff);
    const { dispatch, calls } = recordingDispatch();
    const first = await post('reissue', id, token, { reason: 'first' }, dispatch);
    expect(first.statusCode).toBe(201);
    const again = await post('reissue', id, token, { reason: 'second' }, dispatch);
    expect(again.statusCode).toBe(409);
    expect(errorOf(again)).toMatchObject({ code: 'conflict', status: 'replacement-pending' });
    await issueReplacement(t.sql, reissueResultSchema.parse(JSON.parse(first.body)).id);
    const late = await post('reissue', id, token, { reason: 'third' }, dispatch);
    expect(errorOf(late)).toMatchObject({ code: 'conflict', status: 'superseded' });

    const revoked = await seeded();
    expect((await post('revoke', revoked, token, { reasonCode: 'issued-in-error' })).statusCode).toBe(200);
    const refused = await post('reissue', revoked, token, { reason: 'undo the revocation' }, dispatch);
    expect(refused.statusCode).toBe(409);
    expect(errorOf(refused)).toMatchObject({ status: 'revoked' });
    expect(calls).toHaveLength(1);
  });

  it('a bad body gets 400 naming reason; a student gets 403; nothing changes', async () => {
    const id = await seeded();
    const { dispatch, calls } = recordingDispatch();
    const empty = await post('reissue', id, await kc.token(ids.staff), { reason: '  ' }, dispatch);
    expect(empty.statusCode).toBe(400);
    expect(errorOf(empty)).toMatchObject({ code: 'invalid_parameter', parameter: 'reason' });
    const missing = await post('reissue', id, await kc.token(ids.staff), {}, dispatch);
    expect(errorOf(missing)).toMatchObject({ code: 'invalid_parameter', parameter: 'reason' });
    const student = await post('reissue', id, await kc.token(ids.alice), { reason: 'my name' }, dispatch);
    expect(student.statusCode).toBe(403);
    // Teachers read certificates; revoking and reissuing is for certificate admins only.
    const teacher = await post('reissue', id, await kc.token(ids.teacher), { reason: 'typo' }, dispatch);
    expect(teacher.statusCode).toBe(403);
    const teacherRevoke = await post('revoke', id, await kc.token(ids.teacher), {
      reasonCode: 'issued-in-error',
    });
    expect(teacherRevoke.statusCode).toBe(403);
    expect((await row(id))?.status).toBe('issued');
    expect(calls).toEqual([]);
  });
});

describe('read side', () => {
  it('the holder sees a revoked certificate with its date, reason and text', async () => {
    const id = await seeded();
    const response = await post('revoke', id, await kc.token(ids.staff), {
      reasonCode: 'other',
      reasonText: 'course withdrawn by the accreditor',
    });
    const { revokedAt } = revokeResultSchema.parse(JSON.parse(response.body));
    expect(await view(id, await kc.token(ids.alice))).toMatchObject({
      status: 'revoked',
      effectiveStatus: 'revoked',
      downloadable: false,
      revokedAt,
      revocationReason: 'other',
      revocationText: 'course withdrawn by the accreditor',
      linkedInUrl: null,
    });
  });

  it('a superseded certificate names its successor; an issued one past expiresAt says expired', async () => {
    const id = await seeded();
    const token = await kc.token(ids.alice);
    const reissued = reissueResultSchema.parse(
      JSON.parse((await post('reissue', id, await kc.token(ids.staff), { reason: 'typo' })).body),
    );
    // Still the holder's valid certificate while its replacement waits.
    expect(await view(id, token)).toMatchObject({ status: 'issued', supersededBy: null, downloadable: true });
    await issueReplacement(t.sql, reissued.id);
    const old = await view(id, token);
    expect(old).toMatchObject({
      status: 'superseded',
      supersededBy: reissued.id,
      downloadable: false,
      linkedInUrl: null,
    });
    expect(old.supersededAt).not.toBeNull();

    const expiry = new Date(Date.now() - 60_000).toISOString();
    const expired = await insertCertificate(t.sql, { studentId: ids.alice, expiresAt: expiry });
    expect(await view(expired.id, token)).toMatchObject({
      status: 'issued',
      effectiveStatus: 'expired',
      expiresAt: expiry,
      downloadable: false,
      linkedInUrl: null,
    });
    const future = new Date(Date.now() + 86_400_000).toISOString();
    const valid = await insertCertificate(t.sql, { studentId: ids.alice, expiresAt: future });
    expect(await view(valid.id, token)).toMatchObject({
      effectiveStatus: 'issued',
      expiresAt: future,
      downloadable: true,
    });
  });

  it('an issued certificate offers Add to LinkedIn pointing at its verification page; others do not', async () => {
    const token = await kc.token(ids.alice);
    const future = '2031-07-15T00:00:00.000Z';
    const valid = await insertCertificate(t.sql, {
      studentId: ids.alice,
      courseTitle: 'Химия 101',
      expiresAt: future,
    });
    const current = await view(valid.id, token);
    const url = new URL(current.linkedInUrl ?? '');
    expect(`${url.origin}${url.pathname}`).toBe('https://www.linkedin.com/profile/add');
    const [year, month] = (current.issuedOn ?? '').split('-');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      startTask: 'CERTIFICATION_NAME',
      name: 'Химия 101',
      organizationName: 'Example Academy',
      issueYear: year,
      issueMonth: String(Number(month)),
      expirationYear: '2031',
      expirationMonth: '7',
      certUrl: `https://certs.example.org/verify/${valid.verificationCode}`,
      certId: valid.verificationCode,
    });

    const withId = await view(valid.id, token, {
      ...deps,
      links: { ...deps.links, issuer: { organizationName: 'x', organizationId: '1337' } },
    });
    const linked = new URL(withId.linkedInUrl ?? '').searchParams;
    expect(linked.get('organizationId')).toBe('1337');
    expect(linked.has('organizationName')).toBe(false);

    const pending = await insertCertificate(t.sql, { studentId: ids.alice, status: 'pending' });
    expect((await view(pending.id, token)).linkedInUrl).toBeNull();
    // Without configured links (tests, tools) the field is there and null.
    const bare = await view(valid.id, token, { sql: deps.sql, verifier: deps.verifier, corsOrigins: [] });
    expect(bare.linkedInUrl).toBeNull();
  });

  it('certificate admins see the later passes a dead certificate blocks, per course; students and teachers get 403, unknown courses 404', async () => {
    const dead = await insertCertificate(t.sql, { studentId: ids.alice, status: 'dead' });
    const [retake] = await t.sql<{ id: string }[]>`
      INSERT INTO test_attempts (student_id, course_id, score, max_score, passed)
      VALUES (${ids.alice}, ${dead.courseId}, 95, 100, true) RETURNING id`;
    await applyLaterPassRule({ sql: t.sql, log: logger }, { attemptId: retake?.id ?? '' });
    const elsewhere = await insertCertificate(t.sql, { studentId: ids.alice, status: 'dead' });

    const response = await laterPasses(dead.courseId, await kc.token(ids.staff));
    expect(response.statusCode).toBe(200);
    const list = laterPassListSchema.parse(JSON.parse(response.body));
    expect(list.items).toEqual([
      {
        attemptId: retake?.id,
        studentId: ids.alice,
        courseId: dead.courseId,
        deadCertificateId: dead.id,
        since: expect.any(String),
      },
    ]);
    const other = laterPassListSchema.parse(
      JSON.parse((await laterPasses(elsewhere.courseId, await kc.token(ids.staff))).body),
    );
    expect(other.items).toEqual([]);

    expect((await laterPasses(dead.courseId, await kc.token(ids.alice))).statusCode).toBe(403);
    // The work list belongs to whoever may act on it (`certificates:lifecycle`): a teacher reads
    // certificates but cannot requeue, revoke or reissue.
    const byTeacher = await laterPasses(dead.courseId, await kc.token(ids.teacher));
    expect(byTeacher.statusCode).toBe(403);
    expect(errorOf(byTeacher).code).toBe('forbidden');
    const unknown = await laterPasses(randomUUID(), await kc.token(ids.staff));
    expect(unknown.statusCode).toBe(404);
  });
});

describe('course lifecycle settings in-process', () => {
  function settings(courseId: string, token: string, body?: unknown): Promise<HttpResponse> {
    const path = '/api/v1/courses/{courseId}/lifecycle';
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    return body === undefined
      ? createGetCourseLifecycleHandler(deps)(
          apiEvent('GET', path, { pathParameters: { courseId }, headers }),
          lambdaContext(),
        )
      : createUpdateCourseLifecycleHandler(deps)(
          apiEvent('POST', path, { pathParameters: { courseId }, headers, body: JSON.stringify(body) }),
          lambdaContext(),
        );
  }

  it('staff read and change them; a change is audited with actor and reason, a no-op is not; teachers may not', async () => {
    const courseId = await insertCourse(t.sql);
    const staff = await kc.token(ids.staff);
    const read = await settings(courseId, staff);
    expect(JSON.parse(read.body)).toEqual({ courseId, validityMonths: null, reissueOnBetterScore: false });

    const changed = await settings(courseId, staff, { validityMonths: 24, reason: 'accreditation rule' });
    expect(changed.statusCode).toBe(200);
    expect(JSON.parse(changed.body)).toEqual({
      courseId,
      validityMonths: 24,
      reissueOnBetterScore: false,
      changed: true,
    });
    const again = await settings(courseId, staff, { validityMonths: 24 });
    expect(JSON.parse(again.body)).toMatchObject({ changed: false });
    const log =
      await t.sql`SELECT actor, changes, reason FROM course_settings_log WHERE course_id = ${courseId}`;
    expect(log).toEqual([
      { actor: ids.staff, changes: { validityMonths: { from: null, to: 24 } }, reason: 'accreditation rule' },
    ]);

    expect((await settings(courseId, staff, { validityMonths: 0 })).statusCode).toBe(400);
    expect((await settings(courseId, staff, {})).statusCode).toBe(400);
    expect((await settings(courseId, await kc.token(ids.teacher), { validityMonths: 12 })).statusCode).toBe(
      403,
    );
    expect((await settings(randomUUID(), staff)).statusCode).toBe(404);
  });
});
