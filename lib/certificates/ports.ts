import type { Sql } from '../db/client.ts';
import type { CertificateRenderer, ResolvedTemplate } from '../render/types.ts';
import type { CertificateStorage } from '../storage/s3.ts';
import type { CredentialSigner } from './facts.ts';

/**
 * What the issuing pipeline needs from the outside world, as plain interfaces: handlers wire
 * real adapters (Lambda invoke, Keycloak, S3, Chromium, Powertools); tests and the benchmark
 * wire in-process ones. Nothing here knows about AWS or Lambda.
 */

/** Starts generation of one certificate asynchronously (fire and forget, like an async Lambda invoke). */
export type Dispatch = (certificateId: string) => Promise<void>;

export interface StudentProfile {
  id: string;
  /** The name printed on the certificate: "first last", or the username when both are empty. */
  displayName: string;
  username: string;
  email?: string;
  locale?: string;
}

export interface StudentDirectory {
  /** NotFound -> PermanentError; unavailable -> TransientError. */
  getStudent(studentId: string): Promise<StudentProfile>;
}

/** Per-course template lookup; undefined means the renderer's built-in default. */
export type TemplateResolver = (courseId: string, locale: string) => Promise<ResolvedTemplate | undefined>;

export interface PipelineMetrics {
  certificateGenerated(durationMs: number): void;
  certificateFailed(): void;
  s3Error(): void;
}

/** Structured logger; the Powertools Logger satisfies it. */
export interface Log {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

export const noopMetrics: PipelineMetrics = {
  certificateGenerated: () => undefined,
  certificateFailed: () => undefined,
  s3Error: () => undefined,
};

export interface GenerateDeps {
  sql: Sql;
  directory: StudentDirectory;
  renderer: CertificateRenderer;
  storage: CertificateStorage;
  resolveTemplate?: TemplateResolver;
  /**
   * Signs the printed facts (QR code + PDF attachment). Deployed workers always have one
   * (functions/generate.ts requires the key source); tests of unrelated behaviour may omit it.
   */
  signer?: CredentialSigner;
  metrics?: PipelineMetrics;
  log?: Log;
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
}

export interface ScanDeps {
  sql: Sql;
  dispatch: Dispatch;
  log?: Log;
}

export interface ScanOptions {
  /** Most certificates claimed and dispatched per scan. */
  batchSize: number;
  /** Most passing attempts turned into pending certificates per scan. */
  enqueueLimit: number;
  /** How long a dispatched certificate is left to its worker before the scan hands it out again. */
  dispatchLeaseSeconds: number;
  /** Invocations in flight at once. */
  dispatchConcurrency?: number;
}
