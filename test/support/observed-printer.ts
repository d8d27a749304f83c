import { createPdfPrinter, type PdfPrinter, type PdfPrinterOptions } from '../../lib/render/browser.ts';

/** A real printer that remembers what tests assert on: blocked requests and the browser's pid. */
export interface ObservedPrinter extends PdfPrinter {
  readonly blockedRequests: readonly string[];
  /** Every browser process this printer launched, in order. */
  readonly launchedPids: readonly number[];
  /** PID of the current browser process; undefined before the first launch. */
  pid(): number | undefined;
}

export function createObservedPrinter(options: Omit<PdfPrinterOptions, 'events'> = {}): ObservedPrinter {
  const blockedRequests: string[] = [];
  let pid: number | undefined;
  const launchedPids: number[] = [];
  const printer = createPdfPrinter({
    ...options,
    events: {
      launched: (launchedPid) => {
        pid = launchedPid;
        if (launchedPid !== undefined) launchedPids.push(launchedPid);
      },
      blocked: (url) => {
        blockedRequests.push(url);
      },
    },
  });
  return { ...printer, blockedRequests, launchedPids, pid: () => pid };
}
