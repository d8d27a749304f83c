import type { Sql } from '../db/client.ts';
import { ConflictError, GoneError, NotFoundError } from '../errors.ts';
import { type CertificateFacts, scoreLine } from './facts.ts';
import { isUuid } from './ids.ts';
import {
  type CertificateStatus,
  type EffectiveStatus,
  effectiveStatus,
  laterPassesNeedingStaff,
  type PublicRevocationReason,
  publicRevocationReason,
  type RevocationReason,
} from './lifecycle.ts';
import { type LinkedInIssuer, linkedInAddToProfileUrl } from './linkedin.ts';
import type { Clock, Presigner } from './ports.ts';
import { withoutStrayTags } from './text.ts';

/**
 * Read side of certificates: the queries behind the HTTP API and the use-cases that apply the
 * authorisation rules to them. Plain functions taking their dependencies; no HTTP types.
 */

export type { CertificateStatus } from './lifecycle.ts';

/** What the API shows of a certificate (camelCase, JSON-ready). */
export interface CertificateView {
  id: string;
  studentId: string;
  courseId: string;
  courseCode: string | null;
  /** The printed course name once issued; the course's current title before that. */
  courseTitle: string;
  /** The printed student name; null until the certificate is generated. */
  studentName: string | null;
  status: CertificateStatus;
  /** `status`, except `expired` for an issued certificate from `expiresAt` on (derived, not stored). */
  effectiveStatus: EffectiveStatus;
  score: number | null;
  maxScore: number | null;
  percentage: number | null;
  issuedOn: string | null;
  locale: string | null;
  verificationCode: string;
  downloadable: boolean;
  createdAt: string;
  generatedAt: string | null;
  revokedAt: string | null;
  revocationReason: RevocationReason | null;
  /** The free text staff gave with the reason code. */
  revocationText: string | null;
  expiresAt: string | null;
  supersededBy: string | null;
  supersededAt: string | null;
  /** LinkedIn's Add-to-Profile link; only for an issued, unrevoked (and unexpired) certificate. */
  linkedInUrl: string | null;
  /**
   * A key that signed its QR code's facts or the Open Badges credential in its PDF was reported
   * compromised since: verifiers reject that file, and a replacement is on its way. The holder
   * still has the file; the view says what its public page says.
   */
  signedWithRevokedKey: boolean;
}

/** What the views need to link out: the public verification page and the issuer as LinkedIn shows it. */
export interface CertificateLinks {
  /** VERIFY_BASE_URL: the verification page of a certificate is `{verifyBaseUrl}/{code}`. */
  verifyBaseUrl: string;
  issuer: LinkedInIssuer;
}

/** Key of the last row of a page (created_at with PostgreSQL's microseconds, and id). */
export interface PageCursor {
  createdAt: string;
  id: string;
}

export interface PageQuery {
  limit: number;
  after?: PageCursor;
}

export interface CertificatePage {
  items: CertificateView[];
  next: PageCursor | null;
}

interface CertificateRow {
  id: string;
  student_id: string;
  course_id: string;
  course_code: string | null;
  course_title: string;
  student_name: string | null;
  status: CertificateStatus;
  score: string | null;
  max_score: string | null;
  percentage: string | null;
  issued_on: string | null;
  locale: string | null;
  verification_code: string;
  s3_key: string | null;
  pdf_bytes: number | null;
  pdf_sha256: string | null;
  created_at: Date;
  created_at_key: string;
  generated_at: Date | null;
  revoked_at: Date | null;
  revocation_reason: RevocationReason | null;
  revoked_reason: string | null;
  expires_at: Date | null;
  superseded_by: string | null;
  superseded_at: Date | null;
  signed_with_revoked_key: boolean;
  /** Seconds until a pending or failed certificate is due to be tried again; null when due. */
  retry_in_seconds: number | null;
}

function columns(sql: Sql) {
  return sql`
    c.id, c.student_id, c.course_id, co.code AS course_code,
    coalesce(c.course_name, co.title) AS course_title, c.student_name, c.status,
    -- A certificate not yet printed shows its attempt's score; an erased one none, whatever its
    -- attempt holds (code from before erasure cleared it, or a rollback's 0 out of 1).
    CASE WHEN c.erased_at IS NULL THEN coalesce(c.score, a.score) END::text AS score,
    CASE WHEN c.erased_at IS NULL THEN coalesce(c.max_score, a.max_score) END::text AS max_score,
    c.percentage::text AS percentage, c.issued_on::text AS issued_on, c.locale, c.verification_code,
    c.s3_key, c.pdf_bytes, c.pdf_sha256, c.created_at,
    to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_key,
    c.generated_at, c.revoked_at, c.revocation_reason, c.revoked_reason, c.expires_at, c.superseded_by,
    c.superseded_at,
    EXISTS (SELECT 1 FROM issuer_keys k
            WHERE k.state = 'compromised' AND k.kid IN (c.credential_kid, c.open_badge_kid))
      AS signed_with_revoked_key,
    ${retryInSeconds(sql)}`;
}

/**
 * Seconds until a pending or failed certificate is due again (its backoff after a failure, up
 * to RETRY_MAX_SECONDS, or CONFIGURATION_RETRY_SECONDS after a configuration error), by the
 * database's clock, which set it; null when it is due or not waiting.
 */
export function retryInSeconds(sql: Sql) {
  return sql`
    CASE WHEN c.status IN ('pending', 'failed') AND c.next_attempt_at > now()
         THEN ceil(extract(epoch FROM c.next_attempt_at - now()))::int END AS retry_in_seconds`;
}

function numberOrNull(value: string | null): number | null {
  return value === null ? null : Number(value);
}

function isExpired(row: Pick<CertificateRow, 'expires_at'>, now: Date): boolean {
  return row.expires_at !== null && row.expires_at.getTime() <= now.getTime();
}

function linkedInUrl(
  row: CertificateRow,
  effective: EffectiveStatus,
  links?: CertificateLinks,
): string | null {
  // Only what a verifier would accept: not pending, revoked, superseded or expired, nor signed
  // with a key reported compromised (its page says so; the replacement gets its own link).
  if (!links || effective !== 'issued' || row.issued_on === null || row.signed_with_revoked_key) return null;
  return linkedInAddToProfileUrl(
    {
      courseName: row.course_title,
      issuedOn: row.issued_on,
      expiresAt: row.expires_at,
      verificationCode: row.verification_code,
      verifyUrl: `${links.verifyBaseUrl.replace(/\/+$/, '')}/${encodeURIComponent(row.verification_code)}`,
    },
    links.issuer,
  );
}

function toView(row: CertificateRow, links?: CertificateLinks, now: Date = new Date()): CertificateView {
  const effective = effectiveStatus(row, now);
  return {
    id: row.id,
    studentId: row.student_id,
    courseId: row.course_id,
    courseCode: row.course_code,
    courseTitle: row.course_title,
    studentName: row.student_name,
    status: row.status,
    effectiveStatus: effective,
    score: numberOrNull(row.score),
    maxScore: numberOrNull(row.max_score),
    percentage: numberOrNull(row.percentage),
    issuedOn: row.issued_on,
    locale: row.locale,
    verificationCode: row.verification_code,
    downloadable: effective === 'issued',
    createdAt: row.created_at.toISOString(),
    generatedAt: row.generated_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
    revocationReason: row.revocation_reason,
    revocationText: row.revoked_reason,
    expiresAt: row.expires_at?.toISOString() ?? null,
    supersededBy: row.superseded_by,
    supersededAt: row.superseded_at?.toISOString() ?? null,
    linkedInUrl: linkedInUrl(row, effective, links),
    signedWithRevokedKey: row.signed_with_revoked_key,
  };
}

function toPage(rows: CertificateRow[], limit: number, links?: CertificateLinks): CertificatePage {
  const hasMore = rows.length > limit;
  const items = hasMore ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return {
    items: items.map((row) => toView(row, links)),
    next: hasMore && last ? { createdAt: last.created_at_key, id: last.id } : null,
  };
}

// ---- queries ----

async function pageWhere(
  sql: Sql,
  filter: ReturnType<Sql>,
  page: PageQuery,
  links?: CertificateLinks,
): Promise<CertificatePage> {
  // `::text` first: postgres.js would serialise a timestamptz parameter through a JS Date and
  // drop the microseconds, skipping rows created within the same millisecond.
  const after = page.after
    ? sql`AND (c.created_at, c.id) < (${page.after.createdAt}::text::timestamptz, ${page.after.id}::uuid)`
    : sql``;
  const rows = await sql<CertificateRow[]>`
    SELECT ${columns(sql)}
    FROM certificates c
    JOIN courses co ON co.id = c.course_id
    JOIN test_attempts a ON a.id = c.test_attempt_id
    WHERE ${filter} ${after}
    ORDER BY c.created_at DESC, c.id DESC
    LIMIT ${page.limit + 1}`;
  return toPage(rows, page.limit, links);
}

/**
 * Not a replacement that a revocation of its original cancelled before it was ever generated
 * (revokeIssued): no name, no date, a code without a page. The revoked original says what was;
 * listed beside it, the cancelled one would read as a second certificate revoked. Its audit rows
 * stay, and findById still finds it.
 */
const notCancelledReplacement = (sql: Sql) =>
  sql`NOT (c.replaces IS NOT NULL AND c.status = 'revoked' AND c.generated_at IS NULL)`;

/** A student's certificates, newest first. */
export async function findByStudent(
  sql: Sql,
  studentId: string,
  page: PageQuery,
  links?: CertificateLinks,
): Promise<CertificatePage> {
  return await pageWhere(
    sql,
    sql`c.student_id = ${studentId}::uuid AND ${notCancelledReplacement(sql)}`,
    page,
    links,
  );
}

/** A course's certificates, newest first. */
export async function findByCourse(
  sql: Sql,
  courseId: string,
  page: PageQuery,
  links?: CertificateLinks,
): Promise<CertificatePage> {
  return await pageWhere(
    sql,
    sql`c.course_id = ${courseId}::uuid AND ${notCancelledReplacement(sql)}`,
    page,
    links,
  );
}

async function findRow(sql: Sql, certificateId: string): Promise<CertificateRow | undefined> {
  const [row] = await sql<CertificateRow[]>`
    SELECT ${columns(sql)}
    FROM certificates c
    JOIN courses co ON co.id = c.course_id
    JOIN test_attempts a ON a.id = c.test_attempt_id
    WHERE c.id = ${certificateId}::uuid`;
  return row;
}

export async function findById(sql: Sql, certificateId: string): Promise<CertificateView | undefined> {
  const row = await findRow(sql, certificateId);
  return row ? toView(row) : undefined;
}

export async function findLatestByStudent(
  sql: Sql,
  studentId: string,
  links?: CertificateLinks,
): Promise<CertificateView | undefined> {
  // Not a replacement still waiting beside the issued certificate it replaces: until it is issued,
  // that one is the holder's valid, downloadable certificate. Nor a cancelled one: the revoked
  // original is the holder's latest.
  const page = await pageWhere(
    sql,
    sql`c.student_id = ${studentId}::uuid AND ${notCancelledReplacement(sql)} AND NOT (
          c.replaces IS NOT NULL AND c.status <> 'issued' AND EXISTS (
          SELECT 1 FROM certificates o WHERE o.id = c.replaces AND o.status = 'issued'))`,
    { limit: 1 },
    links,
  );
  return page.items[0];
}

export async function courseExists(sql: Sql, courseId: string): Promise<boolean> {
  const [row] = await sql`SELECT 1 FROM courses WHERE id = ${courseId}::uuid`;
  return row !== undefined;
}

// ---- use-cases ----

/** A course's passing attempts blocked by a dead certificate (the staff work list). */
export async function laterPassesOfCourse(sql: Sql, courseId: string, limit: number) {
  if (!(await courseExists(sql, courseId))) throw new NotFoundError('Course');
  return await laterPassesNeedingStaff(sql, limit, courseId);
}

/**
 * Whose certificates a caller may read, decided by lib/auth/policies.ts; the queries below
 * only apply it. Someone else's certificate is "not found", exactly like a missing one, so
 * certificate ids cannot be probed.
 */
export type ReadScope = { kind: 'any' } | { kind: 'student'; studentId: string };

function visible(scope: ReadScope, studentId: string): boolean {
  return scope.kind === 'any' || scope.studentId.toLowerCase() === studentId.toLowerCase();
}

/** `studentId` may be any string (a token's `sub`); only UUIDs can own certificates. */
export async function listStudentCertificates(
  sql: Sql,
  studentId: string,
  page: PageQuery,
  links?: CertificateLinks,
): Promise<CertificatePage> {
  if (!isUuid(studentId)) return { items: [], next: null };
  return await findByStudent(sql, studentId, page, links);
}

export async function listCourseCertificates(
  sql: Sql,
  courseId: string,
  page: PageQuery,
  links?: CertificateLinks,
): Promise<CertificatePage> {
  if (!(await courseExists(sql, courseId))) throw new NotFoundError('Course');
  return await findByCourse(sql, courseId, page, links);
}

export async function getCertificate(
  sql: Sql,
  scope: ReadScope,
  certificateId: string,
  links?: CertificateLinks,
): Promise<CertificateView> {
  const row = await findRow(sql, certificateId);
  if (!row || !visible(scope, row.student_id)) throw new NotFoundError('Certificate');
  return toView(row, links);
}

export async function getLatestStudentCertificate(
  sql: Sql,
  studentId: string,
  links?: CertificateLinks,
): Promise<CertificateView> {
  const latest = await findLatestByStudent(sql, studentId, links);
  if (!latest) throw new NotFoundError('Certificate');
  return latest;
}

// ---- download ----

export interface DownloadPolicy {
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

export interface DownloadLink {
  certificateId: string;
  url: string;
  expiresAt: string;
  expiresIn: number;
  fileName: string;
  contentType: 'application/pdf';
  sizeBytes: number | null;
  sha256: string | null;
}

/** Seconds a client should wait before polling a certificate that is still being generated. */
export const GENERATION_RETRY_AFTER_SECONDS = 5;
/** The longest Retry-After: a staff requeue may bring the certificate sooner than its backoff. */
export const MAX_GENERATION_RETRY_AFTER_SECONDS = 3600;

/**
 * What a route that needs a generated certificate answers for one that is not (the download, the
 * Open Badges credential): still being generated (poll after Retry-After), or given up on. One
 * waiting out a backoff (`retryInSeconds`, retry_in_seconds) is not asked about again before its
 * next attempt: after a failure that is up to an hour away, 720 polls at the 5 s of a render.
 */
export function notGeneratedError(status: string, retryInSeconds?: number | null): ConflictError {
  if (status === 'dead')
    return new ConflictError(
      'The certificate could not be generated; a certificate admin can have it generated again',
      { code: 'certificate_generation_failed', certificateStatus: status },
    );
  return new ConflictError('The certificate is being generated', {
    code: 'certificate_not_ready',
    certificateStatus: status,
    retryAfterSeconds: Math.min(
      MAX_GENERATION_RETRY_AFTER_SECONDS,
      Math.max(GENERATION_RETRY_AFTER_SECONDS, retryInSeconds ?? 0),
    ),
  });
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function cleanPart(value: string, maxBytes: number): string {
  const cleaned = withoutStrayTags(value)
    .normalize('NFC')
    // Control and format characters (incl. bidi overrides that disguise extensions), path and
    // header-breaking characters, and the characters Windows forbids in file names. Not ZWNJ,
    // ZWJ and a flag's tag characters, which the printed name keeps (lib/certificates/text.ts):
    // without them a Persian name with a ZWNJ would be two words and a ZWJ emoji sequence two emoji.
    .replace(/[\p{Cc}\p{Zl}\p{Zp}/\\:*?"<>|]|(?!\u200C|\u200D|[\u{E0020}-\u{E007F}])\p{Cf}/gu, ' ')
    .replace(/\.{2,}/g, ' ')
    .replace(/\s+/g, ' ')
    .replace(/^[ .]+|[ .]+$/g, '');
  // File systems cap names at 255 bytes: truncate by UTF-8 bytes, never inside a character as
  // the reader sees it (an emoji sequence, a flag, a letter with its marks).
  let out = '';
  for (const { segment } of graphemes.segment(cleaned)) {
    if (Buffer.byteLength(out + segment) > maxBytes) break;
    out += segment;
  }
  return out.trimEnd();
}

/** A readable, safe file name: `Certificate - <course> - <student>.pdf`. */
export function downloadFileName(certificate: Pick<CertificateView, 'courseTitle' | 'studentName'>): string {
  const parts = [
    'Certificate',
    cleanPart(certificate.courseTitle, 80),
    cleanPart(certificate.studentName ?? '', 60),
  ];
  return `${parts.filter((part) => part !== '').join(' - ')}.pdf`;
}

/**
 * A presigned GET URL for an issued certificate. Not issued yet -> 409 with the status (the
 * frontend shows "being generated"); failed for good -> 409 'dead'; revoked, superseded or
 * expired -> 410.
 */
export async function getDownloadLink(
  deps: { sql: Sql; storage: Presigner; now?: Clock },
  scope: ReadScope,
  certificateId: string,
  options: DownloadPolicy & { requestedTtlSeconds?: number },
): Promise<DownloadLink> {
  const now = deps.now?.() ?? new Date();
  const row = await findRow(deps.sql, certificateId);
  if (!row || !visible(scope, row.student_id)) throw new NotFoundError('Certificate');

  switch (row.status) {
    case 'pending':
    case 'rendering':
    case 'failed':
    case 'dead':
      throw notGeneratedError(row.status, row.retry_in_seconds);
    case 'revoked':
      throw new GoneError('The certificate was revoked', {
        code: 'certificate_revoked',
        certificateStatus: row.status,
        revokedAt: row.revoked_at,
      });
    case 'superseded':
      throw new GoneError('The certificate was replaced by a newer one', {
        code: 'certificate_superseded',
        certificateStatus: row.status,
        supersededBy: row.superseded_by,
      });
    case 'issued':
      break;
  }
  if (row.s3_key === null) throw new Error(`issued certificate ${row.id} has no s3_key`);
  if (isExpired(row, now)) {
    throw new GoneError('The certificate has expired', {
      code: 'certificate_expired',
      certificateStatus: 'expired',
      expiresAt: row.expires_at,
    });
  }

  // SigV4 dates have whole seconds: the URL dies at the signing second plus expiresIn.
  const signedAt = Math.floor(now.getTime() / 1000) * 1000;
  // A link must not outlive the certificate: capped at the seconds left until it expires (at
  // least 1, as SigV4 needs; the certificate is not expired yet, checked above).
  const untilExpiry =
    row.expires_at === null
      ? Number.POSITIVE_INFINITY
      : Math.max(1, Math.floor((row.expires_at.getTime() - signedAt) / 1000));
  const view = toView(row, undefined, now);
  const fileName = downloadFileName(view);
  const { url, expiresInSeconds: expiresIn } = await deps.storage.presignGet(row.s3_key, {
    expiresInSeconds: Math.min(
      options.requestedTtlSeconds ?? options.defaultTtlSeconds,
      options.maxTtlSeconds,
      untilExpiry,
    ),
    fileName,
  });
  return {
    certificateId: row.id,
    url,
    expiresAt: new Date(signedAt + expiresIn * 1000).toISOString(),
    expiresIn,
    fileName,
    contentType: 'application/pdf',
    sizeBytes: row.pdf_bytes,
    sha256: row.pdf_sha256,
  };
}

// ---- public verification (QR code target) ----

export interface PublicVerification {
  verificationCode: string;
  studentName: string | null;
  courseTitle: string;
  issuedOn: string | null;
  /** valid | revoked | superseded | expired */
  status: 'valid' | 'revoked' | 'superseded' | 'expired';
  revokedAt: string | null;
  /**
   * The public form of the revocation's reason (publicRevocationReason). Neither staff's free text
   * nor a code naming the holder's conduct is public: anyone the holder ever shared the link with
   * reads this.
   */
  revocationReason: PublicRevocationReason | null;
  /** Expired (or expires) from this instant on; null when the course has no validity period. */
  expiresAt: string | null;
  /** Verification code of the certificate that replaced this one. */
  supersededBy: string | null;
  /**
   * SHA-256 (hex) of the PDF as issued: a verifier holding a file can tell whether it is that
   * file, byte for byte. Null for certificates issued before it was recorded.
   */
  pdfSha256: string | null;
  /**
   * A key that signed its QR code's facts or the Open Badges credential in its PDF was reported
   * compromised since: every verifier rejects that copy, and a replacement is on its way
   * (`npm run compromise-key` reissues it; once issued, this one is `superseded`).
   */
  signedWithRevokedKey: boolean;
}

/** What the public verification page shows: the signed facts in full and the lifecycle. */
export interface PublicCertificateRecord {
  status: PublicVerification['status'];
  facts: CertificateFacts;
  locale: string;
  revokedAt: string | null;
  /**
   * The public form of the reason code (publicRevocationReason; null for revocations recorded
   * before reason codes). The free text staff gave is not read here at all: nothing public can
   * show it.
   */
  revocationReason: PublicRevocationReason | null;
  expiresAt: string | null;
  /**
   * Verification code of the certificate that replaced this one, once that one is generated (it
   * has no page before: a link to it would say "unknown code").
   */
  supersededByCode: string | null;
  /**
   * Superseded, and its replacement not generated yet: only reissues requested before replacements
   * waited beside their original (migration 1733900000000), which superseded it at once.
   */
  replacementPending?: boolean;
  /** The JWS printed in the QR code (null for certificates issued before signing existed). */
  credentialJws: string | null;
  /** SHA-256 (hex) of the PDF as issued (null before it was recorded). */
  pdfSha256: string | null;
  /**
   * The holder's personal details were erased (lib/certificates/erasure.ts): a revoked or
   * superseded tombstone whose facts have no name and no score (both ''), and no credential.
   */
  erased?: boolean;
  /** PublicVerification's: signed with a key reported compromised since. */
  signedWithRevokedKey?: boolean;
}

/**
 * The public record behind a verification code, or undefined. Certificates not issued yet do
 * not exist publicly; nothing but the printed facts and the lifecycle is disclosed.
 */
export async function findPublicCertificate(
  sql: Sql,
  code: string,
  now: Date = new Date(),
): Promise<PublicCertificateRecord | undefined> {
  const [row] = await sql<
    {
      verification_code: string;
      student_name: string | null;
      course_title: string;
      score: string | null;
      max_score: string | null;
      issued_on: string | null;
      locale: string | null;
      issuer_name: string | null;
      status: CertificateStatus;
      revoked_at: Date | null;
      revocation_reason: RevocationReason | null;
      expires_at: Date | null;
      superseded_by_code: string | null;
      replacement_pending: boolean;
      credential_jws: string | null;
      pdf_sha256: string | null;
      erased: boolean;
      signed_with_revoked_key: boolean;
    }[]
  >`
    SELECT c.verification_code, c.student_name, coalesce(c.course_name, co.title) AS course_title,
           c.score::text, c.max_score::text, c.issued_on::text AS issued_on, c.locale, c.issuer_name,
           c.status, c.revoked_at, c.revocation_reason, c.expires_at,
           n.verification_code AS superseded_by_code,
           c.superseded_by IS NOT NULL AND n.id IS NULL AS replacement_pending,
           c.credential_jws, c.pdf_sha256, c.erased_at IS NOT NULL AS erased,
           EXISTS (SELECT 1 FROM issuer_keys k
                   WHERE k.state = 'compromised' AND k.kid IN (c.credential_kid, c.open_badge_kid))
             AS signed_with_revoked_key
    FROM certificates c
    JOIN courses co ON co.id = c.course_id
    -- The successor only once it has a page of its own (the condition of the WHERE below).
    LEFT JOIN certificates n ON n.id = c.superseded_by
      AND n.status IN ('issued', 'revoked', 'superseded') AND n.generated_at IS NOT NULL
    WHERE c.verification_code IN (${code}, ${code.toUpperCase()})
      AND c.status IN ('issued', 'revoked', 'superseded') AND c.generated_at IS NOT NULL
    LIMIT 1`;
  if (!row) return undefined;
  const status =
    row.status === 'revoked'
      ? 'revoked'
      : row.status === 'superseded'
        ? 'superseded'
        : isExpired(row, now)
          ? 'expired'
          : 'valid';
  return {
    status,
    facts: {
      code: row.verification_code,
      name: row.student_name ?? '',
      course: row.course_title,
      // An erased record has no score: Number(null) would print "0/0".
      score: row.erased ? '' : scoreLine(Number(row.score), Number(row.max_score)),
      issued: row.issued_on ?? '',
      expires: row.expires_at?.toISOString().slice(0, 10) ?? null,
      issuer: row.issuer_name ?? '',
    },
    locale: row.locale ?? 'en',
    revokedAt: row.revoked_at?.toISOString() ?? null,
    revocationReason: publicRevocationReason(row.revocation_reason),
    expiresAt: row.expires_at?.toISOString() ?? null,
    supersededByCode: row.superseded_by_code,
    replacementPending: row.replacement_pending,
    credentialJws: row.credential_jws,
    pdfSha256: row.pdf_sha256,
    erased: row.erased,
    signedWithRevokedKey: row.signed_with_revoked_key,
  };
}

/**
 * Minimal public data for whoever scans the QR code (the JSON answer of the verification URL).
 * Nothing else (ids, scores, e-mail) is disclosed.
 */
export async function verifyCertificate(
  sql: Sql,
  code: string,
  now: Date = new Date(),
): Promise<PublicVerification> {
  const record = await findPublicCertificate(sql, code, now);
  if (!record) throw new NotFoundError('Certificate');
  return {
    verificationCode: record.facts.code,
    // Null too once the holder's details were erased (the record keeps no name then).
    studentName: record.erased || record.facts.name === '' ? null : record.facts.name,
    courseTitle: record.facts.course,
    issuedOn: record.facts.issued === '' ? null : record.facts.issued,
    status: record.status,
    revokedAt: record.revokedAt,
    revocationReason: record.revocationReason,
    expiresAt: record.expiresAt,
    supersededBy: record.supersededByCode,
    pdfSha256: record.pdfSha256,
    signedWithRevokedKey: record.signedWithRevokedKey === true,
  };
}
