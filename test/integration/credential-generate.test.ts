import { compactVerify, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import type { CertificateStore } from '../../lib/certificates/ports.ts';
import { findPublicCertificate } from '../../lib/certificates/read-model.ts';
import { factsMatch, verifyCredential } from '../../lib/credentials/credential.ts';
import { openBadgeForCertificate } from '../../lib/credentials/credential-service.ts';
import { jwksDocument } from '../../lib/credentials/jwks.ts';
import {
  CompromisedKeyError,
  createKeyStateReader,
  keyState,
  markKeyCompromised,
  publishedKeys,
  registerSigningKey,
} from '../../lib/credentials/key-store.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import { checkCertificate } from '../../lib/credentials/offline-check.ts';
import { openBadgeJwtClaims } from '../../lib/credentials/open-badge.ts';
import { readPdfAttachments } from '../../lib/credentials/pdf-attachments.ts';
import { createCredentialSigner, createIssuerKey } from '../../lib/credentials/signer.ts';
import { TransientError } from '../../lib/errors.ts';
import { CREDENTIAL_ATTACHMENT, OPEN_BADGE_ATTACHMENT } from '../../lib/render/renderer.ts';
import { createS3Client } from '../../lib/storage/s3.ts';
import type { TestEnv } from '../support/env.ts';
import { validateOpenBadge } from '../support/open-badges-schema.ts';
import { readableStorage } from '../support/s3-objects.ts';
import {
  createCourse,
  createPendingCertificate,
  credentialSettingsFor,
  generateOptions,
  generateSigners,
  makeGenerateDeps,
  pipelineTestFile,
  s3ConfigFor,
} from './pipeline-fixtures.ts';

let t: TestEnv;
const { renderer, keycloak } = pipelineTestFile(
  (env) => {
    t = env;
  },
  { maxPages: 1 },
);
const options = generateOptions();
const SETTINGS = credentialSettingsFor(options);

async function issueWith(signer: ReturnType<typeof createCredentialSigner>) {
  const user = await keycloak.addUser({ firstName: 'Ada', lastName: 'Lovelace' });
  const courseId = await createCourse(t.sql, { title: 'Analytical Engines 101' });
  const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId, score: 87.5 });
  const outcome = await generateCertificate(makeGenerateDeps(t, renderer, { signer }), options, id);
  const [row] = await t.sql<
    {
      credential_jws: string | null;
      credential_kid: string | null;
      s3_key: string | null;
      status: string;
      verification_code: string;
      generated_day: string;
    }[]
  >`SELECT credential_jws, credential_kid, s3_key, status, verification_code,
      to_char(generated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS generated_day
    FROM certificates WHERE id = ${id}`;
  if (!row) throw new Error('no row');
  return { id, outcome, row };
}

describe('generation signs the printed facts', () => {
  it('stores the JWS, publishes the key, and embeds the same JWS in the uploaded PDF', async () => {
    const jwk = await generateSigningJwk();
    const signer = createCredentialSigner(
      createIssuerKey(t.sql, () => signingKeyFromJwk(jwk), { reloadAfterMs: 3_600_000 }),
    );
    const { outcome, row } = await issueWith(signer);
    expect(outcome.status).toBe('issued');
    expect(row.credential_jws).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    const keys = await publishedKeys(t.sql);
    expect(keys.find((key) => key.jwk.kid === row.credential_kid)?.state).toBe('current');
    expect(JSON.stringify(keys)).not.toContain(String(jwk.d));
    const check = await verifyCredential(row.credential_jws ?? '', keys);
    expect(check.verdict).toBe('valid');
    if (check.verdict === 'valid')
      expect(
        await factsMatch(check.claims, {
          code: row.verification_code,
          name: 'Ada Lovelace',
          course: 'Analytical Engines 101',
          score: '87.5/100',
          // The UTC day it was generated on (read from the record: a run crossing midnight
          // would otherwise expect the next day).
          issued: row.generated_day,
          expires: null,
          issuer: options.issuerName,
        }),
      ).toBe(true);

    const storage = readableStorage(createS3Client(s3ConfigFor(t)), t.bucket);
    const pdf = await storage.getObject(row.s3_key ?? '');
    const attached = (await readPdfAttachments(pdf)).get(CREDENTIAL_ATTACHMENT);
    expect(new TextDecoder().decode(attached)).toBe(row.credential_jws);
  });

  it('rotation: a new key becomes current, the old one retires and its certificates still verify', async () => {
    const first = await issueWith(
      createCredentialSigner(
        createIssuerKey(t.sql, async () => signingKeyFromJwk(await generateSigningJwk()), {
          reloadAfterMs: 3_600_000,
        }),
      ),
    );
    const second = await issueWith(
      createCredentialSigner(
        createIssuerKey(t.sql, async () => signingKeyFromJwk(await generateSigningJwk()), {
          reloadAfterMs: 3_600_000,
        }),
      ),
    );
    expect(second.row.credential_kid).not.toBe(first.row.credential_kid);
    const keys = await publishedKeys(t.sql);
    expect(keys.filter((key) => key.state === 'current').map((key) => key.jwk.kid)).toEqual([
      second.row.credential_kid,
    ]);
    expect(keys.find((key) => key.jwk.kid === first.row.credential_kid)?.state).toBe('retired');
    expect((await verifyCredential(first.row.credential_jws ?? '', keys)).verdict).toBe('valid');
    expect((await verifyCredential(second.row.credential_jws ?? '', keys)).verdict).toBe('valid');
  });

  it('a compromised key: its certificates verify as revoked-key, and it signs nothing more (retried later)', async () => {
    const jwk = await generateSigningJwk();
    const signer = createCredentialSigner(
      createIssuerKey(t.sql, () => signingKeyFromJwk(jwk), { reloadAfterMs: 3_600_000 }),
    );
    const before = await issueWith(signer);
    expect(await markKeyCompromised(t.sql, before.row.credential_kid ?? '')).toBe(true);
    const check = await verifyCredential(before.row.credential_jws ?? '', await publishedKeys(t.sql));
    expect(check.verdict).toBe('revoked-key');

    const after = await issueWith(signer);
    expect(after.outcome).toMatchObject({ status: 'failed', error: expect.stringMatching(/compromised/) });
    expect(after.row.credential_jws).toBeNull();
  });

  it('a compromised key stays compromised when an old container starts with it again: it signs nothing and the rotated key stays current', async () => {
    // A rollback or an old warm version still holding the leaked secret must not publish its key
    // in the JWKS `keys` again: forgeries made with it would then verify as valid.
    const leaked = await signingKeyFromJwk(await generateSigningJwk());
    const rotated = await signingKeyFromJwk(await generateSigningJwk());
    const containerWith = (key: SigningKey) =>
      createCredentialSigner(createIssuerKey(t.sql, async () => key, { reloadAfterMs: 3_600_000 }));
    const facts = {
      code: 'LEAKED00000000001',
      name: 'Ada Lovelace',
      course: 'Key Hygiene 101',
      score: '90/100',
      issued: '2026-12-04',
      expires: null,
      issuer: 'Northbridge Academy',
    };
    expect((await containerWith(leaked).sign(facts)).kid).toBe(leaked.kid);
    expect(await markKeyCompromised(t.sql, leaked.kid)).toBe(true);
    expect((await containerWith(rotated).sign(facts)).kid).toBe(rotated.kid);

    await expect(containerWith(leaked).sign(facts)).rejects.toThrow(CompromisedKeyError);
    const keys = await publishedKeys(t.sql);
    expect(keys.find((key) => key.jwk.kid === leaked.kid)?.state).toBe('compromised');
    expect(
      keys.filter((key) => key.state === 'current' && key.jwk.alg === 'ES256').map((key) => key.jwk.kid),
    ).toEqual([rotated.kid]);
    expect(jwksDocument(keys, 'https://certs.example.org/api/v1').keys.map((key) => key.kid)).not.toContain(
      leaked.kid,
    );
  });

  it('a retired key is current again when its algorithm has none (code from before the per-algorithm index retired the RS256 key with the facts key); otherwise it stays retired', async () => {
    const credentialKey = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    const otherCredentialKey = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    const factsKey = await signingKeyFromJwk(await generateSigningJwk());
    await registerSigningKey(t.sql, credentialKey);
    await registerSigningKey(t.sql, factsKey);
    // As the earlier code registered a new facts key: every current key retired, the RS256 one too.
    await t.sql`UPDATE issuer_keys SET state = 'retired', retired_at = now() WHERE state = 'current'`;
    const signer = createIssuerKey(t.sql, async () => credentialKey, { reloadAfterMs: 3_600_000 });
    expect((await signer.current()).kid).toBe(credentialKey.kid);
    expect(await keyState(t.sql, credentialKey.kid)).toBe('current');
    // The facts key is another algorithm's: untouched until a container loads it.
    expect(await keyState(t.sql, factsKey.kid)).toBe('retired');
    // A rotation, then a container still holding the previous key: it stays retired.
    await registerSigningKey(t.sql, otherCredentialKey);
    expect(await registerSigningKey(t.sql, credentialKey)).toBe('retired');
    expect(await keyState(t.sql, otherCredentialKey.kid)).toBe('current');
  });

  it('a rotated secret replaces the key in a warm container: at once when its key is marked compromised, otherwise after reloadAfterMs; a compromised key still in the secret is refused (the attempt given back)', async () => {
    // The secret as the store returns it: an operator puts a new key there to rotate.
    let secret = await generateSigningJwk();
    let clock = 0;
    const issuerKey = createIssuerKey(t.sql, async () => signingKeyFromJwk(secret), {
      reloadAfterMs: 60_000,
      now: () => clock,
    });
    const signer = createCredentialSigner(issuerKey);
    const first = await issueWith(signer);
    expect(first.outcome.status).toBe('issued');
    const firstKid = first.row.credential_kid ?? '';

    // Rotated, but the container read the secret less than reloadAfterMs ago: the old key signs
    // (the store would still return its cached value).
    secret = await generateSigningJwk();
    const rotatedKid = (await signingKeyFromJwk(secret)).kid;
    clock = 59_999;
    expect((await issueWith(signer)).row.credential_kid).toBe(firstKid);

    // The old key marked compromised after the rotation (the README's order): the container reads
    // the secret again at once, and this very certificate is signed with the rotated key.
    await markKeyCompromised(t.sql, firstKid);
    const next = await issueWith(signer);
    expect(next.outcome.status).toBe('issued');
    expect(next.row.credential_kid).toBe(rotatedKid);
    const keys = await publishedKeys(t.sql);
    expect(keys.find((key) => key.jwk.kid === rotatedKid)?.state).toBe('current');
    expect((await verifyCredential(next.row.credential_jws ?? '', keys)).verdict).toBe('valid');

    // Rotated again, nothing compromised: picked up once reloadAfterMs has passed since the read.
    secret = await generateSigningJwk();
    const thirdKid = (await signingKeyFromJwk(secret)).kid;
    clock += 60_000;
    expect((await issueWith(signer)).row.credential_kid).toBe(thirdKid);
    expect((await publishedKeys(t.sql)).find((key) => key.jwk.kid === rotatedKid)?.state).toBe('retired');

    // Marked while the secret still holds it (a leak found before a new key is in place): refused,
    // as a configuration error that keeps the certificate's attempt, until the secret changes.
    await markKeyCompromised(t.sql, thirdKid);
    const refused = await issueWith(signer);
    expect(refused.outcome).toMatchObject({ status: 'failed', error: expect.stringMatching(/compromised/) });
    const [attempts] = await t.sql<{ attempt_count: number; status: string }[]>`
      SELECT attempt_count, status FROM certificates WHERE id = ${refused.id}`;
    expect(attempts).toEqual({ attempt_count: 0, status: 'failed' });
  });

  it("one certificate's two signatures: the facts with the ES256 key, the Open Badges credential with the RS256 key, both keys' states in one read", async () => {
    const factsKey = await signingKeyFromJwk(await generateSigningJwk());
    const credentialKey = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    // The issuer keys' state reads, seen through a proxy of the pool that passes each one on.
    const stateReads: unknown[] = [];
    const counted = new Proxy(t.sql, {
      apply(target, thisArg, args: unknown[]) {
        const strings = args[0];
        if (Array.isArray(strings) && /SELECT (kid, )?state FROM issuer_keys/.test(strings.join('?')))
          stateReads.push(args[1]);
        return Reflect.apply(target, thisArg, args);
      },
    });
    // As functions/generate.ts builds them: one reader of the keys' states for both.
    const deps = generateSigners(counted, { facts: factsKey, credentials: credentialKey }, SETTINGS);
    const issue = async () => {
      const user = await keycloak.addUser({ firstName: 'Katherine', lastName: 'Johnson' });
      const courseId = await createCourse(t.sql, { title: 'Orbital Mechanics' });
      const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId, score: 95 });
      return generateCertificate(makeGenerateDeps(t, renderer, deps), options, id);
    };
    await issue(); // registers the keys (their first use)
    // Both are current at once: one per algorithm, neither retired the other.
    expect(await keyState(t.sql, factsKey.kid)).toBe('current');
    expect(await keyState(t.sql, credentialKey.kid)).toBe('current');
    stateReads.length = 0;
    const outcome = await issue();
    expect(outcome.status).toBe('issued');
    expect(stateReads).toHaveLength(1);
    expect((stateReads[0] as string[]).slice().sort()).toEqual([credentialKey.kid, factsKey.kid].sort());
    if (outcome.status !== 'issued') throw new Error('not issued');
    const [row] = await t.sql<{ s3_key: string; credential_kid: string; credential_jws: string }[]>`
      SELECT s3_key, credential_kid, credential_jws FROM certificates WHERE id = ${outcome.certificateId}`;
    expect(row?.credential_kid).toBe(factsKey.kid);
    expect(decodeProtectedHeader(row?.credential_jws ?? '')).toEqual({ alg: 'ES256', kid: factsKey.kid });
    const pdf = await readableStorage(createS3Client(s3ConfigFor(t)), t.bucket).getObject(row?.s3_key ?? '');
    const badge = new TextDecoder().decode((await readPdfAttachments(pdf)).get(OPEN_BADGE_ATTACHMENT));
    expect(decodeProtectedHeader(badge)).toEqual({
      alg: 'RS256',
      typ: 'JWT',
      kid: `${SETTINGS.apiBaseUrl}/keys/${credentialKey.kid}`,
    });
    await expect(jwtVerify(badge, await importJWK(credentialKey.publicJwk, 'RS256'))).resolves.toBeTruthy();

    // Reads are shared only while one is in flight: the credentials key marked compromised, the
    // next certificate is refused (given back), though its facts key is fine. Its state is read
    // once more after the secret is read again (it still holds the key), then refused.
    await markKeyCompromised(t.sql, credentialKey.kid);
    expect(await issue()).toMatchObject({ status: 'failed', error: expect.stringMatching(/compromised/) });
    expect(stateReads).toHaveLength(3);
    expect(await keyState(t.sql, factsKey.kid)).toBe('current');
  });

  it("the shared reader of the keys' states: asks of one turn share a statement, later asks read again, and a failed read fails every ask it held", async () => {
    const [first, second] = [
      await signingKeyFromJwk(await generateSigningJwk()),
      await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256'),
    ];
    await registerSigningKey(t.sql, first);
    let statements = 0;
    let failNext = false;
    const counted = new Proxy(t.sql, {
      apply(target, thisArg, args: unknown[]) {
        statements += 1;
        if (failNext) return Promise.reject(new Error('connection reset'));
        return Reflect.apply(target, thisArg, args);
      },
    });
    const read = createKeyStateReader(counted);
    // An unknown kid reads as unknown, beside a published one, in the same statement.
    expect(await Promise.all([read(first.kid), read(second.kid), read(first.kid)])).toEqual([
      'current',
      undefined,
      'current',
    ]);
    expect(statements).toBe(1);
    await registerSigningKey(t.sql, second);
    expect(await read(second.kid)).toBe('current');
    expect(statements).toBe(2);
    failNext = true;
    const failed = await Promise.allSettled([read(first.kid), read(second.kid)]);
    expect(failed.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(statements).toBe(3);
  });

  it('a key whose published row is gone (a database restored to before it) is published again before it signs', async () => {
    const key = await signingKeyFromJwk(await generateSigningJwk());
    const signer = createCredentialSigner(
      createIssuerKey(t.sql, async () => key, { reloadAfterMs: 3_600_000 }),
    );
    const facts = {
      code: 'RESTORE0000000001',
      name: 'Ada Lovelace',
      course: 'Backups 101',
      score: '90/100',
      issued: '2026-12-04',
      expires: null,
      issuer: 'Northbridge Academy',
    };
    await signer.sign(facts);
    await t.sql`DELETE FROM issuer_keys WHERE kid = ${key.kid}`;
    const signed = await signer.sign(facts);
    expect(signed.kid).toBe(key.kid);
    expect(await keyState(t.sql, key.kid)).toBe('current');
    expect((await publishedKeys(t.sql)).map((published) => published.jwk.kid)).toContain(key.kid);
  });

  it('a certificate issued already expired (a backfilled 2020 pass): its Open Badges credential is valid from its expiry, awarded at issue, in the PDF as from the routes', async () => {
    const factsKey = await signingKeyFromJwk(await generateSigningJwk());
    const key = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    const user = await keycloak.addUser({ firstName: 'Dorothy', lastName: 'Vaughan' });
    const courseId = await createCourse(t.sql, { title: 'Fortran' });
    await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${courseId}`;
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId, score: 90 });
    // As the backfill enqueues it: its validity period counts from the pass.
    await t.sql`UPDATE certificates SET validity_start = '2020-01-15' WHERE id = ${id}`;
    const outcome = await generateCertificate(
      makeGenerateDeps(t, renderer, generateSigners(t.sql, { facts: factsKey, credentials: key }, SETTINGS)),
      options,
      id,
    );
    expect(outcome.status).toBe('issued');
    const [row] = await t.sql<{ s3_key: string; generated_at: Date; expires_at: Date }[]>`
      SELECT s3_key, generated_at, expires_at FROM certificates WHERE id = ${id}`;
    expect(row?.expires_at.toISOString()).toBe('2021-01-15T00:00:00.000Z');
    const pdf = await readableStorage(createS3Client(s3ConfigFor(t)), t.bucket).getObject(row?.s3_key ?? '');
    const badge = new TextDecoder().decode((await readPdfAttachments(pdf)).get(OPEN_BADGE_ATTACHMENT));
    const publicKey = await importJWK(key.publicJwk, 'RS256');
    // A JWT verifier calls it what it is, expired, at any instant (nbf = exp: none is inside).
    await expect(jwtVerify(badge, publicKey, { currentDate: row?.expires_at })).rejects.toMatchObject({
      claim: 'exp',
    });
    const payload = JSON.parse(new TextDecoder().decode((await compactVerify(badge, publicKey)).payload));
    expect(validateOpenBadge(payload), JSON.stringify(validateOpenBadge.errors)).toBe(true);
    expect(payload).toMatchObject({
      validFrom: '2021-01-15T00:00:00Z',
      validUntil: '2021-01-15T00:00:00Z',
      awardedDate: row?.generated_at.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      nbf: Date.UTC(2021, 0, 15) / 1000,
      exp: Date.UTC(2021, 0, 15) / 1000,
    });
    expect(payload).toEqual(openBadgeJwtClaims(await openBadgeForCertificate({ sql: t.sql }, SETTINGS, id)));
  });

  it('a course with a validity period: the signed facts carry the expiry the record holds; the PDF carries the Open Badges credential the routes serve', async () => {
    const factsKey = await signingKeyFromJwk(await generateSigningJwk());
    const key = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    const { signer, openBadge } = generateSigners(t.sql, { facts: factsKey, credentials: key }, SETTINGS);
    const user = await keycloak.addUser({ firstName: 'Grace', lastName: 'Hopper' });
    const courseId = await createCourse(t.sql, { title: 'Compilers' });
    // A code and a pass mark of its own: the PDF's credential states them as the routes' does.
    await t.sql`UPDATE courses SET validity_months = 12, code = 'CS-421', pass_percentage = 65 WHERE id = ${courseId}`;
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId, score: 90 });
    const outcome = await generateCertificate(
      makeGenerateDeps(t, renderer, { signer, openBadge }),
      options,
      id,
    );
    expect(outcome.status).toBe('issued');
    const [row] = await t.sql<
      {
        verification_code: string;
        credential_jws: string;
        s3_key: string;
        generated_at: Date;
        expires_at: Date;
      }[]
    >`
      SELECT verification_code, credential_jws, s3_key, generated_at, expires_at FROM certificates WHERE id = ${id}`;

    // The PDF's Open Badges credential: signed with the issuer key, valid by the 1EdTech schema,
    // validFrom = generated_at and validUntil = expires_at, and the same credential the routes serve.
    const pdf = await readableStorage(createS3Client(s3ConfigFor(t)), t.bucket).getObject(row?.s3_key ?? '');
    const badge = new TextDecoder().decode((await readPdfAttachments(pdf)).get(OPEN_BADGE_ATTACHMENT));
    const { payload } = await jwtVerify(badge, await importJWK(key.publicJwk, 'RS256'));
    expect(validateOpenBadge(payload), JSON.stringify(validateOpenBadge.errors)).toBe(true);
    expect(payload.nbf).toBe(Math.floor((row?.generated_at.getTime() ?? 0) / 1000));
    // One instant dates it everywhere: the claim's, whose UTC day is printed. Not a later reading
    // of another clock, which a render straddling midnight put on the next day in the wallet.
    const [claim] = await t.sql<{ created_at: Date; issued_on: string }[]>`
      SELECT l.created_at, c.issued_on::text AS issued_on FROM certificate_generation_log l
      JOIN certificates c ON c.id = l.certificate_id
      WHERE l.certificate_id = ${id} AND l.event = 'claimed'`;
    expect(row?.generated_at.getTime()).toBeLessThanOrEqual(claim?.created_at.getTime() ?? 0);
    expect(row?.generated_at.toISOString().slice(0, 10)).toBe(claim?.issued_on);
    expect(payload.exp).toBe(Math.floor((row?.expires_at.getTime() ?? 0) / 1000));
    expect(payload).toEqual(openBadgeJwtClaims(await openBadgeForCertificate({ sql: t.sql }, SETTINGS, id)));
    // The course changed afterwards: the routes still serve what the PDF states, not a 90% pass
    // mark, another language or another code for a certificate issued at 65%.
    await t.sql`UPDATE courses SET pass_percentage = 90, locale = 'de', code = 'CS-999' WHERE id = ${courseId}`;
    const served = await openBadgeForCertificate({ sql: t.sql }, SETTINGS, id);
    expect(served.credentialSubject.achievement.criteria.narrative).toContain('at least 65%');
    expect(payload).toEqual(openBadgeJwtClaims(served));
    // npm run verify checks it too (no network: a JWKS file).
    const files: Record<string, Uint8Array> = {
      'certificate.pdf': pdf,
      'jwks.json': new TextEncoder().encode(
        JSON.stringify(jwksDocument(await publishedKeys(t.sql), 'https://certs.example.org/api/v1')),
      ),
    };
    const report = await checkCertificate('certificate.pdf', 'jwks.json', {
      readFile: async (path) => files[path] ?? new Uint8Array(),
    });
    expect(report.outcome).toBe('valid');
    expect(report.lines.join('\n')).toContain(
      `Open Badge: valid OpenBadgeCredential (RS256, key ${key.kid})`,
    );

    const record = await findPublicCertificate(t.sql, row?.verification_code ?? '');
    expect(record?.facts.expires).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const check = await verifyCredential(row?.credential_jws ?? '', await publishedKeys(t.sql));
    if (check.verdict !== 'valid' || !record)
      throw new Error(`expected a valid credential, got ${check.verdict}`);
    expect(check.claims.x).toBe(record.facts.expires);
    expect(await factsMatch(check.claims, record.facts)).toBe(true);
  });

  it('a retry after the course lost its validity period signs no expiry, as the record and the PDF have none', async () => {
    const key = await signingKeyFromJwk(await generateSigningJwk());
    const signer = createCredentialSigner(
      createIssuerKey(t.sql, async () => key, { reloadAfterMs: 3_600_000 }),
    );
    const user = await keycloak.addUser({ firstName: 'Edsger', lastName: 'Dijkstra' });
    const courseId = await createCourse(t.sql, { title: 'Structured Programming' });
    await t.sql`UPDATE courses SET validity_months = 12 WHERE id = ${courseId}`;
    const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId, score: 90 });
    // The first attempt gets its expiry, then S3 refuses the upload.
    const s3Down: CertificateStore = {
      putPdf: async () => {
        throw new TransientError('S3 PutObject failed (HTTP 503)', 's3');
      },
    };
    const first = await generateCertificate(
      makeGenerateDeps(t, renderer, { signer, storage: s3Down }),
      options,
      id,
    );
    expect(first.status).toBe('failed');
    const [before] = await t.sql<
      { expires_at: Date | null }[]
    >`SELECT expires_at FROM certificates WHERE id = ${id}`;
    expect(before?.expires_at).not.toBeNull();

    // Staff remove the validity period before the retry comes due.
    await t.sql`UPDATE courses SET validity_months = NULL WHERE id = ${courseId}`;
    await t.sql`UPDATE certificates SET next_attempt_at = now() WHERE id = ${id}`;
    expect((await generateCertificate(makeGenerateDeps(t, renderer, { signer }), options, id)).status).toBe(
      'issued',
    );
    const [row] = await t.sql<
      { expires_at: Date | null; credential_jws: string; verification_code: string }[]
    >`
      SELECT expires_at, credential_jws, verification_code FROM certificates WHERE id = ${id}`;
    expect(row?.expires_at).toBeNull();
    const record = await findPublicCertificate(t.sql, row?.verification_code ?? '');
    const check = await verifyCredential(row?.credential_jws ?? '', await publishedKeys(t.sql));
    if (check.verdict !== 'valid' || !record)
      throw new Error(`expected a valid credential, got ${check.verdict}`);
    // Signed with the expiry the record holds (none): the verification page would otherwise say
    // "may have been altered", and npm run verify call it expired on the old date.
    expect(check.claims.x ?? null).toBeNull();
    expect(await factsMatch(check.claims, record.facts)).toBe(true);
  });
});
