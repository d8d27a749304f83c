import { createPdfPrinter, type PdfPrinter, type PdfPrinterOptions } from '../../lib/render/browser.ts';

/** A real printer that remembers what tests assert on: blocked requests and the browser's pid. */
export interface ObservedPrinter extends PdfPrinter {
  readonly blockedRequests: readonly string[];
  /** PID of the current browser process; undefined before the first launch. */
  pid(): number | undefined;
}

export function createObservedPrinter(options: Omit<PdfPrinterOptions, 'events'> = {}): ObservedPrinter {
  const blockedRequests: string[] = [];
  let pid: number | undefined;
  const printer = createPdfPrinter({
    ...options,
    events: {
      launched: (launchedPid) => {
        pid = launchedPid;
      },
      blocked: (url) => {
        blockedRequests.push(url);
      },
    },
  });
  return { ...printer, blockedRequests, pid: () => pid };
}
