import type { Log } from '../certificates/ports.ts';
import type { Sql, TransactionSql } from '../db/client.ts';
import { parseRetryAfter } from '../retry-after.ts';
import {
  CONSISTENT_FAILURE_REASON,
  MAX_ATTEMPTS,
  MAX_RETRY_AFTER_SECONDS,
  nextRetryAt,
  type Random,
  RETRY_DELAYS_SECONDS,
  webhookBody,
} from './events.ts';
import type { SendOutcome, WebhookSender } from './http-sender.ts';
import { signatureHeaders } from './signing.ts';

/**
 * The delivery worker (functions/deliver-webhooks.ts, every minute):
 *   1. fan out: each new outbox event becomes one delivery per enabled endpoint subscribed to
 *      its type;
 *   2. claim due deliveries (FOR UPDATE SKIP LOCKED, so concurrent runs never send one twice),
 *      leasing each for longer than a request can take;
 *   3. sign and POST each, record the attempt, and settle: 2xx succeeded; 410 Gone disables the
 *      endpoint; anything else retries on the jittered schedule (events.ts) until it is used up,
 *      and an endpoint that failed every attempt meanwhile is disabled (CONSISTENT_FAILURE_REASON).
 * Time comes from `now()` and the jitter from `random()`: tests move the clock instead of
 * sleeping through the schedule, and pin the jitter.
 */

export interface DeliveryDeps {
  sql: Sql;
  send: WebhookSender;
  log: Log;
  now: () => Date;
  /** For the retry jitter; Math.random unless a test pins it. */
  random?: Random;
}

export interface DeliveryOptions {
  batchSize: number;
  concurrency: number;
  timeoutMs: number;
}

export interface DeliveryRunResult {
  fannedOut: number;
  deliveriesCreated: number;
  attempted: number;
  succeeded: number;
  failed: number;
  /** Deliveries whose retry schedule ran out in this run (failed for good, logged as errors). */
  abandoned: number;
  endpointsDisabled: number;
  /**
   * Deliveries sent whose answer the database failed to record: due again when their claim's
   * lease ends. Not counted as failed: the receiver may well have taken it, and may then get it
   * twice, under the same webhook-id. (One the database failed on before its request was sent is
   * due again the same way, and counted nowhere: it was not attempted.)
   */
  unrecorded: number;
  /**
   * Deliveries not sent because their endpoint asked to be throttled earlier in this run (429,
   * 502, 503 or 504, or no answer at all): put back, unattempted, until that answer's retry.
   */
  held: number;
}

interface ClaimedDelivery {
  id: string;
  attempt_count: number;
  schedule_start: number;
  endpoint_id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  event_id: string;
  event_type: string;
  data: Record<string, unknown>;
  occurred_at: Date;
}

/** How long a disabled endpoint's delivery log keeps the events it was not sent (see fanOut). */
export const DISABLED_LOG_DAYS = 30;

/**
 * Outbox events -> deliveries, for endpoints registered before the event was written. An endpoint
 * disabled at that moment gets its delivery too, `cancelled` at once: nothing is sent, but the
 * event is in its delivery log, so once it is enabled again an admin can redeliver it. Only for
 * DISABLED_LOG_DAYS after it was disabled: an endpoint an admin deleted (DELETE disables it) must
 * not collect a row for every event for ever.
 */
export async function fanOut(
  deps: Pick<DeliveryDeps, 'sql' | 'now'>,
  limit: number,
): Promise<{ events: number; deliveries: number }> {
  const now = deps.now();
  return await deps.sql.begin(async (tx) => {
    const events = await tx<{ id: string; event_type: string; occurred_at: Date }[]>`
      SELECT id, event_type, occurred_at FROM webhook_outbox
      WHERE fanned_out_at IS NULL
      ORDER BY occurred_at, id
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED`;
    if (events.length === 0) return { events: 0, deliveries: 0 };
    const ids = events.map((event) => event.id);
    const created = await tx<{ status: string }[]>`
      INSERT INTO webhook_deliveries (endpoint_id, event_id, status, next_attempt_at, last_error)
      SELECT e.id, o.id,
             CASE WHEN e.disabled_at IS NULL THEN 'pending' ELSE 'cancelled' END,
             CASE WHEN e.disabled_at IS NULL THEN ${now}::timestamptz END,
             CASE WHEN e.disabled_at IS NOT NULL THEN 'not sent: the endpoint was disabled when the event happened' END
      FROM webhook_outbox o
      JOIN webhook_endpoints e
        ON o.event_type = ANY (e.event_types) AND e.created_at <= o.created_at
           AND (e.disabled_at IS NULL OR e.disabled_at > o.created_at - make_interval(days => ${DISABLED_LOG_DAYS}))
      WHERE o.id = ANY (${ids}::uuid[])
      -- A disabling not yet committed is waited for and then seen (the delivery is written
      -- cancelled); else it would cancel the pending deliveries before these exist, and these
      -- would wait, unsent, until the endpoint is enabled again.
      FOR SHARE OF e
      ON CONFLICT (endpoint_id, event_id) DO NOTHING
      RETURNING status`;
    await tx`UPDATE webhook_outbox SET fanned_out_at = ${now} WHERE id = ANY (${ids}::uuid[])`;
    // Deliveries to send; the cancelled ones of disabled endpoints are only logged.
    return { events: events.length, deliveries: created.filter((row) => row.status === 'pending').length };
  });
}

/**
 * Due deliveries of enabled endpoints, leased (and their attempt counted) in one statement. Taken
 * endpoint by endpoint in turns (each endpoint's oldest first, then each one's second, ...), not
 * oldest first overall: one receiver's backlog, or a stalled receiver's retries, would otherwise
 * fill every batch and the other receivers would wait behind it. `skip`: endpoints that asked to
 * be throttled earlier in this run. An endpoint throttled in an earlier run (throttled_until) gets
 * nothing until its throttle has passed, and then one delivery, the probe: a receiver that was
 * down is not sent a whole batch at once to find out whether it is back.
 */
export async function claimDue(
  deps: Pick<DeliveryDeps, 'sql' | 'now'>,
  options: DeliveryOptions,
  skip: readonly string[],
): Promise<ClaimedDelivery[]> {
  const now = deps.now();
  // The lease outlasts the whole run (the claimed batch is sent `concurrency` at a time, each
  // request bounded by the timeout) with room for recording: no other run can send it meanwhile.
  const rounds = Math.ceil(options.batchSize / options.concurrency);
  const leaseUntil = new Date(now.getTime() + rounds * options.timeoutMs + 60_000);
  // FOR UPDATE may not share a query level with a window function: the turns are numbered over
  // each endpoint's first `batchSize` due deliveries (webhook_deliveries_endpoint_due_idx), and
  // the locking level re-checks that each is still pending and due.
  return await deps.sql<ClaimedDelivery[]>`
    WITH candidates AS (
      SELECT c.id, c.next_attempt_at,
             row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS turn
      FROM webhook_endpoints e
      CROSS JOIN LATERAL (
        -- Two branches, of which each endpoint runs one (the other's condition on e is false
        -- before any row is read). An endpoint not throttled: its oldest due, in the order of
        -- webhook_deliveries_endpoint_due_idx, which yields the first batchSize and stops however
        -- long the backlog (one ORDER BY for both kinds sorted every endpoint's whole backlog).
        (SELECT d.id, d.endpoint_id, d.next_attempt_at FROM webhook_deliveries d
         WHERE e.throttled_until IS NULL
           AND d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= ${now}
         ORDER BY d.next_attempt_at, d.id
         LIMIT ${options.batchSize}::int)
        UNION ALL
        -- A throttled endpoint's probe: the due delivery deepest in its retry schedule. It keeps
        -- that schedule, so a receiver that stays down is disabled after it as before
        -- (CONSISTENT_FAILURE_REASON), however fast new events arrive; oldest due first, those
        -- would each take one attempt in turn and none would ever use its schedule up.
        (SELECT d.id, d.endpoint_id, d.next_attempt_at FROM webhook_deliveries d
         WHERE e.throttled_until IS NOT NULL
           AND d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= ${now}
         ORDER BY d.attempt_count - d.schedule_start DESC, d.next_attempt_at, d.id
         LIMIT 1)
      ) c
      WHERE e.disabled_at IS NULL AND NOT (e.id = ANY (${skip}::uuid[]))
        AND (e.throttled_until IS NULL OR e.throttled_until <= ${now})
    ), due AS (
      SELECT d.id FROM webhook_deliveries d
      JOIN candidates c ON c.id = d.id
      -- The candidates by primary key: joined on id alone, the planner may hash the whole
      -- table (every delivery ever made) to find a few hundred rows.
      WHERE d.id = ANY (ARRAY(SELECT id FROM candidates))
        AND d.status = 'pending' AND d.next_attempt_at <= ${now}
      ORDER BY c.turn, c.next_attempt_at, d.id
      LIMIT ${options.batchSize}
      FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE webhook_deliveries d
    SET attempt_count = d.attempt_count + 1, next_attempt_at = ${leaseUntil}, updated_at = now()
    FROM due, webhook_endpoints e, webhook_outbox o
    WHERE d.id = due.id AND e.id = d.endpoint_id AND o.id = d.event_id
    RETURNING d.id, d.attempt_count, d.schedule_start, d.endpoint_id, e.url, e.secret,
      CASE WHEN e.previous_secret_expires_at > ${now} THEN e.previous_secret END AS previous_secret,
      o.id AS event_id, o.event_type, o.data, o.occurred_at`;
}

type Settlement = 'succeeded' | 'retry' | 'failed' | 'gone';

/**
 * Standard Webhooks, "Throttling": after a 429 (and a 502 or 504, and so a 503) it is
 * "recommended to throttle additional requests" to that endpoint. An endpoint that answers one
 * gets nothing more in this run: its other deliveries wait, unattempted, for THROTTLE_PAUSE_SECONDS
 * or the answer's Retry-After if longer (capped as a retry's is). So does one that did not answer
 * at all (a timeout, a refused or reset connection, a refused address): its other deliveries would
 * fail the same way, each holding a request slot for up to the timeout and spending an attempt of
 * its schedule.
 */
const THROTTLING_STATUSES = new Set([429, 502, 503, 504]);

/**
 * How long a throttle holds an endpoint's other deliveries when the receiver named no
 * Retry-After: the schedule's first step. Not the failed delivery's own retry, which is up to 24 h
 * away when that delivery is deep in its schedule: events that never had an attempt would wait a
 * day behind it, and be overtaken by newer ones once the receiver recovered. So a receiver that
 * stays down gets one probe a run, and one that recovers gets its held events on the next run.
 */
export const THROTTLE_PAUSE_SECONDS = RETRY_DELAYS_SECONDS[0] ?? 5;

function settlementOf(outcome: SendOutcome, attemptsInSchedule: number): Settlement {
  if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) return 'succeeded';
  if (outcome.kind === 'response' && outcome.status === 410) return 'gone';
  return attemptsInSchedule >= MAX_ATTEMPTS ? 'failed' : 'retry';
}

interface Delivered {
  /**
   * `cancelled`: not sent, its endpoint disabled since it was claimed (a 410 or an admin).
   * `unrecorded`: sent, its answer not recorded (DeliveryRunResult.unrecorded); `unsent`: the
   * database failed before its request.
   */
  settlement: Settlement | 'held' | 'cancelled' | 'unrecorded' | 'unsent';
  /** Whether this delivery disabled its endpoint (410 Gone, or failing consistently). */
  disabled: boolean;
  /** The endpoint asked to be throttled: nothing more to it before this instant. */
  throttleUntil?: Date;
}

/**
 * After `deliveryId` used up its schedule: whether no attempt to its endpoint has succeeded since
 * the first attempt of that schedule (the rule documented at CONSISTENT_FAILURE_REASON).
 * `last_attempt_at` bounds the deliveries to look at: one with a later success was attempted later.
 */
async function failingConsistently(
  tx: TransactionSql,
  delivery: Pick<ClaimedDelivery, 'id' | 'endpoint_id' | 'schedule_start'>,
): Promise<boolean> {
  const [row] = await tx<{ failing: boolean }[]>`
    WITH window_start AS (
      SELECT min(attempted_at) AS since FROM webhook_delivery_attempts
      WHERE delivery_id = ${delivery.id} AND attempt_number > ${delivery.schedule_start}
    )
    SELECT NOT EXISTS (
      SELECT 1 FROM webhook_deliveries d
      JOIN webhook_delivery_attempts a ON a.delivery_id = d.id
      CROSS JOIN window_start w
      WHERE d.endpoint_id = ${delivery.endpoint_id} AND d.last_attempt_at >= w.since
        AND a.succeeded AND a.attempted_at >= w.since
    ) AS failing`;
  return row?.failing ?? false;
}

async function deliverOne(deps: DeliveryDeps, delivery: ClaimedDelivery): Promise<Delivered> {
  const attemptedAt = deps.now();
  const body = webhookBody(delivery.event_type, delivery.occurred_at, delivery.data);
  const secrets = [delivery.secret, ...(delivery.previous_secret ? [delivery.previous_secret] : [])];
  const outcome = await deps.send({
    url: delivery.url,
    headers: signatureHeaders(secrets, delivery.event_id, attemptedAt, body),
    body,
  });
  const finishedAt = deps.now();
  const attemptsInSchedule = delivery.attempt_count - delivery.schedule_start;
  const settlement = settlementOf(outcome, attemptsInSchedule);
  const statusCode = outcome.kind === 'response' ? outcome.status : null;
  const error =
    outcome.kind === 'error' ? outcome.error : settlement === 'succeeded' ? null : `HTTP ${outcome.status}`;
  const retryAfterSeconds =
    outcome.kind === 'response' ? parseRetryAfter(outcome.retryAfter, finishedAt) : undefined;
  const retryAt =
    settlement === 'retry'
      ? nextRetryAt(finishedAt, attemptsInSchedule, retryAfterSeconds, deps.random)
      : null;
  const status = settlement === 'retry' ? 'pending' : settlement === 'succeeded' ? 'succeeded' : 'failed';
  // Whatever this delivery's own settlement: the last attempt of a schedule failing with a 503
  // throttles the endpoint as much as the first. A 410 or a disabling cancels the rest anyway.
  const throttles =
    settlement !== 'succeeded' &&
    settlement !== 'gone' &&
    (outcome.kind === 'error' || THROTTLING_STATUSES.has(outcome.status));
  const pause = Math.max(THROTTLE_PAUSE_SECONDS, Math.min(retryAfterSeconds ?? 0, MAX_RETRY_AFTER_SECONDS));
  const throttleUntil = throttles ? new Date(finishedAt.getTime() + pause * 1000) : undefined;

  const disabled = await deps.sql.begin(async (tx) => {
    // A settlement that may disable the endpoint locks it first, as an admin's DELETE does
    // (endpoint, then its deliveries): two deliveries disabling it at once then wait in turn
    // instead of deadlocking on each other's delivery rows.
    if (settlement === 'gone' || settlement === 'failed') {
      await tx`SELECT 1 FROM webhook_endpoints WHERE id = ${delivery.endpoint_id} FOR UPDATE`;
    }
    // The endpoint's throttle, before the delivery's row for the same reason: every path that
    // writes both (a disabling, an admin's DELETE) takes the endpoint first.
    if (throttleUntil) {
      // Kept for the later runs; several answers in flight at once: the longest hold wins.
      await tx`
        UPDATE webhook_endpoints SET throttled_until = GREATEST(throttled_until, ${throttleUntil}::timestamptz)
        WHERE id = ${delivery.endpoint_id}`;
    } else {
      // Answered without a throttle (a 2xx, or a 4xx/500 of this event's own): the receiver is
      // back. Not a throttle set by an answer that came in after this one was sent, still to run.
      await tx`
        UPDATE webhook_endpoints SET throttled_until = NULL
        WHERE id = ${delivery.endpoint_id} AND throttled_until <= ${finishedAt}`;
    }
    await tx`
      INSERT INTO webhook_delivery_attempts
        (delivery_id, attempt_number, attempted_at, status_code, error, duration_ms, succeeded)
      VALUES (${delivery.id}, ${delivery.attempt_count}, ${attemptedAt}, ${statusCode}, ${error},
        ${outcome.durationMs}, ${settlement === 'succeeded'})
      ON CONFLICT (delivery_id, attempt_number) DO NOTHING`;
    await tx`
      UPDATE webhook_deliveries
      SET status = ${status}, next_attempt_at = ${retryAt}, last_attempt_at = ${attemptedAt},
          last_status_code = ${statusCode}, last_error = ${error}, updated_at = now()
      WHERE id = ${delivery.id} AND attempt_count = ${delivery.attempt_count}
        -- Cancelled while it was being sent (its endpoint was disabled meanwhile): it stays
        -- cancelled unless this very attempt got through.
        AND (status = 'pending' OR ${status}::text = 'succeeded')`;
    if (settlement === 'gone') {
      return await disableEndpoint(tx, delivery.endpoint_id, 'the endpoint answered 410 Gone', finishedAt);
    }
    if (settlement === 'failed' && (await failingConsistently(tx, delivery))) {
      return await disableEndpoint(tx, delivery.endpoint_id, CONSISTENT_FAILURE_REASON, finishedAt);
    }
    return false;
  });
  const entry = {
    deliveryId: delivery.id,
    endpointId: delivery.endpoint_id,
    eventType: delivery.event_type,
    attempt: delivery.attempt_count,
    ...(statusCode === null ? {} : { statusCode }),
    ...(error ? { error } : {}),
  };
  if (settlement === 'succeeded') deps.log.info('Webhook delivered', entry);
  else if (settlement === 'gone') deps.log.warn('Webhook endpoint disabled: 410 Gone', entry);
  else if (settlement === 'failed') {
    // The schedule ran out: the receiver will not hear of this event unless an admin redelivers it.
    deps.log.error('Webhook delivery abandoned: retry schedule exhausted', entry);
    // The spec's "notify the consumers using other channels": an alert on this message.
    if (disabled) deps.log.error('Webhook endpoint disabled: failing consistently', entry);
  } else deps.log.warn('Webhook delivery failed', { ...entry, retryAt: retryAt?.toISOString() ?? null });
  return { settlement, disabled, ...(throttleUntil && !disabled ? { throttleUntil } : {}) };
}

/** Puts a claimed delivery back as it was, due at `until`: it was not sent (its endpoint throttles). */
/**
 * A claimed delivery's event data as it stands just before it is sent, or undefined when it is no
 * longer to be sent (cancelled, or its endpoint disabled since the claim).
 */
async function stillToSend(
  sql: Sql,
  delivery: ClaimedDelivery,
): Promise<Pick<ClaimedDelivery, 'data'> | undefined> {
  const [row] = await sql<Pick<ClaimedDelivery, 'data'>[]>`
    SELECT o.data FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id
    JOIN webhook_outbox o ON o.id = d.event_id
    WHERE d.id = ${delivery.id} AND d.status = 'pending' AND e.disabled_at IS NULL`;
  return row;
}

async function holdBack(deps: DeliveryDeps, delivery: ClaimedDelivery, until: Date): Promise<void> {
  await deps.sql`
    UPDATE webhook_deliveries
    SET attempt_count = attempt_count - 1, next_attempt_at = ${until}, updated_at = now()
    WHERE id = ${delivery.id} AND attempt_count = ${delivery.attempt_count} AND status = 'pending'`;
}

/**
 * Pending deliveries cancelled in one statement: a receiver that was down for days may have
 * hundreds of thousands, and cancelling them all at once outlasted the HTTP routes' 6 s
 * statement timeout (measured: 350,000 in 7.8 s), so an admin could not disable it at all. The
 * rest are cancelled by the delivery worker, CANCEL_BATCH a run (cancelDisabledBacklogs);
 * meanwhile nothing sends them (a disabled endpoint's deliveries are never claimed).
 */
export const CANCEL_BATCH = 5000;

/** Cancels up to `limit` pending deliveries of an endpoint; how many it cancelled. */
export async function cancelPending(
  sql: Sql | TransactionSql,
  endpointId: string,
  limit: number = CANCEL_BATCH,
): Promise<number> {
  const cancelled = await sql`
    UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, updated_at = now()
    WHERE id IN (SELECT id FROM webhook_deliveries
                 WHERE endpoint_id = ${endpointId} AND status = 'pending'
                 -- By id, as the worker's sweep takes them: two cancellations of one backlog
                 -- (an enable, the worker) wait for each other instead of deadlocking.
                 ORDER BY id LIMIT ${limit} FOR UPDATE)`;
  return cancelled.count;
}

/**
 * Disables an endpoint and cancels what it still had pending (the first CANCEL_BATCH; the worker
 * the rest); the delivery log stays.
 */
export async function disableEndpoint(
  sql: Sql | TransactionSql,
  endpointId: string,
  reason: string,
  at: Date,
  batch: number = CANCEL_BATCH,
): Promise<boolean> {
  const disabled = await sql`
    UPDATE webhook_endpoints SET disabled_at = ${at}, disabled_reason = ${reason}, updated_at = now()
    WHERE id = ${endpointId} AND disabled_at IS NULL`;
  await cancelPending(sql, endpointId, batch);
  return disabled.count > 0;
}

/**
 * The delivery worker's share of disabling (disableEndpoint): up to `limit` pending deliveries of
 * disabled endpoints cancelled; how many.
 */
export async function cancelDisabledBacklogs(sql: Sql, limit: number = CANCEL_BATCH): Promise<number> {
  const cancelled = await sql`
    UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, updated_at = now()
    WHERE id IN (
      SELECT d.id FROM webhook_deliveries d
      WHERE d.status = 'pending'
        AND d.endpoint_id IN (SELECT id FROM webhook_endpoints WHERE disabled_at IS NOT NULL)
      -- In id order, as an enable's cancelPending takes them; a row another transaction holds is
      -- left to the next run. Waiting for it could deadlock: a delivery settling as 410 or out
      -- of retries holds its own row and then cancels its endpoint's others, in id order.
      ORDER BY d.id LIMIT ${limit}
      FOR UPDATE OF d SKIP LOCKED)
      AND status = 'pending'`;
  return cancelled.count;
}

/**
 * Runs `work` over the claimed deliveries, at most `limit` at a time, sharing the slots among
 * endpoints: while k endpoints have deliveries waiting, none has more than ceil(limit / k) in
 * flight, so a slow or hanging receiver holds at most its share and the others' deliveries go on.
 * No slot idles while a delivery could start: if one did, every endpoint with deliveries waiting
 * would be at its share, and those shares alone fill the `limit` slots. Each endpoint's
 * deliveries start in their claimed order.
 */
async function sendShared<R>(
  items: readonly ClaimedDelivery[],
  limit: number,
  work: (item: ClaimedDelivery) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const waiting = items.map((item, index) => ({ item, index }));
  const inFlight = new Map<string, number>();
  let running = 0;
  return await new Promise<R[]>((resolve, reject) => {
    const startWhatCan = (): void => {
      while (running < limit) {
        const share = Math.ceil(limit / new Set(waiting.map(({ item }) => item.endpoint_id)).size);
        const next = waiting.findIndex(({ item }) => (inFlight.get(item.endpoint_id) ?? 0) < share);
        const [picked] = next < 0 ? [] : waiting.splice(next, 1);
        if (!picked) break;
        const endpoint = picked.item.endpoint_id;
        running += 1;
        inFlight.set(endpoint, (inFlight.get(endpoint) ?? 0) + 1);
        work(picked.item).then((result) => {
          results[picked.index] = result;
          running -= 1;
          inFlight.set(endpoint, (inFlight.get(endpoint) ?? 1) - 1);
          startWhatCan();
        }, reject);
      }
      if (running === 0 && waiting.length === 0) resolve(results);
    };
    startWhatCan();
  });
}

/**
 * One round of the worker: fan out what is new, then send what is due. `throttled` (endpoint id
 * -> until when) carries the endpoints that asked to be throttled from one round of a run to the
 * next (runScheduledWebhooks): none of their deliveries is claimed again in this run.
 */
export async function runDeliveries(
  deps: DeliveryDeps,
  options: DeliveryOptions,
  throttled: Map<string, Date> = new Map(),
): Promise<DeliveryRunResult> {
  const fanned = await fanOut(deps, options.batchSize);
  // For the rest of the run, however soon its retry: a throttle that ran out within the run had its
  // endpoint's deliveries claimed again only to be put back, round after full round.
  const claimed = await claimDue(deps, options, [...throttled.keys()]);
  const delivered = await sendShared(claimed, options.concurrency, async (delivery): Promise<Delivered> => {
    let sent = false;
    try {
      const until = throttled.get(delivery.endpoint_id);
      if (until) {
        await holdBack(deps, delivery, until);
        return { settlement: 'held', disabled: false };
      }
      // Its endpoint disabled since the claim (a 410 from an earlier delivery of this run, or an
      // admin's DELETE): disabling cancelled this delivery, and nothing more goes to the receiver.
      const current = await stillToSend(deps.sql, delivery);
      if (!current) return { settlement: 'cancelled', disabled: false };
      // The event as it stands now: an erasure committed since the claim pseudonymised it.
      const done = await deliverOne(
        {
          ...deps,
          send: (request) => {
            sent = true;
            return deps.send(request);
          },
        },
        { ...delivery, data: current.data },
      );
      // Several requests in flight may each throttle the endpoint: the longest hold wins.
      const holding = throttled.get(delivery.endpoint_id);
      if (done.throttleUntil && !(holding && holding >= done.throttleUntil))
        throttled.set(delivery.endpoint_id, done.throttleUntil);
      return done;
    } catch (error) {
      // Recording failed (database): the lease expires and the delivery is due again.
      deps.log.error('Webhook delivery could not be recorded', {
        deliveryId: delivery.id,
        error: error instanceof Error ? error.message : String(error),
      });
      return { settlement: sent ? 'unrecorded' : 'unsent', disabled: false };
    }
  });
  const count = (wanted: Delivered['settlement']) =>
    delivered.filter(({ settlement }) => settlement === wanted).length;
  const held = count('held');
  const unsent = held + count('cancelled') + count('unsent');
  const result = {
    fannedOut: fanned.events,
    deliveriesCreated: fanned.deliveries,
    attempted: claimed.length - unsent,
    succeeded: count('succeeded'),
    failed: claimed.length - unsent - count('succeeded') - count('unrecorded'),
    abandoned: count('failed'),
    endpointsDisabled: delivered.filter(({ disabled }) => disabled).length,
    unrecorded: count('unrecorded'),
    held,
  };
  if (result.fannedOut > 0 || result.attempted > 0) deps.log.info('Webhook deliveries completed', result);
  return result;
}
