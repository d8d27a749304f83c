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
 * A public request no one looked at, which must not count as a verification: a browser's
 * speculative prefetch or prerender (`Sec-Purpose`, or the older `Purpose`), and, for the HTML
 * page and the credential its "add to wallet" link fetches (`page`), a crawler or a link preview
 * unfurling a shared link (LinkedIn, Slack, chat apps, search engines), recognised by its
 * User-Agent with isbot's list. Every share of a link on LinkedIn or in
 * a chat fetches the page, and those would pass for employers checking. A request for JSON is a
 * program's deliberate check and counts whatever its client: isbot's list also names curl and
 * every HTTP library.
 */
export function isUnseenPublicRequest(event: APIGatewayProxyEventV2, page: boolean): boolean {
  const headers = event.headers ?? {};
  const purpose = `${headers['sec-purpose'] ?? ''} ${headers.purpose ?? ''}`;
  if (/\b(prefetch|prerender)\b/i.test(purpose)) return true;
  return page && isbot(headers['user-agent'] ?? '');
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
  answered: { page: boolean } = { page: false },
): Promise<void> {
  if (isUnseenPublicRequest(event, answered.page)) return;
  await recordRequestEvent(deps, kind, { verificationCode }, event);
}
