import { scoreLine } from '../../lib/certificates/facts.ts';
import type { CertificateContent } from '../../lib/certificates/ports.ts';
import { signCredential } from '../../lib/credentials/credential.ts';
import { generateSigningJwk, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import {
  achievementForCourse,
  buildOpenBadgeCredential,
  signOpenBadgeCredential,
} from '../../lib/credentials/open-badge.ts';
import { jwtSignerFor } from '../../lib/credentials/signer.ts';
import { statusListEntry } from '../../lib/credentials/status-list.ts';
import { createPdfPrinter } from '../../lib/render/browser.ts';
import { createCertificateRenderer } from '../../lib/render/renderer.ts';
import { type CpuGroup, cpuPerItem, cpuSnapshot } from './cpu.ts';
import { type LatencySummary, round, runPool, summarize, timed } from './stats.ts';

const noCpu = (): Record<CpuGroup, number> => ({
  node: 0,
  chromium: 0,
  postgres: 0,
  'stand-ins': 0,
  other: 0,
});

export function sampleContent(index: number): CertificateContent {
  return {
    certificateId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
    verificationCode: `BENCH${index}`,
    verifyUrl: `https://certificates.example.org/verify/BENCH${index}`,
    studentName: `Ada Lovelace ${index}`,
    courseName: 'Analytical Engines and Their Applications',
    score: 87,
    maxScore: 100,
    percentage: 87,
    issuedOn: '2026-11-24',
    locale: 'en',
    issuerName: 'Example Academy',
  };
}

/** Distinct signed certificates in the pool: consecutive renders never print the same one. */
const SIGNED_POOL = 256;

/**
 * Certificates as the generate function hands them to the renderer: signed, so the QR code holds
 * `verifyUrl#jws` (a version 14-15 code rather than the version 4 of a bare URL), with the JWS,
 * the facts and an Open Badges 3.0 credential attached to the PDF. Signed here ahead of the
 * timed renders (signing is generate's work, not the renderer's); `index` picks from a pool of
 * 256, each consistent with the facts it prints.
 */
export async function signedSamples(): Promise<(index: number) => CertificateContent> {
  // As issued: the facts signed with the ES256 key, the Open Badges credential with the RS256 key.
  const key = await signingKeyFromJwk(await generateSigningJwk());
  const sign = jwtSignerFor(await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256'));
  const apiBaseUrl = 'https://certificates.example.org/api/v1';
  const pool = await Promise.all(
    Array.from({ length: SIGNED_POOL }, async (_, index): Promise<CertificateContent> => {
      const content = sampleContent(index);
      const facts = {
        code: content.verificationCode,
        name: content.studentName,
        course: content.courseName,
        score: scoreLine(content.score, content.maxScore),
        issued: content.issuedOn,
        issuer: content.issuerName,
      };
      const openBadge = await signOpenBadgeCredential(
        buildOpenBadgeCredential({
          credentialId: content.verifyUrl,
          issuer: { id: 'https://certificates.example.org', name: content.issuerName },
          achievement: achievementForCourse({
            baseUrl: apiBaseUrl,
            course: { id: '00000000-0000-4000-8000-00000000c0de', title: content.courseName, locale: 'en' },
            passPercentage: 70,
          }),
          recipient: { id: `urn:uuid:${content.certificateId}`, name: content.studentName },
          validFrom: new Date('2026-11-24T10:00:00Z'),
          credentialStatus: statusListEntry({ baseUrl: apiBaseUrl, listId: 'bench', index: index * 97 }),
        }),
        sign,
        apiBaseUrl,
      );
      return { ...content, credential: { jws: await signCredential(facts, key), facts, openBadge } };
    }),
  );
  return (index) => pool[index % SIGNED_POOL] ?? sampleContent(index);
}

export interface RenderPathBench {
  sequential: { pdfs: number; perSecond: number; latency: LatencySummary };
  parallel: {
    pdfs: number;
    pages: number;
    perSecond: number;
    latency: LatencySummary;
    /** CPU milliseconds per PDF by process group, in the parallel runs. */
    cpuMsPerPdf: Record<CpuGroup, number>;
  };
  meanPdfBytes: number;
}

export interface RenderBench {
  /** Every certificate on a freshly loaded page (setContent of the whole filled template). */
  fresh: RenderPathBench;
  /** Template-once: the loaded template page reused, only the certificate's values changed. */
  templateOnce: RenderPathBench;
  /**
   * Template-once printing the same certificate again and again (sequential): the page has
   * nothing to change, so this is Node's work, one DevTools round trip and Chromium's print:
   * the floor the template-once path cannot go below.
   */
  reprint: { pdfs: number; perSecond: number; latency: LatencySummary };
  /**
   * What changing one thing on the loaded page costs (sequential, template-once): p50 ms when only
   * the name changes, only the QR code (its URL), and only the certificate id and code, beside
   * the reprint's p50 with nothing changed.
   */
  changeOnlyP50Ms: { nothing: number; name: number; qrCode: number; idAndCode: number };
  /** templateOnce / fresh throughput, sequential and with `pages` pages. */
  ratio: { sequential: number; parallel: number };
}

/**
 * (a) Render-only throughput with a warm browser, for both render paths in the same run:
 * sequential, then `pages` pages in parallel. Sequentially the paths take turns certificate by
 * certificate; in parallel they alternate in rounds. Either way a change in machine load (other
 * processes on 2 cores, the host's steal) hits both alike.
 */
export async function benchRender(options: {
  executablePath?: string;
  sequential: number;
  parallel: number;
  pages: number;
  rounds?: number;
}): Promise<RenderBench> {
  const certificate = await signedSamples();
  const printer = createPdfPrinter({ executablePath: options.executablePath, maxPages: options.pages });
  const renderers = {
    fresh: createCertificateRenderer(printer, { timeoutMs: 30_000, reuseTemplatePages: false }),
    templateOnce: createCertificateRenderer(printer, {
      timeoutMs: 30_000,
      onFreshPage: (reason) => {
        throw new Error(`template-once fell back to a fresh page: ${reason}`);
      },
    }),
  };
  const rounds = options.rounds ?? 4;
  type Path = keyof typeof renderers;
  const paths: readonly Path[] = ['fresh', 'templateOnce'];
  const reversedPaths: readonly Path[] = ['templateOnce', 'fresh'];
  const samples: Record<
    Path,
    {
      sequential: number[];
      parallel: number[];
      seqMs: number;
      parMs: number;
      bytes: number;
      cpu: Record<CpuGroup, number>;
    }
  > = {
    fresh: { sequential: [], parallel: [], seqMs: 0, parMs: 0, bytes: 0, cpu: noCpu() },
    templateOnce: { sequential: [], parallel: [], seqMs: 0, parMs: 0, bytes: 0, cpu: noCpu() },
  };
  try {
    for (const path of paths)
      await runPool(options.pages * 2, options.pages, async (i) => {
        await renderers[path].render(certificate(i)); // warm-up: launch, pages, fonts
      });
    const perRound = (total: number) => Math.max(1, Math.round(total / rounds));
    let index = 0;
    const reprint = { samples: [] as number[], ms: 0 };
    const same = certificate(0);
    // One value changed per certificate, the rest as in `same`: the loaded page's cost of each.
    const changeOnly = {
      name: (i: number): CertificateContent => ({ ...same, studentName: `Ada Lovelace ${i}` }),
      qrCode: (i: number): CertificateContent => ({
        ...same,
        verifyUrl: `https://certificates.example.org/verify/BENCH${i}`,
      }),
      idAndCode: (i: number): CertificateContent => ({
        ...same,
        certificateId: certificate(i).certificateId,
        verificationCode: `BENCH${i}`,
      }),
    };
    const changeSamples: Record<keyof typeof changeOnly, number[]> = { name: [], qrCode: [], idAndCode: [] };
    for (let round = 0; round < rounds; round += 1) {
      const few = Math.max(1, Math.round(perRound(options.sequential) / 2));
      const again = await timed(() =>
        runPool(few, 1, async () => {
          await renderers.templateOnce.render(same);
        }),
      );
      reprint.samples.push(...again.value);
      reprint.ms += again.ms;
      for (const [name, make] of Object.entries(changeOnly) as [
        keyof typeof changeOnly,
        (i: number) => CertificateContent,
      ][]) {
        // Back to `same` first, so each measured certificate changes only its one value.
        await renderers.templateOnce.render(same);
        changeSamples[name].push(
          ...(await runPool(few, 1, async () => {
            index += 1;
            await renderers.templateOnce.render(make(index));
          })),
        );
      }
      // Sequentially the two paths take turns certificate by certificate (which one goes first
      // alternating), so a change in the host's load hits both alike. With a block of each
      // path in turn, the host's steal, which here changed within seconds, swung the ratio of
      // the same code from 1.44 to 1.89 between runs.
      for (let turn = 0; turn < perRound(options.sequential); turn += 1) {
        for (const path of turn % 2 === 0 ? paths : reversedPaths) {
          index += 1;
          const started = performance.now();
          const { pdf } = await renderers[path].render(certificate(index));
          const ms = performance.now() - started;
          samples[path].sequential.push(ms);
          samples[path].seqMs += ms;
          samples[path].bytes += pdf.byteLength;
        }
      }
      for (const path of paths) {
        const renderer = renderers[path];
        const sample = samples[path];
        const cpuBefore = cpuSnapshot();
        const parallel = await timed(() =>
          runPool(perRound(options.parallel), options.pages, async () => {
            index += 1;
            await renderer.render(certificate(index));
          }),
        );
        // Summed over rounds as totals (ms per PDF times PDFs), divided once at the end.
        const cpu = cpuPerItem(cpuBefore, cpuSnapshot(), 1);
        for (const group of Object.keys(cpu) as CpuGroup[]) sample.cpu[group] += cpu[group];
        sample.parallel.push(...parallel.value);
        sample.parMs += parallel.ms;
      }
    }
    const summary = (path: Path): RenderPathBench => {
      const sample = samples[path];
      return {
        sequential: {
          pdfs: sample.sequential.length,
          perSecond: round(sample.sequential.length / (sample.seqMs / 1000)),
          latency: summarize(sample.sequential),
        },
        parallel: {
          pdfs: sample.parallel.length,
          pages: options.pages,
          perSecond: round(sample.parallel.length / (sample.parMs / 1000)),
          latency: summarize(sample.parallel),
          cpuMsPerPdf: Object.fromEntries(
            Object.entries(sample.cpu).map(([group, ms]) => [
              group,
              round(ms / Math.max(1, sample.parallel.length), 1),
            ]),
          ) as Record<CpuGroup, number>,
        },
        meanPdfBytes: Math.round(sample.bytes / Math.max(1, sample.sequential.length)),
      };
    };
    const fresh = summary('fresh');
    const templateOnce = summary('templateOnce');
    return {
      fresh,
      templateOnce,
      reprint: {
        pdfs: reprint.samples.length,
        perSecond: round(reprint.samples.length / (reprint.ms / 1000)),
        latency: summarize(reprint.samples),
      },
      changeOnlyP50Ms: {
        nothing: summarize(reprint.samples).p50,
        name: summarize(changeSamples.name).p50,
        qrCode: summarize(changeSamples.qrCode).p50,
        idAndCode: summarize(changeSamples.idAndCode).p50,
      },
      ratio: {
        sequential: round(templateOnce.sequential.perSecond / fresh.sequential.perSecond, 3),
        parallel: round(templateOnce.parallel.perSecond / fresh.parallel.perSecond, 3),
      },
    };
  } finally {
    await printer.close();
  }
}

/**
 * (c) The naive renderer: one Chromium process per PDF (launch, print the same HTML, close),
 * i.e. what rendering costs without a browser kept warm across certificates. (Shelling out to
 * `chromium --print-to-pdf` is not measured: @sparticuz/chromium's headless shell does not
 * finish CLI printing on this machine.)
 */
export async function benchNaive(options: {
  executablePath?: string;
  pdfs: number;
}): Promise<{ pdfs: number; perSecond: number; latency: LatencySummary }> {
  const certificate = await signedSamples();
  const run = await timed(() =>
    runPool(options.pdfs, 1, async (i) => {
      const printer = createPdfPrinter({ executablePath: options.executablePath });
      const renderer = createCertificateRenderer(printer, { timeoutMs: 30_000 });
      try {
        await renderer.render(certificate(i));
      } finally {
        await renderer.close();
      }
    }),
  );
  return {
    pdfs: options.pdfs,
    perSecond: round(options.pdfs / (run.ms / 1000)),
    latency: summarize(run.value),
  };
}
