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
 * Delay before each retry, after attempt 1, 2, ... fails: the example schedule of Standard
 * Webhooks ("Deliverability and reliability": immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
 * 14 h, 20 h, 24 h), which follows its advice to "retry delivery following a retry schedule
 * spanning multiple days, with an exponential backoff": ten attempts in all over ~75.6 h.
 */
export const RETRY_DELAYS_SECONDS: readonly number[] = [
  5,
  5 * 60,
  30 * 60,
  2 * 3600,
  5 * 3600,
  10 * 3600,
  14 * 3600,
  20 * 3600,
  24 * 3600,
];
export const MAX_ATTEMPTS = RETRY_DELAYS_SECONDS.length + 1;

/**
 * Each delay is moved by up to this fraction either way, at random: the spec recommends "some
 * level of random jitter to retries to prevent cases where the failures are due to recurring
 * load caused by the webhook attempts themselves" (a burst of events failing together would
 * otherwise come back together, on every step of the schedule).
 */
export const RETRY_JITTER = 0.1;

/** A receiver's Retry-After may push a retry later than the schedule, never beyond this. */
export const MAX_RETRY_AFTER_SECONDS = 10 * 3600;

/** A number in [0, 1), as Math.random gives; injected so tests can pin the jitter. */
export type Random = () => number;

/**
 * When to try again after the `attemptsInSchedule`-th failed attempt of the current schedule,
 * or null when the schedule is used up. The scheduled delay is jittered by ±RETRY_JITTER; a
 * longer Retry-After from the receiver is honoured as asked (capped), without jitter.
 */
export function nextRetryAt(
  now: Date,
  attemptsInSchedule: number,
  retryAfterSeconds?: number,
  random: Random = Math.random,
): Date | null {
  if (attemptsInSchedule >= MAX_ATTEMPTS) return null;
  const scheduled = RETRY_DELAYS_SECONDS[attemptsInSchedule - 1] ?? 0;
  const jittered = scheduled * (1 + RETRY_JITTER * (2 * random() - 1));
  const asked = Math.min(retryAfterSeconds ?? 0, MAX_RETRY_AFTER_SECONDS);
  return new Date(now.getTime() + Math.round(Math.max(jittered, asked) * 1000));
}

/**
 * When an endpoint counts as failing consistently, and is disabled (Standard Webhooks: "In some
 * cases, webhook delivery may fail consistently over a long period of time. In that scenario it
 * is important to both: notify the consumers using other channels (e.g. email), and is
 * recommended to disable future delivery to the endpoint"): one of its deliveries has used up
 * its whole retry schedule (MAX_ATTEMPTS attempts over ~75.6 h, at least ~68 h with jitter) and
 * no attempt of any delivery to that endpoint has succeeded since that delivery's first attempt.
 * So every attempt to it failed for about three days, the spec's own multi-day schedule; an
 * endpoint that rejects one event but takes others stays enabled (that event is abandoned
 * alone); and an endpoint enabled again starts afresh, since the window is one delivery's own.
 * The notification is the ERROR log `Webhook endpoint disabled: failing consistently`
 * (alert on it) and the endpoint's `disabledReason`.
 */
export const CONSISTENT_FAILURE_REASON =
  'every delivery attempt failed for a whole retry schedule (~3 days): disabled automatically';

/** The body of a delivery: `{type, timestamp, data}`, serialised once and signed as sent. */
export function webhookBody(type: string, occurredAt: Date, data: Record<string, unknown>): string {
  return JSON.stringify({ type, timestamp: occurredAt.toISOString(), data });
}
