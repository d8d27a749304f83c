import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { isbot } from 'isbot';
import {
  type CertificateRef,
  type EventKind,
  type RecordingDeps,
  recordEvent,
  referrerKind,
} from '../certificates/analytics.ts';

/**
 * The HTTP side of analytics: turns a request into an event (kind, certificate, coarse referrer
 * kind, time) and records it with recordEvent's guarantees (bounded wait, never throws). Only
 * the Referer header's host is kept; the IP and caller are never read, and the user agent and
 * Sec-Purpose only to leave out what no one looked at (isUnseenPublicRequest), never stored.
 */

export interface AnalyticsAware {
  /** Unset (tests, tools): nothing is recorded. Production deps always wire it (lib/http/deps.ts). */
  analytics?: RecordingDeps;
  corsOrigins: readonly string[];
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).hostname;
  } catch {
    return undefined;
  }
}

/** This service's own hosts: the API's domain and the frontend origins allowed by CORS. */
function siteHosts(deps: AnalyticsAware, event: APIGatewayProxyEventV2): string[] {
  const hosts = deps.corsOrigins.map(hostOf).filter((host): host is string => host !== undefined);
  const own = event.requestContext?.domainName;
  return own ? [...hosts, own] : hosts;
}

/** Records one event about `certificate` for the request `event`; resolves, never rejects. */
export async function recordRequestEvent(
  deps: AnalyticsAware,
  kind: EventKind,
  certificate: CertificateRef,
  event: APIGatewayProxyEventV2,
  now?: Date,
): Promise<void> {
  if (!deps.analytics) return;
  // API Gateway (HTTP API) lower-cases header names; other callers may not.
  const referer = event.headers?.referer ?? event.headers?.Referer;
  await recordEvent(deps.analytics, {
    kind,
    certificate,
    referrerKind: referrerKind(referer, siteHosts(deps, event)),
    occurredAt: now ?? new Date(),
  });
}

/**
 * Who a public request is counted for: `people` (the HTML page: a crawler or a link preview
 * unfurling a shared link, by isbot's list, is not counted; every share of a link on LinkedIn or
 * in a chat fetches the page, and those would pass for employers checking), `wallets` (the
 * credential the page's "add to wallet" link fetches: crawlers following that link are not
 * counted, but a wallet app is, though it announces only its HTTP library, okhttp, Dart, curl...,
 * which isbot's list also names), `programs` (a request for JSON: a program's deliberate check,
 * counted whatever its client).
 */
export type Audience = 'people' | 'wallets' | 'programs';

/**
 * A User-Agent that is an HTTP library and nothing else ("okhttp/4.12.0", "Dart/3.2 (dart:io)",
 * "curl/8.4.0"): what wallet apps send, which isbot's list also names. Anything more (a crawler
 * or a link preview naming itself, often beside its library: "http.rb/5.1.1 (Mastodon/4.2.0;
 * +https://...)") is not one.
 */
const BARE_HTTP_LIBRARY =
  /^(?:okhttp|Dart|Dalvik|CFNetwork|curl|Wget|python-requests|python-urllib\d?|python-httpx|aiohttp|axios|node-fetch|undici|Go-http-client|Java|Apache-HttpClient|ktor-client)\/[\w.-]+(?: \((?:dart:io|Linux; U; Android [\w.]+(?:; [^()]*)?)\))?$/i;

/** A crawler or a link preview by isbot's list, unless the User-Agent is a bare HTTP library. */
export function isCrawler(agent: string): boolean {
  return isbot(agent) && !BARE_HTTP_LIBRARY.test(agent.trim());
}

/**
 * A public request no one looked at, which must not count as a verification: a HEAD (no content
 * was sent: a link checker or an uptime probe), a browser's speculative prefetch or prerender
 * (`Sec-Purpose`, or the older `Purpose`), and the robots its audience leaves out (Audience).
 */
export function isUnseenPublicRequest(event: APIGatewayProxyEventV2, audience: Audience): boolean {
  if (event.requestContext?.http?.method === 'HEAD') return true;
  const headers = event.headers ?? {};
  const purpose = `${headers['sec-purpose'] ?? ''} ${headers.purpose ?? ''}`;
  if (/\b(prefetch|prerender)\b/i.test(purpose)) return true;
  const agent = headers['user-agent'] ?? '';
  if (audience === 'people') return isbot(agent);
  if (audience === 'wallets') return isCrawler(agent);
  return false;
}

/**
 * For the public verification page: a view of the page, or an export of its credential
 * (VC-JWT / PDF download from the page), by the verification code the page was opened with.
 */
export async function recordPublicEvent(
  deps: AnalyticsAware,
  kind: Extract<EventKind, 'verification-view' | 'credential-export'>,
  verificationCode: string,
  event: APIGatewayProxyEventV2,
  audience: Audience = 'programs',
): Promise<void> {
  if (isUnseenPublicRequest(event, audience)) return;
  await recordRequestEvent(deps, kind, { verificationCode }, event);
}
