import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import chromiumImport from '@sparticuz/chromium';
import puppeteer, { type Browser, type CDPSession, type Page } from 'puppeteer-core';
import type { Log } from '../certificates/ports.ts';
import { ConfigurationError, errorMessage, TransientError, ValidationError } from '../errors.ts';
import { chromiumExecutable } from './chromium-binary.ts';

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

/**
 * One certificate printed on a page that already holds its template (template-once rendering,
 * lib/render/template-once.ts). `html` is the template filled with marker strings instead of the
 * certificate's values; the page is loaded from it once per `key` and kept. Each marker is then
 * found, once, in the page's text nodes and attribute values; per certificate the text or
 * attribute that held it is set to its template with every marker replaced by its value: as text
 * (Text.data, Attr.value), never parsed as HTML.
 */
export interface ReusedPageJob {
  /** Identifies the loaded page: the same key must always come with the same html and markers. */
  key: string;
  html: string;
  markers: readonly string[];
  /** How often each marker occurs in `html`: the page must hold exactly as many, in text or attribute values. */
  expectedCounts: readonly number[];
  /** The certificate's value for each marker (raw text). */
  values: readonly string[];
  /**
   * Markers whose value is an image (the QR code's data URI): allowed only as the whole `src` of
   * an <img>, whose decoding is awaited before printing; anywhere else (CSS url(), SVG) the page
   * could print before the image arrived, so such a page is unmappable.
   */
  imageMarkers: readonly number[];
  /** @font-face rules this certificate needs beyond the page's own. */
  extraFontCss: string;
  /** Only load the page and keep it (a warm-up ahead of the first certificate): nothing is printed. */
  loadOnly?: boolean;
}

export type ReusedPageResult =
  | { status: 'printed'; pdf: Uint8Array }
  | { status: 'loaded' }
  /** The page's markers cannot all be updated as text (e.g. one sits in CSS or a comment). */
  | { status: 'unmappable'; reason: string };

export interface PdfPrinter {
  print(html: string, options: PdfOptions): Promise<Uint8Array>;
  /** Template-once printing; a printer without it is only ever asked for `print`. */
  printReusing?(job: ReusedPageJob, options: PdfOptions): Promise<ReusedPageResult>;
  /** Starts the browser (and a page) ahead of the first print: cold start overlaps it with other work. */
  warm?(): Promise<void>;
  close(): Promise<void>;
}

/** What a supervisor may want to know about the browser (logs in production, assertions in tests). */
export interface PrinterEvents {
  /** A browser process started: the first launch, or a relaunch after a crash. */
  launched?(pid: number | undefined): void;
  /** A page tried to reach the network and was refused. */
  blocked?(url: string): void;
  /** A launch failed and is tried once more at once (why, without the browser's whole output). */
  launchRetried?(reason: string): void;
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
    launchRetried: (reason) => log.warn('Chromium failed to launch; launching again', { reason }),
    blocked: (url) => log.warn('Render blocked a network request', { url: url.slice(0, 200) }),
  };
}

export interface PdfPrinterOptions {
  executablePath?: string;
  /** Keep Chromium's --single-process (default: only on Lambda, see singleProcessByDefault). */
  singleProcess?: boolean;
  /** Most pages printing at once (and kept warm). */
  maxPages?: number;
  /** Most loaded template pages kept between prints (template-once), least recently used dropped first. */
  maxTemplatePages?: number;
  /** Folder under which each launch gets its own profile folder (CHROMIUM_PROFILE_ROOT). */
  profileRoot?: string;
  events?: PrinterEvents;
}

/*
 * The two scripts template-once printing runs in a page through the DevTools protocol
 * (Runtime.evaluate: it works while the page's own JavaScript is disabled, and no page script
 * can see or change what they leave on `window`). Strings, not functions: tsx and esbuild may
 * wrap named functions in helpers that do not exist inside the page.
 */

/** Finds the markers: counts per marker, the text nodes / attributes holding them, a style element for extra fonts. */
const LOCATE_SLOTS = `(markers, imageMarkers) => {
  const raw = new Set(['style', 'script', 'xmp', 'iframe', 'noembed', 'noframes', 'noscript', 'template', 'textarea', 'plaintext']);
  const counts = markers.map(() => 0);
  const slots = [];
  // The <img> elements whose src is an image value (the QR code as qr_code).
  const images = [];
  let problem = '';
  const scan = (text) => {
    const found = [];
    markers.forEach((marker, i) => {
      for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + marker.length)) {
        counts[i] += 1;
        found.push(i);
      }
    });
    return found;
  };
  const walker = document.createTreeWalker(document, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeType === Node.TEXT_NODE) {
      const found = scan(node.data);
      if (found.length === 0) continue;
      const parent = node.parentNode;
      if (parent && parent.nodeType === Node.ELEMENT_NODE && raw.has(parent.localName))
        problem ||= 'a value is used inside <' + parent.localName + '>';
      if (found.some((i) => imageMarkers.includes(i))) problem ||= 'an image value is used as text';
      slots.push({ node, template: node.data });
      continue;
    }
    for (const attr of Array.from(node.attributes)) {
      const found = scan(attr.value);
      if (found.length === 0) continue;
      const image = found.filter((i) => imageMarkers.includes(i));
      if (image.length > 0 && !(node.localName === 'img' && attr.name === 'src' && node.namespaceURI === 'http://www.w3.org/1999/xhtml' && attr.value === markers[image[0]]))
        problem ||= 'an image value is used outside <img src>';
      if (image.length > 0) images.push(node);
      slots.push({ node: attr, template: attr.value });
    }
  }
  // A nested document (an <iframe src> or srcdoc, an <object data>, an <embed>) loads by itself,
  // after its attribute changes: nothing here waits for it, so a print would show the frame blank
  // or holding the previous certificate's values. Such a page prints fresh: setContent waits for
  // every frame's load.
  const nested = document.querySelector('iframe, frame, object, embed, portal, fencedframe');
  if (nested) problem ||= 'the page embeds a document (<' + nested.localName + '>), which loads after its values change';
  const style = document.createElement('style');
  (document.head || document.documentElement).appendChild(style);
  const index = new Map(markers.map((marker, i) => [marker, i]));
  // Markers are letters, digits and spaces (template-once.ts): nothing to escape in a pattern.
  const pattern = new RegExp(markers.join('|'), 'g');
  let current = '';
  // Puts one certificate's values in (as text: nodeValue), swaps the extra fonts, waits for fonts
  // and images. Kept on the page so each certificate sends only its values, not this source.
  const update = async (values, css) => {
    for (const slot of slots) {
      const next = slot.template.replace(pattern, (marker) => values[index.get(marker)]);
      if (slot.node.nodeValue !== next) slot.node.nodeValue = next;
    }
    if (current !== css) {
      style.textContent = css;
      current = css;
    }
    // Style and layout now, so the fonts the new text needs start loading before we wait for them.
    void document.documentElement.offsetHeight;
    await document.fonts.ready;
    await Promise.all(Array.from(document.images, (img) => (img.complete ? undefined : img.decode().catch(() => undefined))));
    await document.fonts.ready;
    // A certificate is never printed without its QR code: an image value that is not there to
    // paint (broken, or still loading after the waits) fails this page, and the certificate
    // prints on a fresh page, whose load event waits for every image.
    if (images.some((img) => !(img.complete && img.naturalWidth > 0))) return 'an image value did not load';
    return '';
  };
  window.__certificatePage = { update };
  return { counts, problem };
}`;

/** Why a template whose page would not stay put is refused (newPage). */
const NAVIGATES_AWAY =
  'the template navigates away from its own page (a <meta http-equiv="refresh">): a certificate prints only the template itself';

/** Calls the page's update (installed by LOCATE_SLOTS) with one certificate's values. */
const UPDATE_SLOTS = `(values, css) => window.__certificatePage ? window.__certificatePage.update(values, css) : 'the page lost its slots'`;

/**
 * A print that outlasted its time. The browser that ran it was killed (its renderer may still be
 * busy with it, and with --single-process everything after it would wait behind), so the next
 * print starts a new one; printing the same page again would only take as long again.
 */
export class RenderTimeoutError extends TransientError {
  constructor(message: string) {
    super(message, 'browser');
    this.name = 'RenderTimeoutError';
  }
}

/**
 * The longest any DevTools call may go unanswered. puppeteer's default, 180 s, outlasts generate's
 * own timeout (120 s); every print and page load has its own, shorter limit (RENDER_TIMEOUT_MS).
 */
const PROTOCOL_TIMEOUT_MS = 60_000;

/**
 * The page's renderer process died (the OOM killer, a Chromium crash) while the browser lives on.
 * Its DevTools calls are never answered: puppeteer would wait its protocol timeout, with the
 * certificate's budget slot held.
 */
class PageCrashedError extends TransientError {
  constructor() {
    super('the page crashed (its renderer process died)', 'browser');
    this.name = 'PageCrashedError';
  }
}

/** `work`, or a RenderTimeoutError with `message` once `ms` have passed. */
async function within<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RenderTimeoutError(message)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// puppeteer's own limit on one DevTools call ("Target.attachToTarget timed out. Increase the
// 'protocolTimeout' setting ..."): a ProtocolError, and a browser that stopped answering.
const PROTOCOL_TIMED_OUT = /\btimed out\b.*protocolTimeout/s;

function isTimeout(error: unknown): boolean {
  return (
    error instanceof RenderTimeoutError ||
    (error instanceof Error && (error.name === 'TimeoutError' || PROTOCOL_TIMED_OUT.test(error.message)))
  );
}

/** A failed print, told apart by whether the browser survived it (both are worth a retry). */
function renderFailure(error: unknown, browser: Browser): TransientError {
  const message = errorMessage(error);
  if (isTimeout(error)) return new RenderTimeoutError(`render timed out: ${message}`);
  return browser.connected
    ? new TransientError(`render failed: ${message}`, 'browser')
    : new TransientError(`browser crashed during render: ${message}`, 'browser');
}

export function createPdfPrinter(options: PdfPrinterOptions = {}): PdfPrinter {
  let browserPromise: Promise<Browser> | undefined;
  const idlePages: Page[] = [];
  const sessions = new WeakMap<Page, CDPSession>();
  // Each page's crash, as a promise every DevTools call of a print is raced with (newPage).
  const crashes = new WeakMap<Page, Promise<never>>();
  const crashedPages = new WeakSet<Page>();
  // Pages whose document asked to go elsewhere (newPage): never printed on, never reused.
  const navigatedPages = new WeakSet<Page>();
  /** A page a print may use: open, its renderer alive as far as Chromium has said, still its own. */
  const usable = (page: Page | undefined): boolean =>
    page !== undefined && !page.isClosed() && !crashedPages.has(page) && !navigatedPages.has(page);
  /** `work`, unless the page crashes first. */
  const unlessCrashed = <T>(page: Page, work: Promise<T>): Promise<T> => {
    const crash = crashes.get(page);
    return crash ? Promise.race([work, crash]) : work;
  };
  // A page made, and a document loaded, within the print's limit: every DevTools call of them
  // (attaching, turning JavaScript off, the frame tree, writing the document) would otherwise wait
  // out the protocol timeout when Chromium hangs, past generate's own, and the hung browser would
  // be kept (a RenderTimeoutError discards it).
  const newPageWithin = (browser: Browser, ms: number): Promise<Page> =>
    within(newPage(browser), ms, `a new page did not answer within ${ms} ms`);
  const loadWithin = (page: Page, html: string, ms: number): Promise<void> =>
    within(
      unlessCrashed(page, page.setContent(html, { waitUntil: 'load', timeout: ms })),
      ms,
      `the page did not load within ${ms} ms`,
    );
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
  // Pages being loaded ahead of their first certificate (printReusing with loadOnly), by key.
  const preloading = new Map<string, Promise<unknown>>();
  // Template pages by key, least recently used first (Map keeps insertion order).
  const templatePages = new Map<string, Page[]>();
  const maxTemplatePages = options.maxTemplatePages ?? Math.max(4, maxPages);
  const idleTemplatePageCount = (): number =>
    [...templatePages.values()].reduce((total, pages) => total + pages.length, 0);
  const takeTemplatePage = (key: string): Page | undefined => {
    const pages = templatePages.get(key);
    const page = pages?.pop();
    if (pages && pages.length === 0) templatePages.delete(key);
    return page;
  };
  const keepTemplatePage = (key: string, page: Page): void => {
    const pages = templatePages.get(key) ?? [];
    templatePages.delete(key);
    templatePages.set(key, [...pages, page]);
    while (idleTemplatePageCount() > maxTemplatePages) {
      const [oldestKey, oldest] = templatePages.entries().next().value ?? [];
      if (!oldestKey || !oldest) break;
      const evicted = oldest.shift();
      if (oldest.length === 0) templatePages.delete(oldestKey);
      void evicted?.close().catch(() => undefined);
    }
  };

  const launch = async (): Promise<Browser> => {
    chromium.setGraphicsMode = false;
    const executablePath = options.executablePath || (await chromiumExecutable());
    // No binary is the deployment's fault (CHROMIUM_EXECUTABLE_PATH, or a layer without
    // Chromium), not the certificate's: no retry can fix it, so it must not use up attempts.
    if (!existsSync(executablePath))
      throw new ConfigurationError(
        `no Chromium at ${executablePath} (check CHROMIUM_EXECUTABLE_PATH or the render layer)`,
        'browser',
      );
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
        // Every network request of a page goes to a proxy that is not there (the discard port,
        // loopback included): the second wall behind the request interception below, which
        // Chromium's speculative loads (<link rel="prefetch">) bypass. Pages need no network:
        // templates, fonts and assets arrive inlined; DevTools does not go through the proxy.
        '--proxy-server=http://127.0.0.1:9',
        '--proxy-bypass-list=<-loopback>',
        // Pages made with enableBeginFrameControl (newPage) then draw no frames of their own.
        '--enable-begin-frame-control',
      ],
      defaultViewport: { width: 1123, height: 794 },
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      protocolTimeout: PROTOCOL_TIMEOUT_MS,
    });
    options.events?.launched?.(browser.process()?.pid);
    browser.once('disconnected', () => {
      if (userDataDir) void rm(userDataDir, { recursive: true, force: true }).catch(() => undefined);
      // Forget it only if it is still the current one. A discarded browser (discardBrowser)
      // disconnects after its replacement may have launched: forgetting that one instead left
      // it running with nobody to close it, one orphan Chromium per discard.
      const pending = browserPromise;
      void pending?.then(
        (current) => {
          if (current !== browser || browserPromise !== pending) return;
          idlePages.length = 0;
          templatePages.clear();
          browserPromise = undefined;
        },
        () => undefined,
      );
    });
    return browser;
  };

  const getBrowser = async (): Promise<Browser> => {
    if (browserPromise) {
      const existing = await browserPromise.catch(() => undefined);
      if (existing?.connected) return existing;
      browserPromise = undefined;
    }
    // A launch that fails is tried once more at once: Chromium occasionally dies while starting
    // (a segfault in its thread pool, seen here once in ~10 test runs on a loaded machine, with
    // nothing on stderr), and one retry costs ~1 s where failing costs the certificate a retry
    // minutes later. A second failure is reported: then something is wrong with the setup.
    browserPromise = launch().catch((first: unknown) => {
      if (first instanceof ConfigurationError) throw first;
      options.events?.launchRetried?.(errorMessage(first).slice(0, 300));
      return launch();
    });
    try {
      return await browserPromise;
    } catch (error) {
      browserPromise = undefined;
      if (error instanceof ConfigurationError) throw error;
      throw new TransientError(`browser launch failed: ${errorMessage(error)}`, 'browser');
    }
  };

  /**
   * A page that never draws a frame on its own (Target.createTarget with
   * enableBeginFrameControl, which --enable-begin-frame-control allows): nothing looks at it,
   * and printing lays out and paints for itself. A normal page painted after every change
   * (setContent, a new QR image, a font arriving) and the reply of each DevTools call waited
   * behind those paints: measured here, a fresh-page print went from ~44 to ~28 ms and a
   * template-once update-and-print from ~23 to ~19 ms, with the same PDF bytes.
   */
  const framelessPage = async (browser: Browser): Promise<Page> => {
    const url = `about:blank#certificate-page-${randomUUID()}`;
    // Listening before asking, so the new target cannot be missed; if asking fails (the browser
    // closing meanwhile), the wait is cancelled rather than left to reject unobserved later.
    const cancel = new AbortController();
    const created = browser.waitForTarget((target) => target.url() === url, {
      timeout: 30_000,
      signal: cancel.signal,
    });
    created.catch(() => undefined);
    try {
      // Through a session of the blank tab the browser opens at launch (browser.target() was not
      // always ready right after a launch), never one of the printing pages, which may be closing.
      const opener =
        (await browser.pages()).find((page) => page.url() === 'about:blank' && !page.isClosed()) ??
        (await browser.newPage());
      const session = await opener.createCDPSession();
      try {
        await session.send('Target.createTarget', { url, enableBeginFrameControl: true });
      } finally {
        await session.detach().catch(() => undefined);
      }
    } catch (error) {
      cancel.abort();
      throw error;
    }
    const page = await (await created).page();
    if (!page) throw new Error('the new page target has no page');
    return page;
  };

  const newPage = async (browser: Browser): Promise<Page> => {
    const page = await framelessPage(browser);
    // What ends every DevTools call on the page at once (unlessCrashed): puppeteer's 'error'
    // event, "Page crashed!" (Inspector.targetCrashed), or the page sent elsewhere (below).
    let crashed: (error: Error) => void = () => undefined;
    const crash = new Promise<never>((_, reject) => {
      crashed = reject;
    });
    crash.catch(() => undefined);
    crashes.set(page, crash);
    page.once('error', () => {
      crashedPages.add(page);
      crashed(new PageCrashedError());
    });
    await page.setJavaScriptEnabled(false); // templates are data, never code
    await page.setRequestInterception(true);
    page.on('request', (request) => {
      const url = request.url();
      if (url.startsWith('data:') || url === 'about:blank' || url.startsWith('about:blank#')) {
        void request.continue();
      } else {
        options.events?.blocked?.(url);
        void request.abort('blockedbyclient');
      }
    });
    // The page is what setContent wrote, and nothing may take it elsewhere. Without JavaScript a
    // template can still do it with `<meta http-equiv="refresh">`: to about:blank (no request,
    // so interception never sees it) the certificate would print, be signed and be issued blank;
    // to a blocked URL the page would show Chromium's error page, to the next certificate too.
    // Chromium announces such a navigation when it parses the tag, on this session, which may be
    // after setContent returns but comes before the document is replaced: it fails at once every
    // DevTools call of the print, which are all raced with it (unlessCrashed), so nothing is
    // printed from a page on its way elsewhere, and none waits for an answer that never comes
    // (a `document.fonts.ready` of a document being replaced is never answered).
    const session = await sessionOf(page);
    const { frameTree } = await session.send('Page.getFrameTree');
    // Closing a page caught mid-navigation can go unanswered for good (seen here once in a few
    // tries), so such a page takes its browser with it (discardBrowser): a template that does
    // this fails every certificate anyway, and Chromium is relaunched for the next print.
    const navigates = (event: { frameId: string }) => {
      if (event.frameId !== frameTree.frame.id) return;
      navigatedPages.add(page);
      crashed(new ValidationError(NAVIGATES_AWAY));
    };
    session.on('Page.frameScheduledNavigation', navigates);
    session.on('Page.frameRequestedNavigation', navigates);
    await session.send('Page.enable');
    return page;
  };

  // One DevTools session per page, made on first use: printing and evaluating go through it.
  const sessionOf = async (page: Page): Promise<CDPSession> => {
    let session = sessions.get(page);
    if (!session) {
      session = await page.createCDPSession();
      sessions.set(page, session);
    }
    return session;
  };

  /**
   * Runtime.evaluate on the page's own session: what page.evaluate does, without puppeteer's
   * execution-context bookkeeping (0.53 against 0.74 ms for a trivial expression here), in the
   * main world's default context (where LOCATE_SLOTS leaves its state). The page's own JavaScript
   * is disabled; evaluation through DevTools still runs.
   */
  const evaluate = async (page: Page, expression: string, timeoutMs?: number): Promise<unknown> => {
    const session = await sessionOf(page);
    const call = session.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    const { result, exceptionDetails } = await unlessCrashed(
      page,
      timeoutMs === undefined
        ? call
        : within(call, timeoutMs, `the page did not answer within ${timeoutMs} ms`),
    );
    if (exceptionDetails) throw new Error(exceptionDetails.exception?.description ?? exceptionDetails.text);
    return result.value;
  };

  /**
   * Page.printToPDF with the PDF returned in the reply: puppeteer's page.pdf() asks for a stream
   * and reads it back in chunks, which cost ~15-20 ms more per certificate here than Chromium's
   * printing itself. Same settings as page.pdf({ printBackground, preferCSSPageSize }) (tagged PDF,
   * no outline, Letter paper that the template's @page size overrides); fonts are awaited first,
   * as page.pdf() does.
   */
  const pdfOf = async (page: Page, printOptions: PdfOptions, fontsAwaited = false): Promise<Uint8Array> => {
    const print = (async () => {
      if (!fontsAwaited) await evaluate(page, 'document.fonts.ready.then(() => true)');
      const session = await sessionOf(page);
      const { data } = await session.send('Page.printToPDF', {
        transferMode: 'ReturnAsBase64',
        printBackground: true,
        preferCSSPageSize: true,
        paperWidth: 8.5,
        paperHeight: 11,
        marginTop: 0,
        marginBottom: 0,
        marginLeft: 0,
        marginRight: 0,
        generateTaggedPDF: true,
        generateDocumentOutline: false,
      });
      return new Uint8Array(Buffer.from(data, 'base64'));
    })();
    return await unlessCrashed(
      page,
      within(print, printOptions.timeoutMs, `printing took longer than ${printOptions.timeoutMs} ms`),
    );
  };

  // After a timeout the renderer may still be busy with that page: with --single-process every
  // later call (the next certificate's, even closing the page) would wait behind it, for as long
  // as the page takes. The browser is killed instead, and the next print launches a new one.
  const discardBrowser = async (browser: Browser): Promise<void> => {
    const current = await browserPromise?.catch(() => undefined);
    if (current === browser) {
      browserPromise = undefined;
      idlePages.length = 0;
      templatePages.clear();
    }
    const child = browser.process();
    if (child) child.kill('SIGKILL');
    else void browser.close().catch(() => undefined);
  };

  const printOnPage = async (
    html: string,
    printOptions: PdfOptions,
    retryOnCrash = true,
  ): Promise<Uint8Array> => {
    const browser = await getBrowser();
    let page = idlePages.pop();
    let healthy = false;
    // A blank page kept from an earlier print: if it turns out to have crashed meanwhile, this
    // print goes to a new page instead of failing the certificate.
    let reused = true;
    try {
      if (!page || !usable(page)) {
        if (page && !page.isClosed()) void page.close().catch(() => undefined);
        reused = false;
        page = await newPageWithin(browser, printOptions.timeoutMs);
      }
      await loadWithin(page, html, printOptions.timeoutMs);
      const pdf = await pdfOf(page, printOptions);
      healthy = true;
      return pdf;
    } catch (error) {
      // The template's own fault: no retry, no browser to blame.
      if (error instanceof ValidationError) throw error;
      if (error instanceof PageCrashedError && reused && retryOnCrash) {
        if (page && !page.isClosed()) void page.close().catch(() => undefined);
        page = undefined;
        return await printOnPage(html, printOptions, false);
      }
      // A navigation the page scheduled can also end a DevTools call on it ("Inspected target
      // navigated or closed") before its own event fails the call.
      if (page && navigatedPages.has(page)) throw new ValidationError(NAVIGATES_AWAY);
      if (isTimeout(error)) await discardBrowser(browser);
      throw renderFailure(error, browser);
    } finally {
      if (page && healthy && idlePages.length < maxPages && browser.connected) {
        idlePages.push(page);
      } else if (page && navigatedPages.has(page)) {
        await discardBrowser(browser);
      } else if (page && !page.isClosed()) {
        await page.close().catch(() => undefined);
      }
    }
  };

  const printReusingOnPage = async (
    job: ReusedPageJob,
    printOptions: PdfOptions,
  ): Promise<ReusedPageResult> => {
    const browser = await getBrowser();
    let page = takeTemplatePage(job.key);
    let healthy = false;
    try {
      if (!page || !usable(page)) {
        if (page && !page.isClosed()) void page.close().catch(() => undefined);
        // A blank page made ahead (warm) or left by a fresh print serves as well as a new one.
        const idle = idlePages.pop();
        if (idle && !usable(idle) && !idle.isClosed()) void idle.close().catch(() => undefined);
        page = idle && usable(idle) ? idle : await newPageWithin(browser, printOptions.timeoutMs);
        await loadWithin(page, job.html, printOptions.timeoutMs);
        const located = (await evaluate(
          page,
          `(${LOCATE_SLOTS})(${JSON.stringify(job.markers)}, ${JSON.stringify(job.imageMarkers)})`,
          printOptions.timeoutMs,
        )) as { counts: number[]; problem: string };
        const mismatch = job.expectedCounts.findIndex((count, i) => located.counts[i] !== count);
        if (located.problem || mismatch >= 0) {
          return {
            status: 'unmappable',
            reason:
              located.problem ||
              `value ${mismatch} occurs ${job.expectedCounts[mismatch]} times in the markup but ${located.counts[mismatch]} times in text and attributes`,
          };
        }
      }
      if (job.loadOnly) {
        healthy = true;
        return { status: 'loaded' };
      }
      const failure = await evaluate(
        page,
        `(${UPDATE_SLOTS})(${JSON.stringify(job.values)}, ${JSON.stringify(job.extraFontCss)})`,
        printOptions.timeoutMs,
      );
      if (failure) throw new Error(String(failure));
      const pdf = await pdfOf(page, printOptions, true);
      healthy = true;
      return { status: 'printed', pdf };
    } catch (error) {
      // A page that crashed during the print fails it at once (PageCrashedError), and the
      // certificate renderer prints the certificate on a fresh page instead (renderer.ts).
      if (page && navigatedPages.has(page)) return { status: 'unmappable', reason: NAVIGATES_AWAY };
      if (isTimeout(error)) await discardBrowser(browser);
      throw renderFailure(error, browser);
    } finally {
      // A page that failed (or could not be mapped) is never reused: the next print loads a fresh one.
      if (page && healthy && browser.connected) keepTemplatePage(job.key, page);
      else if (page && navigatedPages.has(page)) await discardBrowser(browser);
      else if (page && !page.isClosed()) await page.close().catch(() => undefined);
    }
  };

  return {
    async printReusing(job, printOptions) {
      // A certificate arriving while its page is being loaded ahead (warm-up) waits for that
      // page rather than loading a second one.
      await preloading.get(job.key)?.catch(() => undefined);
      const run = (async () => {
        await acquirePage();
        try {
          return await printReusingOnPage(job, printOptions);
        } finally {
          releasePage();
        }
      })();
      if (job.loadOnly) {
        preloading.set(job.key, run);
        void run.finally(() => preloading.delete(job.key)).catch(() => undefined);
      }
      return run;
    },
    async warm() {
      const browser = await getBrowser();
      if (idlePages.length === 0) idlePages.push(await newPage(browser));
    },
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
      templatePages.clear();
      const browser = await current?.catch(() => undefined);
      await browser?.close().catch(() => undefined);
    },
  };
}
