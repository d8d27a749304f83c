import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import chromiumImport from '@sparticuz/chromium';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import type { Log } from '../certificates/ports.ts';
import { errorMessage, TransientError } from '../errors.ts';
import { chromiumArchivesDir } from './paths.ts';

// The Lambda bundle is CommonJS and keeps @sparticuz/chromium (ESM-only) external, so there
// require() yields the module namespace (not extensible) whose `default` is the class.
const chromium: typeof chromiumImport =
  (chromiumImport as unknown as { default?: typeof chromiumImport }).default ?? chromiumImport;

/**
 * A headless Chromium kept warm across invocations of one container. Pages are pooled and
 * reused (a new page costs ~100 ms more than reusing one); a crashed or disconnected browser
 * is relaunched on the next render. Every request a page makes is aborted except inline
 * `data:` URLs: certificates are rendered from self-contained HTML and never reach the network.
 */

export interface PdfOptions {
  /** Page timeout for setContent + pdf. */
  timeoutMs: number;
}

export interface PdfPrinter {
  print(html: string, options: PdfOptions): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** What a supervisor may want to know about the browser (logs in production, assertions in tests). */
export interface PrinterEvents {
  /** A browser process started: the first launch, or a relaunch after a crash. */
  launched?(pid: number | undefined): void;
  /** A page tried to reach the network and was refused. */
  blocked?(url: string): void;
}

// Flags from @sparticuz/chromium that we drop: the two web-security switches are not needed for
// local HTML and would only widen what hostile content could do.
const DROPPED_ARGS = new Set(['--disable-web-security', '--allow-running-insecure-content']);

/**
 * On Lambda we keep @sparticuz/chromium's --single-process: its maintainers keep it because pages
 * hung on Lambda without it, and a container prints one certificate at a time, where its
 * drawbacks do not matter. Elsewhere (tests, npm start, the benchmark: several pages printing in
 * parallel on one browser) it is dropped: there it made parallel pages slower, and browser
 * contexts crash the browser in single-process mode.
 */
export function singleProcessByDefault(env: Record<string, string | undefined> = process.env): boolean {
  return env.AWS_LAMBDA_FUNCTION_NAME !== undefined && env.IS_OFFLINE === undefined;
}

/** Production wiring: a relaunch (after a crash) and a template reaching for the network show in the logs. */
export function loggedPrinterEvents(log: Log): PrinterEvents {
  return {
    launched: (pid) => log.info('Chromium launched', { pid }),
    blocked: (url) => log.warn('Render blocked a network request', { url: url.slice(0, 200) }),
  };
}

export interface PdfPrinterOptions {
  executablePath?: string;
  /** Keep Chromium's --single-process (default: only on Lambda, see singleProcessByDefault). */
  singleProcess?: boolean;
  /** Most pages printing at once (and kept warm). */
  maxPages?: number;
  /** Folder under which each launch gets its own profile folder (CHROMIUM_PROFILE_ROOT). */
  profileRoot?: string;
  events?: PrinterEvents;
}

export function createPdfPrinter(options: PdfPrinterOptions = {}): PdfPrinter {
  let browserPromise: Promise<Browser> | undefined;
  const idlePages: Page[] = [];
  // At most `maxPages` pages print at once; more callers wait for a free page. This lets a
  // worker keep more certificates in flight (Keycloak, S3, database) than pages it renders,
  // without overloading Chromium on a small machine.
  const maxPages = options.maxPages ?? 4;
  let printing = 0;
  const waiting: (() => void)[] = [];
  const acquirePage = async (): Promise<void> => {
    while (printing >= maxPages) await new Promise<void>((resolve) => waiting.push(resolve));
    printing += 1;
  };
  const releasePage = (): void => {
    printing -= 1;
    waiting.shift()?.();
  };
  const singleProcess = options.singleProcess ?? singleProcessByDefault();

  const launch = async (): Promise<Browser> => {
    chromium.setGraphicsMode = false;
    const executablePath = options.executablePath ?? (await chromium.executablePath(chromiumArchivesDir()));
    // With a profile root, the browser's profile lives in a known folder, so a supervisor
    // (tests, npm start) can find and kill a browser whose parent died without closing it.
    const userDataDir = options.profileRoot
      ? await mkdtemp(join(options.profileRoot, 'chromium-profile-'))
      : undefined;
    const browser = await puppeteer.launch({
      executablePath,
      ...(userDataDir ? { userDataDir } : {}),
      headless: 'shell',
      args: [
        ...chromium.args.filter(
          (arg) =>
            !DROPPED_ARGS.has(arg) &&
            !arg.startsWith('--headless') &&
            (singleProcess || arg !== '--single-process'),
        ),
        '--disable-background-networking',
      ],
      defaultViewport: { width: 1123, height: 794 },
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    options.events?.launched?.(browser.process()?.pid);
    browser.once('disconnected', () => {
      if (userDataDir) void rm(userDataDir, { recursive: true, force: true }).catch(() => undefined);
      idlePages.length = 0;
      browserPromise = undefined;
    });
    return browser;
  };

  const getBrowser = async (): Promise<Browser> => {
    if (browserPromise) {
      const existing = await browserPromise.catch(() => undefined);
      if (existing?.connected) return existing;
      browserPromise = undefined;
    }
    browserPromise = launch();
    try {
      return await browserPromise;
    } catch (error) {
      browserPromise = undefined;
      throw new TransientError(`browser launch failed: ${errorMessage(error)}`, 'browser');
    }
  };

  const newPage = async (browser: Browser): Promise<Page> => {
    const page = await browser.newPage();
    await page.setJavaScriptEnabled(false); // templates are data, never code
    await page.setRequestInterception(true);
    page.on('request', (request) => {
      const url = request.url();
      if (url.startsWith('data:') || url === 'about:blank') {
        void request.continue();
      } else {
        options.events?.blocked?.(url);
        void request.abort('blockedbyclient');
      }
    });
    return page;
  };

  const printOnPage = async (html: string, printOptions: PdfOptions): Promise<Uint8Array> => {
    const browser = await getBrowser();
    let page = idlePages.pop();
    let healthy = false;
    try {
      if (!page || page.isClosed()) page = await newPage(browser);
      await page.setContent(html, { waitUntil: 'load', timeout: printOptions.timeoutMs });
      const pdf = await page.pdf({
        printBackground: true,
        preferCSSPageSize: true,
        timeout: printOptions.timeoutMs,
      });
      healthy = true;
      return pdf;
    } catch (error) {
      const message = errorMessage(error);
      if (!browser.connected)
        throw new TransientError(`browser crashed during render: ${message}`, 'browser');
      throw new TransientError(`render failed: ${message}`, 'browser');
    } finally {
      if (page && healthy && idlePages.length < maxPages && browser.connected) {
        idlePages.push(page);
      } else if (page && !page.isClosed()) {
        await page.close().catch(() => undefined);
      }
    }
  };

  return {
    async print(html, printOptions) {
      await acquirePage();
      try {
        return await printOnPage(html, printOptions);
      } finally {
        releasePage();
      }
    },
    async close() {
      const current = browserPromise;
      browserPromise = undefined;
      idlePages.length = 0;
      const browser = await current?.catch(() => undefined);
      await browser?.close().catch(() => undefined);
    },
  };
}
