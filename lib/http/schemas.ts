import { z } from 'zod';
import { backfillRequestSchema, type CourseBackfillResult } from '../certificates/backfill.ts';
import { UUID_PATTERN } from '../certificates/ids.ts';
import {
  type laterPassesNeedingStaff,
  PUBLIC_REVOCATION_REASONS,
  REVOCATION_REASONS,
  type ReissueResult,
  type RevokeResult,
  reissueInputSchema,
  revokeInputSchema,
} from '../certificates/lifecycle.ts';
import type {
  CertificatePage,
  CertificateView,
  DownloadLink,
  PublicVerification,
} from '../certificates/read-model.ts';
import type { RecordAttemptResult } from '../certificates/record-attempt.ts';
import { recordAttemptInputSchema } from '../certificates/record-attempt.ts';
import { BULK_REQUEUE_LIMIT, bulkRequeueInputSchema, requeueInputSchema } from '../certificates/requeue.ts';
import type { HealthReport } from './health.ts';

/**
 * Response shapes of the API as zod schemas: the OpenAPI document is generated from them, the
 * type checks below fail the build when a handler's data drifts from them, and the e2e tests
 * parse real responses with them.
 */

const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();
const uuid = z.string().regex(UUID_PATTERN);

export const certificateStatusSchema = z
  .enum(['pending', 'rendering', 'issued', 'failed', 'dead', 'revoked', 'superseded'])
  .describe(
    'pending/rendering/failed: being generated (failed retries automatically); issued: downloadable; ' +
      'dead: generation gave up; revoked/superseded: no longer valid.',
  );

export const revocationReasonSchema = z
  .enum(REVOCATION_REASONS)
  .describe(
    'issued-in-error: wrong student, course, test data or duplicate; academic-misconduct: cheating or ' +
      'plagiarism found later; attempt-invalidated: the attempt was annulled or regraded below the pass ' +
      'mark; identity-fraud: someone else took the test; requested-by-holder: the student asked; ' +
      'other: anything else (reasonText required).',
  )
  .meta({ id: 'RevocationReason' });

export const publicRevocationReasonSchema = z
  .enum(PUBLIC_REVOCATION_REASONS)
  .describe(
    "Why it was revoked, as told publicly: issued-in-error (the issuer's mistake), requested-by-holder, or " +
      'withdrawn-by-issuer for every other reason. The reason code itself (academic-misconduct, ' +
      "identity-fraud, ...) and staff's free text are in the certificate views only: published beside the " +
      "holder's name, they would be an accusation a verifier does not need.",
  )
  .meta({ id: 'PublicRevocationReason' });

export const effectiveStatusSchema = z
  .enum(['pending', 'rendering', 'issued', 'failed', 'dead', 'revoked', 'superseded', 'expired'])
  .describe(
    '`status`, except `expired` for an issued certificate from `expiresAt` on (derived, not stored).',
  );

export const certificateSchema = z
  .strictObject({
    id: uuid,
    studentId: uuid.describe('Keycloak user id (the `sub` of the student token)'),
    courseId: uuid,
    courseCode: z.string().nullable(),
    courseTitle: z.string().describe('Printed course name once issued; the current course title before'),
    studentName: z.string().nullable().describe('Printed student name; null until generated'),
    status: certificateStatusSchema,
    effectiveStatus: effectiveStatusSchema,
    score: z.number().nullable(),
    maxScore: z.number().nullable(),
    percentage: z.number().nullable(),
    issuedOn: isoDate.nullable(),
    locale: z.string().nullable(),
    verificationCode: z
      .string()
      .describe('Public code behind the QR code: GET /api/v1/verify/{verificationCode}'),
    downloadable: z.boolean().describe('True when GET .../download will return a URL'),
    createdAt: isoDateTime,
    generatedAt: isoDateTime.nullable(),
    revokedAt: isoDateTime.nullable().describe('When it was revoked (a revocation is final)'),
    revocationReason: revocationReasonSchema.nullable(),
    revocationText: z.string().nullable().describe('Free text given with the revocation reason'),
    expiresAt: isoDateTime
      .nullable()
      .describe('Expired from this instant on (00:00 UTC); null when the course has no validity period'),
    supersededBy: uuid.nullable().describe('The certificate that replaced this one (reissue or renewal)'),
    supersededAt: isoDateTime.nullable(),
    linkedInUrl: z
      .url()
      .nullable()
      .describe(
        "LinkedIn's Add-to-Profile link (certification with name, issuer, dates, verification URL and " +
          'code filled in); null unless the certificate is issued, neither revoked nor expired, and ' +
          'not signed with a revoked key',
      ),
    signedWithRevokedKey: z
      .boolean()
      .describe(
        'A key that signed its QR code or the Open Badges credential in its PDF was reported ' +
          'compromised since: verifiers reject this file ("signed with a revoked key"), and a ' +
          'replacement is being issued (this one is then superseded)',
      ),
  })
  .meta({ id: 'Certificate' });

export const certificatePageSchema = z
  .strictObject({
    items: z.array(certificateSchema).describe('Newest first'),
    nextCursor: z
      .string()
      .nullable()
      .describe('Pass as `cursor` to get the next page; null on the last page'),
  })
  .meta({ id: 'CertificatePage' });

export const downloadLinkSchema = z
  .strictObject({
    certificateId: uuid,
    url: z.url().describe('Presigned S3 GET URL; no Authorization header needed'),
    expiresAt: isoDateTime.describe('When the URL stops working'),
    expiresIn: z.number().int().positive().describe('Lifetime of the URL in seconds'),
    fileName: z.string().describe('File name the browser saves (Content-Disposition: attachment)'),
    contentType: z.literal('application/pdf'),
    sizeBytes: z.number().int().nullable(),
    sha256: z.string().nullable().describe('SHA-256 of the PDF, hex'),
  })
  .meta({ id: 'DownloadLink' });

export const publicVerificationSchema = z
  .strictObject({
    verificationCode: z.string(),
    studentName: z.string().nullable(),
    courseTitle: z.string(),
    issuedOn: isoDate.nullable(),
    status: z.enum(['valid', 'revoked', 'superseded', 'expired']),
    revokedAt: isoDateTime.nullable(),
    revocationReason: publicRevocationReasonSchema.nullable(),
    expiresAt: isoDateTime
      .nullable()
      .describe('Expired (or expires) from this instant on; null when the course has no validity period'),
    supersededBy: z
      .string()
      .nullable()
      .describe(
        'Verification code of the certificate that replaced this one (GET /api/v1/verify/{it}); null while ' +
          'that one is not generated yet (it has no page before)',
      ),
    pdfSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .nullable()
      .describe(
        'SHA-256 (hex) of the PDF as issued: a file with another hash is not the file the issuer issued. Null for certificates issued before it was recorded',
      ),
    signedWithRevokedKey: z
      .boolean()
      .describe(
        'A key that signed its QR code or the Open Badges credential in its PDF was since reported ' +
          'compromised: that copy cannot be trusted. For a valid certificate a replacement is being issued ' +
          '(this one then becomes superseded); a revoked, superseded or expired one keeps its status',
      ),
  })
  .meta({ id: 'PublicVerification' });

export const healthSchema = z
  .strictObject({
    status: z.enum(['ok', 'unavailable']),
    checks: z.strictObject({ database: z.enum(['ok', 'unavailable']) }),
  })
  .meta({ id: 'Health' });

export const errorSchema = z
  .strictObject({
    error: z
      .object({
        code: z
          .string()
          .describe('Stable machine-readable code, e.g. invalid_parameter, not_found, certificate_not_ready'),
        message: z.string().describe('Human-readable, safe to show'),
        requestId: z.string().describe('Quote this when reporting a problem'),
        parameter: z.string().optional().describe('400: the offending parameter'),
        certificateStatus: z.string().optional().describe('409/410 on download: the certificate status'),
      })
      .catchall(z.union([z.string(), z.number(), z.boolean(), z.null()])),
  })
  .meta({ id: 'Error' });

export const attemptInputSchema = recordAttemptInputSchema.meta({ id: 'AttemptInput' });

export const attemptResultSchema = z
  .strictObject({
    created: z.boolean().describe('false: this externalRef was recorded before; this is that attempt'),
    attempt: z.strictObject({
      id: uuid,
      studentId: uuid,
      courseId: uuid,
      score: z.number(),
      maxScore: z.number(),
      percentage: z.number(),
      passed: z.boolean(),
      passPercentage: z.number(),
      completedAt: isoDateTime,
      externalRef: z.string().nullable(),
    }),
    certificate: z.strictObject({ id: uuid, status: z.string(), created: z.boolean() }).nullable(),
    dispatched: z.boolean().describe('Whether generation was started right away'),
  })
  .meta({ id: 'AttemptResult' });

export const requeueRequestSchema = requeueInputSchema.meta({ id: 'RequeueInput' });

export const requeueResultSchema = z
  .strictObject({
    id: uuid,
    previousStatus: z.enum(['dead', 'failed']).describe('The status before the requeue'),
    status: z.literal('pending'),
  })
  .meta({ id: 'RequeueResult' });

export const bulkRequeueRequestSchema = bulkRequeueInputSchema.meta({ id: 'BulkRequeueInput' });

export const bulkRequeueResultSchema = z
  .strictObject({
    dryRun: z.boolean(),
    count: z
      .int()
      .min(0)
      .max(BULK_REQUEUE_LIMIT)
      .describe(`Certificates requeued (dry run: that would be), at most ${BULK_REQUEUE_LIMIT} a call`),
    certificateIds: z.array(uuid).describe('Their ids'),
    remaining: z.int().min(0).describe('Dead certificates matching the filter still left: call again'),
  })
  .meta({ id: 'BulkRequeueResult' });

export const revokeRequestSchema = revokeInputSchema.meta({
  id: 'RevokeInput',
  description:
    '`reasonCode` from the documented list (see RevocationReason), shown publicly on the verification ' +
    'page; `reasonText` is free text of up to 1,000 characters, required when `reasonCode` is `other`, ' +
    'shown in the certificate views (staff and the holder) and never publicly.',
});

export const revokeResultSchema = z
  .strictObject({
    id: uuid,
    status: z.literal('revoked'),
    revokedAt: isoDateTime,
    reasonCode: revocationReasonSchema,
    reasonText: z.string().nullable(),
    statusListUpdated: z
      .boolean()
      .describe("Whether the certificate's status-list bit was set (false: issued before status lists)"),
  })
  .meta({ id: 'RevokeResult' });

export const reissueRequestSchema = reissueInputSchema.meta({
  id: 'ReissueInput',
  description:
    'Why it is reissued (name change, template fix...), up to 1,000 characters; goes into the audit log.',
});

export const reissueResultSchema = z
  .strictObject({
    id: uuid.describe('The new certificate: same student, course and attempt; new code and PDF'),
    supersedes: uuid.describe(
      'The certificate it replaces: issued until this one is, then `superseded` with `supersededBy` = id',
    ),
    status: z.literal('pending'),
    dispatched: z
      .boolean()
      .describe(
        'Whether generation was started right away (else the next scan, or an invocation already queued, does)',
      ),
  })
  .meta({ id: 'ReissueResult' });

export const laterPassListSchema = z
  .strictObject({
    items: z.array(
      z.strictObject({
        attemptId: uuid,
        studentId: uuid,
        courseId: uuid,
        deadCertificateId: uuid
          .nullable()
          .describe('The dead certificate blocking it; null once it no longer does'),
        since: isoDateTime.describe('When the attempt was found blocked'),
      }),
    ),
  })
  .meta({ id: 'LaterPassList' });

export const backfillRequestBodySchema = backfillRequestSchema.meta({
  id: 'BackfillInput',
  description: '`from` is required; `to` (inclusive for a bare date), `dryRun` and `notify` are optional.',
});

export const backfillResultSchema = z
  .strictObject({
    courseId: uuid,
    dryRun: z.boolean(),
    certificates: z
      .number()
      .int()
      .describe('Dry run: certificates a backfill would create. Otherwise: certificates this call created'),
    expiredAtIssue: z
      .number()
      .int()
      .describe(
        "Dry run: of those, the ones whose validity period, counted from the pass (the course's " +
          '`validityMonths`), has already ended: they are issued expired. Otherwise 0',
      ),
    remainingAttempts: z
      .number()
      .int()
      .describe('Passing attempts of the selection not yet handled; call again until 0'),
    sample: z
      .array(
        z.strictObject({
          attemptId: uuid,
          studentId: uuid,
          courseId: uuid,
          completedAt: isoDateTime,
          score: z.number(),
          maxScore: z.number(),
        }),
      )
      .describe('Dry run: the first attempts of the selection. Otherwise empty'),
  })
  .meta({ id: 'BackfillResult' });

// ---- compile-time checks: the handlers' data and these schemas must agree ----

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type ApiPage = { items: CertificateView[]; nextCursor: string | null };
type LaterPass = Awaited<ReturnType<typeof laterPassesNeedingStaff>>[number];
type ApiLaterPass = Omit<LaterPass, 'since'> & { since: string };

export const schemaChecks: {
  certificate: Same<CertificateView, z.infer<typeof certificateSchema>>;
  page: Same<ApiPage, z.infer<typeof certificatePageSchema>>;
  download: Same<DownloadLink, z.infer<typeof downloadLinkSchema>>;
  verification: Same<PublicVerification, z.infer<typeof publicVerificationSchema>>;
  health: Same<HealthReport, z.infer<typeof healthSchema>>;
  attempt: Same<RecordAttemptResult, z.infer<typeof attemptResultSchema>>;
  laterPass: Same<ApiLaterPass, z.infer<typeof laterPassListSchema>['items'][number]>;
  revoke: Same<RevokeResult['reasonCode'], z.infer<typeof revokeResultSchema>['reasonCode']>;
  reissue: Same<ReissueResult['supersedes'], z.infer<typeof reissueResultSchema>['supersedes']>;
  backfill: Same<keyof CourseBackfillResult, keyof z.infer<typeof backfillResultSchema>>;
  readPage: CertificatePage extends { items: CertificateView[] } ? true : false;
} = {
  certificate: true,
  page: true,
  download: true,
  verification: true,
  health: true,
  attempt: true,
  laterPass: true,
  revoke: true,
  reissue: true,
  backfill: true,
  readPage: true,
};
