import type { CertificateContent } from '../../lib/certificates/ports.ts';
import { createPdfPrinter } from '../../lib/render/browser.ts';
import { createCertificateRenderer } from '../../lib/render/renderer.ts';
import { type LatencySummary, round, runPool, summarize, timed } from './stats.ts';

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

export interface RenderBench {
  sequential: { pdfs: number; perSecond: number; latency: LatencySummary };
  parallel: { pdfs: number; pages: number; perSecond: number; latency: LatencySummary };
  meanPdfBytes: number;
}

/** (a) Render-only throughput with a warm browser: sequential, then `pages` pages in parallel. */
export async function benchRender(options: {
  executablePath?: string;
  sequential: number;
  parallel: number;
  pages: number;
}): Promise<RenderBench> {
  const printer = createPdfPrinter({ executablePath: options.executablePath, maxPages: options.pages });
  const renderer = createCertificateRenderer(printer, { timeoutMs: 30_000 });
  try {
    let bytes = 0;
    await runPool(options.pages * 2, options.pages, async (i) => {
      await renderer.render(sampleContent(i)); // warm-up: launch, pages, fonts
    });
    const sequential = await timed(() =>
      runPool(options.sequential, 1, async (i) => {
        bytes += (await renderer.render(sampleContent(i))).pdf.byteLength;
      }),
    );
    const parallel = await timed(() =>
      runPool(options.parallel, options.pages, async (i) => {
        await renderer.render(sampleContent(i));
      }),
    );
    return {
      sequential: {
        pdfs: options.sequential,
        perSecond: round(options.sequential / (sequential.ms / 1000)),
        latency: summarize(sequential.value),
      },
      parallel: {
        pdfs: options.parallel,
        pages: options.pages,
        perSecond: round(options.parallel / (parallel.ms / 1000)),
        latency: summarize(parallel.value),
      },
      meanPdfBytes: Math.round(bytes / options.sequential),
    };
  } finally {
    await renderer.close();
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
  const run = await timed(() =>
    runPool(options.pdfs, 1, async (i) => {
      const printer = createPdfPrinter({ executablePath: options.executablePath });
      const renderer = createCertificateRenderer(printer, { timeoutMs: 30_000 });
      try {
        await renderer.render(sampleContent(i));
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
