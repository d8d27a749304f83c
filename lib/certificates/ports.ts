import type { Sql } from '../db/client.ts';
import type { CertificateFacts, CredentialSigner } from './facts.ts';

/**
 * What the use-cases need from the outside world, as plain interfaces owned by the domain:
 * adapters (lib/render, lib/storage, lib/identity, lib/invoke, lib/observability) implement
 * them and may import these types; the domain never imports an adapter, the AWS SDK, middy,
 * Powertools or Lambda types (enforced by .dependency-cruiser.cjs in `npm test`). Handlers
 * wire real adapters at cold start; tests and the benchmark wire in-process ones.
 */

// ---- dispatch ----

/** Starts generation of one certificate asynchronously (fire and forget, like an async Lambda invoke). */
export type Dispatch = (certificateId: string) => Promise<void>;

// ---- directory (Keycloak) ----

export interface StudentProfile {
  id: string;
  /** The name printed on the certificate: "first last", or the username when both are empty. */
  displayName: string;
  // Nothing else of the account (username, e-mail): generate needs no more, and a container
  // caches profiles (README, "Personal data").
  locale?: string;
}

export interface StudentDirectory {
  /**
   * NotFound -> PermanentError; unavailable -> TransientError. `fresh`: read the directory even
   * when a recent copy is cached (a certificate that replaces another exists to print what
   * changed, often the name just corrected).
   */
  getStudent(studentId: string, options?: { fresh?: boolean }): Promise<StudentProfile>;
}

// ---- renderer ----

/**
 * The contract between the issuing pipeline and the renderer. The pipeline decides *what* is
 * printed (this content becomes the certificate's snapshot); the renderer decides *how*.
 */
export interface CertificateContent {
  certificateId: string;
  verificationCode: string;
  /** Full URL the QR code points to (VERIFY_BASE_URL + verification code). */
  verifyUrl: string;
  studentName: string;
  courseName: string;
  score: number;
  maxScore: number;
  /** 0-100, two decimals. */
  percentage: number;
  /** ISO date (YYYY-MM-DD) of issue. */
  issuedOn: string;
  /**
   * ISO date (YYYY-MM-DD, UTC) from which the certificate counts as expired (its `expires_at`);
   * absent when the course has no validity period. Printed when set.
   */
  expiresOn?: string;
  /** BCP 47 locale chosen for labels, dates and numbers (en, de, fr, es, ru, zh, ar...). */
  locale: string;
  issuerName: string;
  /**
   * The signed credential: the QR code then holds `verifyUrl#jws`, and the JWS and the full
   * facts it commits to are attached to the PDF (certificate.jwt, certificate-facts.json).
   */
  credential?: {
    jws: string;
    facts: CertificateFacts;
    /** The certificate's Open Badges 3.0 credential (VC-JWT), attached to the PDF next to the JWS. */
    openBadge?: string;
  };
}

/** The template that printed a certificate: recorded with it so a later edit changes nothing issued. */
export interface TemplateRef {
  /** Row id in certificate_templates, or null for the built-in default from templates/. */
  id: string | null;
  version: string;
}

export interface RenderResult {
  pdf: Uint8Array;
  template: TemplateRef;
}

export interface ResolvedTemplate extends TemplateRef {
  html: string;
  css: string;
  /** Image references by name (logo, signature, seal, background): templates/..., s3://..., data:. */
  assets?: Record<string, string>;
  /** Locale the template was written for; used only when the content has none. */
  locale?: string | null;
}

export interface CertificateRenderer {
  /** Renders one certificate to PDF. Browser crash or timeout -> TransientError. */
  render(content: CertificateContent, template?: ResolvedTemplate): Promise<RenderResult>;
  close(): Promise<void>;
}

/** Per-course template lookup; undefined means the renderer's built-in default. */
export type TemplateResolver = (courseId: string, locale: string) => Promise<ResolvedTemplate | undefined>;

// ---- Open Badges credential ----

/** What the PDF's Open Badges credential states that generate decides: the printed names and when. */
export interface OpenBadgeRequest {
  certificateId: string;
  studentName: string;
  courseName: string;
  /** The instant recorded as generated_at: the credential's validFrom, the same one the routes serve later. */
  issuedAt: Date;
  /**
   * The rest of the record as the routes will read it once the certificate is issued: what the
   * claim read and the status entry and expiry just assigned, so the credential is built without
   * reading the record again.
   */
  record: {
    studentId: string;
    verificationCode: string;
    course: { id: string; title: string; code: string | null; locale: string | null; passPercentage: number };
    statusEntry: { listId: string; index: number } | null;
    expiresAt: Date | null;
  };
}

/**
 * Signs a certificate's Open Badges 3.0 credential (VC-JWT with the issuer key) while it is being
 * rendered, from the record generate holds; its status entry and expiry are assigned already.
 * Unavailable key -> TransientError.
 */
export interface OpenBadgeIssuer {
  /** The VC-JWT, and the thumbprint of the key that signed it (recorded: a compromise replaces what it signed). */
  signForRendering(request: OpenBadgeRequest): Promise<{ jwt: string; kid: string }>;
}

// ---- storage and presigner (S3) ----

export interface StoredObject {
  key: string;
  bytes: number;
}

/** Where issued PDFs go. Unavailable -> TransientError. */
export interface CertificateStore {
  putPdf(key: string, pdf: Uint8Array, metadata: Record<string, string>): Promise<StoredObject>;
}

/** What purging one prefix of the bucket found and, unless it was a dry run, deleted. */
export interface PurgedFiles {
  prefix: string;
  /**
   * `all-versions`: every object version and delete marker was listed (ListObjectVersions).
   * `current-objects`: the server has no versioning API (the s3rver stand-in answers
   * ListObjectVersions with MethodNotAllowed, others with NotImplemented), so only the current
   * objects were listed and deleted.
   */
  listing: 'all-versions' | 'current-objects';
  /** Object versions (current and older; with `current-objects`, objects). */
  versions: number;
  deleteMarkers: number;
}

/**
 * Deletes files for good: in a versioned bucket a plain delete only adds a delete marker and every
 * older version stays readable by its version id. Operator tooling only (scripts/erase-student.ts):
 * the functions' roles may not delete anything.
 */
export interface CertificateFileEraser {
  /** Every version and delete marker of every key under `prefix`. Unavailable -> TransientError. */
  purgePrefix(prefix: string, options?: { dryRun?: boolean }): Promise<PurgedFiles>;
}

/** Hands out time-limited download URLs; signing is local, so it does not fail when storage is down. */
export interface Presigner {
  /**
   * `expiresInSeconds` in the answer is how long the URL will work: the lifetime asked for, or
   * less when the credentials it is signed with expire sooner (S3 refuses a URL whose signing
   * session has ended, whatever the URL's own expiry says).
   */
  presignGet(
    key: string,
    options: { expiresInSeconds: number; fileName: string },
  ): Promise<{ url: string; expiresInSeconds: number }>;
}

// ---- log, metrics, clock ----

/** Structured logger; the Powertools Logger satisfies it. */
export interface Log {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

export interface PipelineMetrics {
  certificateGenerated(durationMs: number): void;
  certificateFailed(): void;
  s3Error(): void;
  /** A dependency refused our setup (IAM, missing bucket, rejected client secret). */
  configurationError?(dependency: string): void;
  /** A certificate given up on (`dead`): the student cannot have it until staff requeue it. */
  certificateDead?(): void;
}

export const noopMetrics: PipelineMetrics = {
  certificateGenerated: () => undefined,
  certificateFailed: () => undefined,
  s3Error: () => undefined,
};

/**
 * The issuer's signing keys as the key store records them (lib/credentials/key-store.ts): what a
 * key compromise reads and marks.
 */
export interface IssuerKeyRegistry {
  /** The key's state, or undefined when it never signed anything here. */
  state(kid: string): Promise<'current' | 'retired' | 'compromised' | undefined>;
  /** Marks it compromised (the first mark's time is kept); false when it is unknown. */
  markCompromised(kid: string): Promise<boolean>;
}

/** The current time; injectable so tests can pin expiry and URL lifetimes. */
export type Clock = () => Date;

// ---- use-case dependencies ----

export interface GenerateDeps {
  sql: Sql;
  directory: StudentDirectory;
  renderer: CertificateRenderer;
  storage: CertificateStore;
  log: Log;
  resolveTemplate?: TemplateResolver;
  /**
   * Signs the printed facts (QR code + PDF attachment). Deployed workers always have one
   * (functions/generate.ts requires the key source); tests of unrelated behaviour may omit it.
   */
  signer?: CredentialSigner;
  /** The Open Badges credential attached to the PDF; deployed workers have one, with the signer. */
  openBadge?: OpenBadgeIssuer;
  metrics?: PipelineMetrics;
  /** Jitter source in [0, 1); injectable so tests can pin retry times. */
  random?: () => number;
}

export interface GenerateOptions {
  keyPrefix: string;
  verifyBaseUrl: string;
  issuerName: string;
  defaultLocale: string;
  leaseSeconds: number;
  maxAttempts: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  /** Wait after a configuration error (does not use up an attempt); default one hour. */
  configurationRetrySeconds?: number;
}

export interface ScanDeps {
  sql: Sql;
  dispatch: Dispatch;
  log: Log;
}

export interface ScanOptions {
  /** Most certificates claimed and dispatched per scan. */
  batchSize: number;
  /** Most passing attempts turned into pending certificates per scan. */
  enqueueLimit: number;
  /** Only attempts completed from then on are enqueued; older ones are left to the backfill. */
  notBefore?: Date;
  /** How long a dispatched certificate is left to its worker before the scan hands it out again. */
  dispatchLeaseSeconds: number;
  /** Invocations in flight at once. */
  dispatchConcurrency?: number;
  /** The concurrency budget: most certificates dispatched or rendering at once (unbounded if unset). */
  maxInFlight?: number;
  /** How long one scan keeps topping up the budget while certificates wait (0: one pass). */
  fillSeconds?: number;
  /** Pause between top-ups when the budget is full. */
  fillPollMs?: number;
}
