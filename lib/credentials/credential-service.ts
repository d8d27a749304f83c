import { createHash } from 'node:crypto';
import type { OpenBadgeIssuer, OpenBadgeRequest } from '../certificates/ports.ts';
import { notGeneratedError, retryInSeconds } from '../certificates/read-model.ts';
import type { Config } from '../config.ts';
import type { Sql } from '../db/client.ts';
import { GoneError, NotFoundError } from '../errors.ts';
import { issuerKeyUrl } from './jwks.ts';
import {
  achievementForCourse,
  buildOpenBadgeCredential,
  type IssuerProfileInput,
  type OpenBadgeCredential,
  signOpenBadgeCredential,
} from './open-badge.ts';
import { type IssuerKey, jwtSignerFor } from './signer.ts';
import {
  type BitstringStatusListEntry,
  buildStatusListCredential,
  type JwtSigner,
  type StatusPurpose,
  signStatusListCredential,
  statusListEntry,
} from './status-list.ts';

/**
 * What the routes `GET /status/{listId}`, `GET /certificates/{id}/credential`,
 * `GET /verify/{code}/credential` and the PDF's embedded credential need, read from the database
 * and signed with the issuer key (lib/credentials/signer.ts createJwtSigner, issue 10's keys).
 */

export interface CredentialSettings {
  /** Public base URL of the API, e.g. https://certs.example.org/api/v1 (status lists live under it). */
  apiBaseUrl: string;
  /** Base URL of the verification page; a certificate's credential id is `{verifyBaseUrl}/{code}`. */
  verifyBaseUrl: string;
  issuer: IssuerProfileInput;
  /** How long verifiers may cache a status list; also the route's Cache-Control max-age. */
  statusListTtlSeconds: number;
}

/** The settings from configuration: the API and the issuer default to VERIFY_BASE_URL's origin. */
export function credentialSettingsFromConfig(config: Config<'render' | 'credentials'>): CredentialSettings {
  const origin = new URL(config.render.VERIFY_BASE_URL).origin;
  const issuerUrl = config.credentials.ISSUER_URL ?? origin;
  return {
    apiBaseUrl: config.credentials.PUBLIC_API_BASE_URL ?? `${origin}/api/v1`,
    verifyBaseUrl: config.render.VERIFY_BASE_URL,
    issuer: { id: issuerUrl, name: config.render.ISSUER_NAME, url: issuerUrl },
    statusListTtlSeconds: config.credentials.STATUS_LIST_TTL_SECONDS,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface SignedStatusList {
  jwt: string;
  /** For the response: `Cache-Control: public, max-age={ttlSeconds}`, matching the credential's `ttl`. */
  cacheControl: string;
  contentType: 'application/vc+jwt';
}

/**
 * A list's `validFrom`: the minute its bits last changed, less one minute. Verifiers check
 * validFrom against their own clock; the exact instant would have one whose clock runs a few
 * seconds behind refuse a list changed a moment ago, the failure leaving out `nbf` avoids
 * (status-list.ts). A minute's allowance is the usual JWT leeway; the floor also publishes only
 * the minute of the last revocation.
 */
export function statusListValidFrom(changedAt: Date): Date {
  const minute = 60_000;
  return new Date(Math.floor(changedAt.getTime() / minute) * minute - minute);
}

/** The status list `listId` as a signed BitstringStatusListCredential (VC-JWT). */
export async function signedStatusList(
  deps: { sql: Sql; sign: JwtSigner },
  settings: CredentialSettings,
  listId: string,
): Promise<SignedStatusList> {
  if (!UUID.test(listId)) throw new NotFoundError('status list');
  const [list] = await deps.sql<{ purpose: StatusPurpose; bits: Buffer; updated_at: Date }[]>`
    SELECT purpose, bits, updated_at FROM status_lists WHERE id = ${listId}`;
  if (!list) throw new NotFoundError('status list');
  const credential = buildStatusListCredential({
    baseUrl: settings.apiBaseUrl,
    listId,
    issuer: settings.issuer.id,
    purpose: list.purpose,
    bits: new Uint8Array(list.bits),
    // When a bit last changed (revocation), not when an index was handed out: Bitstring Status
    // List §6.5, allocation should not change what the list shows (lifecycle.ts leaves it).
    validFrom: statusListValidFrom(list.updated_at),
    // Signed for two cache lifetimes: a copy served from a cache is still valid, while an old
    // copy replayed to hide a revocation is refused (its JWT carries the matching `exp`).
    validUntil: new Date(Date.now() + 2 * settings.statusListTtlSeconds * 1000),
    ttlMs: settings.statusListTtlSeconds * 1000,
  });
  return {
    jwt: await signStatusListCredential(credential, deps.sign, (thumbprint) =>
      issuerKeyUrl(settings.apiBaseUrl, thumbprint),
    ),
    cacheControl: `public, max-age=${settings.statusListTtlSeconds}`,
    contentType: 'application/vc+jwt',
  };
}

interface CredentialRow {
  id: string;
  student_id: string;
  course_id: string;
  status: string;
  verification_code: string;
  student_name: string | null;
  course_name: string | null;
  generated_at: Date | null;
  expires_at: Date | null;
  status_list_id: string | null;
  status_list_index: number | null;
  course_code: string | null;
  course_title: string;
  course_locale: string | null;
  pass_percentage: string;
  /** The holder's details were erased (lib/certificates/erasure.ts): a tombstone, no credential. */
  erased: boolean;
  /** Seconds until a pending or failed certificate is tried again (read-model's retryInSeconds). */
  retry_in_seconds?: number | null;
}

/** The certificate's `credentialStatus`, or undefined when it has no status entry yet. */
export function certificateStatusEntry(
  settings: Pick<CredentialSettings, 'apiBaseUrl'>,
  row: { status_list_id: string | null; status_list_index: number | null },
): BitstringStatusListEntry | undefined {
  if (row.status_list_id === null || row.status_list_index === null) return undefined;
  return statusListEntry({
    baseUrl: settings.apiBaseUrl,
    listId: row.status_list_id,
    index: row.status_list_index,
  });
}

async function credentialRow(sql: Sql, certificateId: string): Promise<CredentialRow | undefined> {
  const [row] = await sql<CredentialRow[]>`
    SELECT c.id, c.student_id, c.course_id, c.status::text, c.verification_code, c.student_name, c.course_name,
           c.generated_at, c.expires_at, c.status_list_id, c.status_list_index,
           co.title AS course_title,
           -- As the PDF's credential stated them at issue (the course may have changed since);
           -- the course's own for certificates issued without the snapshot, until the course
           -- changes: the change writes its facts as they were into them first (1734600000000).
           CASE WHEN c.achievement IS NULL THEN co.code ELSE c.achievement->>'code' END AS course_code,
           CASE WHEN c.achievement IS NULL THEN co.locale ELSE c.achievement->>'locale' END AS course_locale,
           CASE WHEN c.achievement IS NULL THEN co.pass_percentage::text
                ELSE c.achievement->>'pass_percentage' END AS pass_percentage,
           c.erased_at IS NOT NULL AS erased, ${retryInSeconds(sql)}
    FROM certificates c JOIN courses co ON co.id = c.course_id
    WHERE c.id = ${certificateId}`;
  return row;
}

/** The credential of a row; `validFrom` and the printed names are the row's unless given. */
function credentialOf(
  settings: CredentialSettings,
  row: CredentialRow,
  printed: { validFrom: Date; studentName: string | null; courseName: string | null },
): OpenBadgeCredential {
  const credentialStatus = certificateStatusEntry(settings, row);
  return buildOpenBadgeCredential({
    credentialId: `${settings.verifyBaseUrl.replace(/\/+$/, '')}/${encodeURIComponent(row.verification_code)}`,
    issuer: settings.issuer,
    achievement: achievementForCourse({
      baseUrl: settings.apiBaseUrl,
      // The printed course name: the credential says what the PDF says.
      course: {
        id: row.course_id,
        title: printed.courseName ?? row.course_title,
        code: row.course_code,
        locale: row.course_locale,
      },
      passPercentage: Number(row.pass_percentage),
    }),
    recipient: {
      id: holderSubjectId(row.student_id, row.id),
      ...(printed.studentName ? { name: printed.studentName } : {}),
    },
    validFrom: printed.validFrom,
    validUntil: row.expires_at,
    ...(credentialStatus ? { credentialStatus } : {}),
  });
}

/** The namespace of holderSubjectId's name-based UUIDs (a fixed random UUID of this service). */
const HOLDER_ID_NAMESPACE = Buffer.from('6f3d8c1e9a2b4c7d8e5f0a1b2c3d4e5f', 'hex');

/**
 * The credential's subject id: a UUID of this certificate's holder for this certificate alone
 * (RFC 9562 version 5, name-based, of the student and the certificate ids), not the Keycloak user
 * id. The credential is public to whoever holds the verification code (the page's "add to
 * wallet"): with the account id in it, anyone given two of a student's codes could tell they are
 * one person's, and learn an internal id besides. Nothing verifies it against the holder (a
 * `urn:uuid:` is not a key a holder can prove), so a stable one bought nothing; the printed name
 * (the IdentityObject) is what a verifier compares. Stable for the certificate: the PDF's
 * credential and the routes' state the same one.
 */
export function holderSubjectId(studentId: string, certificateId: string): string {
  const digest = createHash('sha1')
    .update(HOLDER_ID_NAMESPACE)
    .update(`${studentId.toLowerCase()}/${certificateId.toLowerCase()}`)
    .digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The OpenBadgeCredential of a generated certificate. Revoked, superseded and expired ones
 * still get theirs (their status entry and validUntil say what they are); one never generated
 * has none. Authorisation (owner or staff) is the caller's.
 */
export async function openBadgeForCertificate(
  deps: { sql: Sql },
  settings: CredentialSettings,
  certificateId: string,
): Promise<OpenBadgeCredential> {
  if (!UUID.test(certificateId)) throw new NotFoundError('certificate');
  const row = await credentialRow(deps.sql, certificateId);
  // An erased holder's tombstone has no one to issue a credential to: its subject would be a
  // pseudonym, its name gone. The verification page still says it was revoked.
  if (!row || row.erased) throw new NotFoundError('certificate');
  // The download's answers (read-model.ts), so a client handles both routes alike. A reissue
  // cancelled with its original (revoked before it was ever generated) is final, not "being
  // generated": a client following Retry-After would poll it for ever. So is one revoked or
  // replaced before status lists existed (it has no entry): a credential of it could not say
  // what it is, and every wallet would take it for valid for ever.
  const ended = row.status === 'revoked' || row.status === 'superseded';
  if (ended && (!row.generated_at || !certificateStatusEntry(settings, row)))
    throw new GoneError(`The certificate was ${row.status === 'revoked' ? 'revoked' : 'replaced'}`, {
      code: `certificate_${row.status}`,
      certificateStatus: row.status,
    });
  if (!row.generated_at || !(ended || row.status === 'issued'))
    throw notGeneratedError(row.status, row.retry_in_seconds);
  return credentialOf(settings, row, {
    validFrom: row.generated_at,
    studentName: row.student_name,
    courseName: row.course_name,
  });
}

/** The same, signed as a VC-JWT. */
export async function signedOpenBadgeForCertificate(
  deps: { sql: Sql; sign: JwtSigner },
  settings: CredentialSettings,
  certificateId: string,
): Promise<string> {
  return signOpenBadgeCredential(
    await openBadgeForCertificate(deps, settings, certificateId),
    deps.sign,
    settings.apiBaseUrl,
  );
}

/**
 * The signed credential of a certificate generate is rendering, for the PDF: the names it prints,
 * the instant it will record as generated_at and the record it holds (so the credential served
 * later by the routes, read from the issued row, states the same facts and validFrom).
 */
export async function signedOpenBadgeForRendering(
  deps: { key: IssuerKey },
  settings: CredentialSettings,
  input: OpenBadgeRequest,
): Promise<{ jwt: string; kid: string }> {
  const { record } = input;
  const row: CredentialRow = {
    id: input.certificateId,
    student_id: record.studentId,
    course_id: record.course.id,
    status: 'rendering',
    verification_code: record.verificationCode,
    student_name: input.studentName,
    course_name: input.courseName,
    generated_at: input.issuedAt,
    expires_at: record.expiresAt,
    status_list_id: record.statusEntry?.listId ?? null,
    status_list_index: record.statusEntry?.index ?? null,
    course_code: record.course.code,
    course_title: record.course.title,
    course_locale: record.course.locale,
    pass_percentage: String(record.course.passPercentage),
    erased: false,
  };
  const credential = credentialOf(settings, row, {
    validFrom: input.issuedAt,
    studentName: input.studentName,
    courseName: input.courseName,
  });
  const key = await deps.key.current();
  return {
    jwt: await signOpenBadgeCredential(credential, jwtSignerFor(key), settings.apiBaseUrl),
    kid: key.kid,
  };
}

/**
 * The signed credential behind a public verification code (what the verification page offers
 * as "add to wallet"): only certificates the page shows, i.e. generated ones.
 */
export async function signedOpenBadgeForCode(
  deps: { sql: Sql; sign: JwtSigner },
  settings: CredentialSettings,
  verificationCode: string,
): Promise<{ jwt: string; certificateId: string }> {
  const [row] = await deps.sql<{ id: string }[]>`
    SELECT id FROM certificates
    WHERE verification_code IN (${verificationCode}, ${verificationCode.toUpperCase()})
      AND status IN ('issued', 'revoked', 'superseded') AND generated_at IS NOT NULL
      AND erased_at IS NULL
    LIMIT 1`;
  if (!row) throw new NotFoundError('certificate');
  return { jwt: await signedOpenBadgeForCertificate(deps, settings, row.id), certificateId: row.id };
}

/** The generate function's port for the PDF's Open Badges credential. */
export function createOpenBadgeIssuer(
  deps: { key: IssuerKey },
  settings: CredentialSettings,
): OpenBadgeIssuer {
  return { signForRendering: (request) => signedOpenBadgeForRendering(deps, settings, request) };
}
