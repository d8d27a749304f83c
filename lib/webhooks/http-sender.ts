import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { type AddressGuard, AddressRefusedError, hostOf } from './address-guard.ts';

/**
 * POSTs one signed webhook. node:http(s) rather than fetch: it lets the connection use the
 * address the guard checked (a custom `lookup`), so DNS cannot answer differently between the
 * check and the connect. Redirects are not followed (a 3xx is a failure, as the spec says);
 * the response body is drained and ignored.
 */

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type SendOutcome =
  | { kind: 'response'; status: number; retryAfter?: string; durationMs: number }
  | { kind: 'error'; error: string; refused: boolean; durationMs: number };

export type WebhookSender = (request: WebhookRequest) => Promise<SendOutcome>;

export interface SenderOptions {
  guard: AddressGuard;
  timeoutMs: number;
  userAgent?: string;
}

export function createHttpSender(options: SenderOptions): WebhookSender {
  return async (webhook) => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let url: URL;
    try {
      url = new URL(webhook.url);
    } catch {
      return { kind: 'error', error: 'invalid URL', refused: true, durationMs: elapsed() };
    }
    // One deadline for the whole delivery, the DNS lookup included: a receiver whose name server
    // never answers must not hold a request slot past WEBHOOK_TIMEOUT_MS (getaddrinfo has no
    // timeout of its own; the lookup is left to finish in the background).
    const deadline = AbortSignal.timeout(options.timeoutMs);
    let pinned: { address: string; family: 4 | 6 };
    try {
      pinned = await Promise.race([
        options.guard.resolve(url),
        new Promise<never>((_, reject) => {
          if (deadline.aborted) reject(deadline.reason);
          deadline.addEventListener('abort', () => reject(deadline.reason), { once: true });
        }),
      ]);
    } catch (error) {
      if (deadline.aborted)
        return {
          kind: 'error',
          error: `timeout after ${options.timeoutMs} ms (resolving ${url.hostname})`,
          refused: false,
          durationMs: elapsed(),
        };
      const refused = error instanceof AddressRefusedError;
      return {
        kind: 'error',
        error: `refused: ${error instanceof Error ? error.message : String(error)}`,
        refused,
        durationMs: elapsed(),
      };
    }
    // Node asks with `all: true` when it may try several addresses (autoSelectFamily).
    const lookup: LookupFunction = (_host, lookupOptions, callback) => {
      if (lookupOptions.all) callback(null, [pinned]);
      else callback(null, pinned.address, pinned.family);
    };
    const requestOptions: RequestOptions & { servername?: string } = {
      method: 'POST',
      protocol: url.protocol,
      hostname: hostOf(url),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      lookup,
      headers: {
        ...webhook.headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(webhook.body)),
        'user-agent': options.userAgent ?? 'course-certificates-webhooks/1',
      },
      signal: deadline,
      // TLS checks the certificate against the name, not the pinned address.
      ...(url.protocol === 'https:' ? { servername: hostOf(url) } : {}),
    };
    try {
      const response = await new Promise<IncomingMessage>((resolve, reject) => {
        const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
        const outgoing = send(requestOptions, resolve);
        outgoing.on('error', reject);
        outgoing.end(webhook.body);
      });
      // Read (and drop) the body so the socket is released; bounded by the same timeout.
      await new Promise<void>((resolve) => {
        response.on('data', () => undefined);
        response.on('end', resolve);
        response.on('error', () => resolve());
        response.on('close', resolve);
      });
      const retryAfter = response.headers['retry-after'];
      return {
        kind: 'response',
        status: response.statusCode ?? 0,
        ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
        durationMs: elapsed(),
      };
    } catch (error) {
      const name = error instanceof Error ? error.name : '';
      const message =
        name === 'TimeoutError' || name === 'AbortError'
          ? `timeout after ${options.timeoutMs} ms`
          : error instanceof Error
            ? ((error as NodeJS.ErrnoException).code ?? error.message)
            : String(error);
      return { kind: 'error', error: message, refused: false, durationMs: elapsed() };
    }
  };
}
