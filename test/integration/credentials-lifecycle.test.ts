import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeCertificate } from '../../lib/certificates/lifecycle.ts';
import {
  type CredentialSettings,
  holderSubjectId,
  openBadgeForCertificate,
  signedOpenBadgeForCertificate,
  signedStatusList,
} from '../../lib/credentials/credential-service.ts';
import { decodeStatusList, getBit, type JwtSigner, setIndexes } from '../../lib/credentials/status-list.ts';
import { ConflictError, NotFoundError } from '../../lib/errors.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { validateOpenBadge as validate } from '../support/open-badges-schema.ts';
import { issuedCertificate } from './lifecycle-fixtures.ts';
import { createCourse, createPendingCertificate, recordingLog } from './pipeline-fixtures.ts';

let t: TestEnv;
const keys = await generateKeyPair('ES256', { extractable: true });
const publicKey = await importJWK(await exportJWK(keys.publicKey), 'ES256');
const sign: JwtSigner = (payload, header) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'issuer-1', ...header }).sign(keys.privateKey);
const settings: CredentialSettings = {
  apiBaseUrl: 'https://certs.example.org/api/v1',
  verifyBaseUrl: 'https://certs.example.org/verify',
  issuer: { id: 'https://certs.example.org', name: 'Example Academy' },
  statusListTtlSeconds: 300,
};

beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

/** What a verifier does with a credential's status entry: fetch the list (here: the route's use-case), check the bit. */
async function resolveStatus(entry: {
  statusListCredential: string;
  statusListIndex: string;
}): Promise<boolean> {
  const listId = entry.statusListCredential.split('/').pop() ?? '';
  const list = await signedStatusList({ sql: t.sql, sign }, settings, listId);
  const { payload } = await jwtVerify(list.jwt, publicKey, { issuer: settings.issuer.id });
  const subject = payload.credentialSubject as { encodedList: string; statusPurpose: string; ttl: number };
  expect(subject).toMatchObject({ statusPurpose: 'revocation', ttl: 300_000 });
  return getBit(decodeStatusList(subject.encodedList), Number(entry.statusListIndex));
}

describe('credentials of a certificate through its lifecycle', () => {
  it('serves an OB 3.0 credential whose status entry resolves to valid, then to revoked after revocation', async () => {
    const courseId = await createCourse(t.sql, { title: 'Quantum Knitting' });
    await t.sql`UPDATE courses SET validity_months = 24 WHERE id = ${courseId}`;
    const cert = await issuedCertificate(t.sql, { courseId });

    const jwt = await signedOpenBadgeForCertificate({ sql: t.sql, sign }, settings, cert.id);
    expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: 'ES256', kid: 'issuer-1', typ: 'JWT' });
    const { payload } = await jwtVerify(jwt, publicKey, { issuer: 'https://certs.example.org' });
    expect(validate(payload), JSON.stringify(validate.errors)).toBe(true);
    const [row] = await t.sql<{ verification_code: string; expires_at: Date }[]>`
      SELECT verification_code, expires_at FROM certificates WHERE id = ${cert.id}`;
    if (!row) throw new Error('certificate vanished');
    expect(payload).toMatchObject({
      jti: `https://certs.example.org/verify/${row.verification_code}`,
      sub: holderSubjectId(cert.studentId, cert.id),
      exp: Math.floor(row.expires_at.getTime() / 1000),
      name: 'Quantum Knitting',
    });
    const entry = payload.credentialStatus as { statusListCredential: string; statusListIndex: string };
    expect(await resolveStatus(entry)).toBe(false);

    await revokeCertificate(
      { sql: t.sql, log: recordingLog() },
      { certificateId: cert.id, reasonCode: 'issued-in-error', actor: 'staff' },
    );

    expect(await resolveStatus(entry)).toBe(true);
    // The revoked certificate's credential is still served: its status says what it is.
    const again = decodeJwt(await signedOpenBadgeForCertificate({ sql: t.sql, sign }, settings, cert.id));
    expect(again.credentialStatus).toEqual(entry);
  });

  it('serves the list with Cache-Control matching its ttl and exactly the revoked entries set', async () => {
    const courseId = await createCourse(t.sql);
    const a = await issuedCertificate(t.sql, { courseId });
    const b = await issuedCertificate(t.sql, { courseId });
    await revokeCertificate(
      { sql: t.sql, log: recordingLog() },
      { certificateId: b.id, reasonCode: 'other', reasonText: 'x', actor: 's' },
    );
    const [rows] = await t.sql`SELECT status_list_id FROM certificates WHERE id = ${a.id}`;
    const list = await signedStatusList({ sql: t.sql, sign }, settings, rows?.status_list_id);
    expect(list.cacheControl).toBe('public, max-age=300');
    expect(decodeProtectedHeader(list.jwt)).toMatchObject({ typ: 'vc+jwt', cty: 'vc' });
    const revokedIndexes = await t.sql<{ status_list_index: number }[]>`
      SELECT status_list_index FROM certificates WHERE status_list_id = ${rows?.status_list_id} AND status IN ('revoked', 'superseded')
      ORDER BY status_list_index`;
    const subject = decodeJwt(list.jwt).credentialSubject as { encodedList: string };
    expect(setIndexes(decodeStatusList(subject.encodedList))).toEqual(
      revokedIndexes.map((r) => r.status_list_index),
    );
  });

  it('publishes the same list after an index is handed out; only a revocation moves its validFrom', async () => {
    // Bitstring Status List §6.5: allocation should not change what the list shows, or polling
    // it tells when certificates were issued.
    const courseId = await createCourse(t.sql);
    const a = await issuedCertificate(t.sql, { courseId });
    const listOf = async (id: string) =>
      String((await t.sql`SELECT status_list_id FROM certificates WHERE id = ${id}`)[0]?.status_list_id);
    const listId = await listOf(a.id);
    await t.sql`UPDATE status_lists SET updated_at = '2025-01-01T00:00:00Z' WHERE id = ${listId}`;
    const published = async () => {
      const credential = decodeJwt((await signedStatusList({ sql: t.sql, sign }, settings, listId)).jwt);
      return {
        validFrom: credential.validFrom,
        encodedList: (credential.credentialSubject as { encodedList: string }).encodedList,
      };
    };
    const before = await published();
    // A minute before the minute of the change: a verifier whose clock is behind still accepts it.
    expect(before.validFrom).toBe('2024-12-31T23:59:00Z');

    const b = await issuedCertificate(t.sql, { courseId });
    expect(await listOf(b.id)).toBe(listId);
    expect(await published()).toEqual(before);

    await revokeCertificate(
      { sql: t.sql, log: recordingLog() },
      { certificateId: b.id, reasonCode: 'other', reasonText: 'x', actor: 's' },
    );
    const after = await published();
    expect(after.encodedList).not.toBe(before.encodedList);
    const [changed] = await t.sql<
      { updated_at: Date }[]
    >`SELECT updated_at FROM status_lists WHERE id = ${listId}`;
    const validFrom = Date.parse(String(after.validFrom));
    expect(validFrom % 60_000).toBe(0);
    expect(validFrom).toBeLessThanOrEqual((changed?.updated_at.getTime() ?? 0) - 60_000);
    expect(validFrom).toBeGreaterThan((changed?.updated_at.getTime() ?? 0) - 120_000);
  });

  it('has no credential for a certificate not generated yet, and no list for an unknown id', async () => {
    const courseId = await createCourse(t.sql);
    const pending = await createPendingCertificate(t.sql, { studentId: crypto.randomUUID(), courseId });
    await expect(openBadgeForCertificate({ sql: t.sql }, settings, pending)).rejects.toThrow(ConflictError);
    await expect(signedStatusList({ sql: t.sql, sign }, settings, crypto.randomUUID())).rejects.toThrow(
      NotFoundError,
    );
    await expect(signedStatusList({ sql: t.sql, sign }, settings, 'not-a-uuid')).rejects.toThrow(
      NotFoundError,
    );
  });
});
