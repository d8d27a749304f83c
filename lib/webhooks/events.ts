/**
 * What a webhook says and when it is sent again: the event types, the thin payload and the
 * retry schedule of Standard Webhooks. Pure: no database, no network.
 */

export const WEBHOOK_EVENT_TYPES = [
  'certificate.issued',
  'certificate.revoked',
  /** The certificate was superseded by a new one (`data.supersededBy`). */
  'certificate.reissued',
  'certificate.expired',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * Delay before each retry, after attempt 1, 2, ... fails: the schedule the issue asks for
 * (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), eight attempts in all over ~27.5 h.
 */
export const RETRY_DELAYS_SECONDS: readonly number[] = [
  5,
  5 * 60,
  30 * 60,
  2 * 3600,
  5 * 3600,
  10 * 3600,
  10 * 3600,
];
export const MAX_ATTEMPTS = RETRY_DELAYS_SECONDS.length + 1;

/** A receiver's Retry-After may push a retry later than the schedule, never beyond this. */
const MAX_RETRY_AFTER_SECONDS = 10 * 3600;

/**
 * When to try again after the `attemptsInSchedule`-th failed attempt of the current schedule,
 * or null when the schedule is used up.
 */
export function nextRetryAt(now: Date, attemptsInSchedule: number, retryAfterSeconds?: number): Date | null {
  if (attemptsInSchedule >= MAX_ATTEMPTS) return null;
  const scheduled = RETRY_DELAYS_SECONDS[attemptsInSchedule - 1] ?? 0;
  const asked = Math.min(retryAfterSeconds ?? 0, MAX_RETRY_AFTER_SECONDS);
  return new Date(now.getTime() + Math.max(scheduled, asked) * 1000);
}

/** The body of a delivery: `{type, timestamp, data}`, serialised once and signed as sent. */
export function webhookBody(type: string, occurredAt: Date, data: Record<string, unknown>): string {
  return JSON.stringify({ type, timestamp: occurredAt.toISOString(), data });
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), if it says anything usable. */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (!value) return undefined;
  if (/^\d{1,9}$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}
