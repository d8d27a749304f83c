import { randomUUID } from 'node:crypto';
import { drainDue } from '../../lib/certificates/drain.ts';
import { generateCertificate, generateOptionsFromConfig } from '../../lib/certificates/generate.ts';
import type { GenerateDeps, Log } from '../../lib/certificates/ports.ts';
import { loadConfig } from '../../lib/config.ts';
import {
  createOpenBadgeIssuer,
  credentialSettingsFromConfig,
} from '../../lib/credentials/credential-service.ts';
import { createKeyStateReader } from '../../lib/credentials/key-store.ts';
import { generateSigningJwk, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import { createCredentialSigner, createIssuerKey } from '../../lib/credentials/signer.ts';
import type { Sql } from '../../lib/db/client.ts';
import { createKeycloakDirectory, keycloakOptionsFromConfig } from '../../lib/identity/keycloak-directory.ts';
import { createPdfPrinter } from '../../lib/render/browser.ts';
import { createCertificateRenderer } from '../../lib/render/renderer.ts';
import { createTemplateResolver } from '../../lib/render/template-store.ts';
import { createCertificateStorage, createS3Client } from '../../lib/storage/s3.ts';
import { type CpuGroup, cpuPerItem, cpuSnapshot } from './cpu.ts';
import { type LatencySummary, round, summarize } from './stats.ts';

const quiet: Log = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message, ...extra) => {
    if (process.env.BENCH_VERBOSE) console.error(message, ...extra);
  },
  error: (message, ...extra) => console.error(message, ...extra),
};

export interface PipelineBench {
  certificates: number;
  pages: number;
  inFlight: number;
  perSecond: number;
  latency: LatencySummary;
  issued: number;
  /** Mean time per certificate inside each dependency; the rest is PostgreSQL and bookkeeping. */
  meanPhaseMs: Record<string, number>;
  /** CPU milliseconds per certificate by process group during the drain (2 cores: 1,000 ms of each per second). */
  cpuMsPerCertificate: Record<CpuGroup, number>;
  /**
   * Share of the drain's time with at least one certificate rendering (waiting for a page or
   * printing): with one page, how busy the pipeline kept it.
   */
  renderingShare: number;
}

/**
 * (b) Drains `count` passing attempts through the real pipeline in-process: scan (enqueue +
 * claim) hands ids to `workers` concurrent generate calls (Keycloak stand-in over HTTP,
 * warm Chromium, S3 stand-in, PostgreSQL). Only Lambda's async invoke is replaced (lib/certificates/drain.ts).
 */
export async function benchPipeline(options: {
  sql: Sql;
  env: Record<string, string>;
  /** Keycloak stand-in base URL; students are added through its control API. */
  keycloakUrl: string;
  executablePath?: string;
  count: number;
  /** Chromium pages printing at once (the parallelism compared with render-only). */
  pages: number;
  /** Certificates in flight at once: more than pages, so Keycloak, S3 and database waits overlap rendering. */
  inFlight: number;
  /** The process running the stand-ins, whose CPU is reported apart. */
  standInsPid?: number;
}): Promise<PipelineBench> {
  const { sql, env } = options;
  const [course] = await sql<
    { id: string }[]
  >`INSERT INTO courses (title, locale) VALUES ('Pipeline Benchmark', 'en') RETURNING id`;
  if (!course) throw new Error('no course');
  const students = Array.from({ length: options.count }, (_, i) => ({
    id: randomUUID(),
    username: `bench-${i}`,
    firstName: 'Bench',
    lastName: `Student ${i}`,
  }));
  for (const student of students) {
    const response = await fetch(`${options.keycloakUrl}/__stand-in/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(student),
    });
    if (!response.ok) throw new Error(`could not add bench student: ${response.status}`);
  }
  await sql`
    INSERT INTO test_attempts (student_id, course_id, score, max_score, passed)
    SELECT s::uuid, ${course.id}, 80 + (random() * 20)::int, 100, true FROM unnest(${students.map((s) => s.id)}::text[]) AS s`;

  // Configured exactly as the generate function is (same parser, same defaults).
  const config = loadConfig(['s3', 'keycloak', 'pipeline', 'render', 'credentials'], env);
  // The issuer keys, as the generate function loads them from their secrets once per container:
  // ES256 for the facts, RS256 for the Open Badges credential.
  const signingJwk = await generateSigningJwk();
  const credentialJwk = await generateSigningJwk('RS256');
  // As deployed: SECRETS_CACHE_SECONDS (300) by default, both keys' states read in one statement.
  const keyOptions = { reloadAfterMs: 300_000, readState: createKeyStateReader(sql) };
  const issuerKey = createIssuerKey(sql, () => signingKeyFromJwk(signingJwk), keyOptions);
  const credentialKey = createIssuerKey(sql, () => signingKeyFromJwk(credentialJwk, 'RS256'), keyOptions);
  const printer = createPdfPrinter({ executablePath: options.executablePath, maxPages: options.pages });
  const s3 = createS3Client(config.s3);
  const deps: GenerateDeps = {
    sql,
    directory: createKeycloakDirectory(keycloakOptionsFromConfig(config.keycloak)),
    renderer: createCertificateRenderer(printer, { timeoutMs: config.render.RENDER_TIMEOUT_MS }),
    storage: createCertificateStorage(s3, config.s3.S3_BUCKET),
    // As in functions/generate.ts: the course's template, else the default.
    resolveTemplate: createTemplateResolver(sql),
    // As in functions/generate.ts: every certificate is signed (its QR code holds the JWS) and
    // carries its Open Badges credential, signed with the credentials key.
    signer: createCredentialSigner(issuerKey),
    openBadge: createOpenBadgeIssuer({ key: credentialKey }, credentialSettingsFromConfig(config)),
    log: quiet,
  };
  const generateOptions = generateOptionsFromConfig(config);

  // Time spent in each dependency, to show where a certificate's time goes beyond rendering.
  // The facts' JWS (signing) and the Open Badges credential (openBadge) are signed at once: their
  // means overlap, and a certificate waits for the longer one.
  const phases: Record<string, number> = {
    keycloak: 0,
    render: 0,
    s3: 0,
    template: 0,
    signing: 0,
    openBadge: 0,
  };
  const timedPhase =
    <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const begun = performance.now();
      try {
        return await fn(...args);
      } finally {
        phases[name] = (phases[name] ?? 0) + performance.now() - begun;
      }
    };
  // Time with at least one render under way: with one page, how busy the pipeline kept it.
  let rendering = 0;
  let renderingSince = 0;
  let renderingMs = 0;
  const tracked =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (rendering++ === 0) renderingSince = performance.now();
      try {
        return await fn(...args);
      } finally {
        if (--rendering === 0) renderingMs += performance.now() - renderingSince;
      }
    };
  const directory = deps.directory;
  const renderer = deps.renderer;
  const storage = deps.storage;
  deps.directory = { getStudent: timedPhase('keycloak', (id: string) => directory.getStudent(id)) };
  deps.renderer = {
    render: timedPhase('render', tracked(renderer.render.bind(renderer))),
    close: () => renderer.close(),
  };
  deps.storage = { ...storage, putPdf: timedPhase('s3', storage.putPdf.bind(storage)) };
  if (deps.resolveTemplate) deps.resolveTemplate = timedPhase('template', deps.resolveTemplate);
  // The facts' JWS and the Open Badges credential (which generate signs during the render).
  const { signer, openBadge } = deps;
  if (signer) deps.signer = { sign: timedPhase('signing', signer.sign.bind(signer)) };
  if (openBadge)
    deps.openBadge = {
      signForRendering: timedPhase('openBadge', openBadge.signForRendering.bind(openBadge)),
    };

  // Warm the browser and the Keycloak token before timing, as a warm Lambda container would be.
  await deps.renderer.render({
    certificateId: randomUUID(),
    verificationCode: 'WARM',
    verifyUrl: 'https://x/verify/WARM',
    studentName: 'Warm Up',
    courseName: 'Warm',
    score: 1,
    maxScore: 1,
    percentage: 100,
    issuedOn: '2026-01-01',
    locale: 'en',
    issuerName: 'x',
  });

  const cpuBefore = cpuSnapshot(options.standInsPid);
  const started = performance.now();
  // The warm-up's render is not one of the drain's certificates.
  renderingMs = 0;
  for (const name of Object.keys(phases)) phases[name] = 0;
  // Claims batches of 100 (SCAN_BATCH_SIZE) with the scan's own statements and generates them
  // with `inFlight` certificates at once; only Lambda's async invoke is left out.
  const drained = await drainDue(
    { sql, log: quiet, generate: (id) => generateCertificate(deps, generateOptions, id) },
    { batchSize: 100, concurrency: options.inFlight, dispatchLeaseSeconds: 300, enqueueLimit: 1000 },
  );
  const durations = drained.durationsMs;
  const elapsed = performance.now() - started;
  const cpu = cpuPerItem(cpuBefore, cpuSnapshot(options.standInsPid), options.count);
  const [issued] = await sql<
    { n: number }[]
  >`SELECT count(*)::int AS n FROM certificates WHERE course_id = ${course.id} AND status = 'issued'`;
  await deps.renderer.close();
  s3.destroy();
  return {
    certificates: options.count,
    pages: options.pages,
    inFlight: options.inFlight,
    perSecond: round(options.count / (elapsed / 1000)),
    latency: summarize(durations),
    issued: issued?.n ?? 0,
    meanPhaseMs: Object.fromEntries(
      Object.entries(phases).map(([name, ms]) => [name, round(ms / Math.max(1, durations.length))]),
    ),
    cpuMsPerCertificate: cpu,
    renderingShare: round(renderingMs / elapsed, 3),
  };
}
