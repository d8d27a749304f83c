import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eraseStudent } from '../../lib/certificates/erasure.ts';
import { revokeCertificate } from '../../lib/certificates/lifecycle.ts';
import type { Log } from '../../lib/certificates/ports.ts';
import type { Sql, TransactionSql } from '../../lib/db/client.ts';
import { ValidationError } from '../../lib/errors.ts';
import { webhookEventSchemas, webhookPayloadSchemas } from '../../lib/http/webhook-schemas.ts';
import { type AddressGuard, createAddressGuard, type Resolver } from '../../lib/webhooks/address-guard.ts';
import {
  cancelDisabledBacklogs,
  type DeliveryDeps,
  DISABLED_LOG_DAYS,
  disableEndpoint,
  fanOut,
  runDeliveries,
  THROTTLE_PAUSE_SECONDS,
} from '../../lib/webhooks/delivery.ts';
import {
  createEndpoint,
  disableEndpointByAdmin,
  enableEndpoint,
  listDeliveries,
  listEndpoints,
  redeliver,
  rotateSecret,
} from '../../lib/webhooks/endpoints.ts';
import { CONSISTENT_FAILURE_REASON, MAX_ATTEMPTS, RETRY_DELAYS_SECONDS } from '../../lib/webhooks/events.ts';
import { sweepExpiredCertificates } from '../../lib/webhooks/expiry-sweep.ts';
import { createHttpSender, type WebhookSender } from '../../lib/webhooks/http-sender.ts';
import { runScheduledWebhooks } from '../../lib/webhooks/scheduled-run.ts';
import { insertCertificate, lambdaContext } from '../e2e/http-fixtures.ts';
import { applyEnv, createTestEnv, type TestEnv } from '../support/env.ts';
import { gate } from '../support/gate.ts';
import { contendWithOpenTransaction } from '../support/lock-wait.ts';
import { stallingServer } from '../support/stalling-server.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';

/**
 * Webhooks end to end below the HTTP API: the outbox trigger in real PostgreSQL, the delivery
 * worker signing and POSTing to a real local receiver, verified with the `standardwebhooks`
 * package. The clock is injected: retries are reached by moving it, never by sleeping.
 */

const silent: Log = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

let t: TestEnv;
let receiver: WebhookReceiver;
let clock = Date.now();
const now = () => new Date(clock);
const loopbackAllowed = createAddressGuard(['127.0.0.1']);
const options = { batchSize: 50, concurrency: 4, timeoutMs: 5000 };

/** Jitter pinned at none (0.5 is the middle of ±10%): each retry is due exactly on schedule. */
function workerWith(guard: AddressGuard): DeliveryDeps {
  return {
    sql: t.sql,
    send: createHttpSender({ guard, timeoutMs: 5000 }),
    log: silent,
    now,
    random: () => 0.5,
  };
}
const run = (guard: AddressGuard = loopbackAllowed) => runDeliveries(workerWith(guard), options);

async function outboxOf(certificateId: string) {
  return await t.sql<{ id: string; event_type: string; data: Record<string, unknown> }[]>`
    SELECT id, event_type, data FROM webhook_outbox WHERE certificate_id = ${certificateId} ORDER BY occurred_at, id`;
}

/** A rendering certificate, then `issued` the way generate marks it (one guarded UPDATE). */
async function issuedCertificate(): Promise<{
  id: string;
  courseId: string;
  studentId: string;
  verificationCode: string;
}> {
  const seeded = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'rendering' });
  await issue(t.sql, seeded.id);
  return seeded;
}

async function issue(sql: Sql | TransactionSql, id: string): Promise<void> {
  await sql`
    UPDATE certificates SET status = 'issued', s3_key = ${`certificates/x/${id}.pdf`}, generated_at = now(),
      pdf_sha256 = ${'b'.repeat(64)}, lease_owner = NULL, lease_expires_at = NULL
    WHERE id = ${id} AND status = 'rendering'`;
}

async function endpointFor(
  eventTypes: (
    | 'certificate.issued'
    | 'certificate.revoked'
    | 'certificate.reissued'
    | 'certificate.expired'
  )[],
  url = receiver.url,
) {
  return await createEndpoint(
    { sql: t.sql, guard: loopbackAllowed },
    { url, eventTypes, description: 'test' },
    'admin',
  );
}

/**
 * Runs `body` with an endpoint for issued certificates on a server that takes each request and
 * never answers, then closes that server.
 */
async function withStalledEndpoint(
  body: (stalled: { endpointId: string; url: string; requests: () => number }) => Promise<void>,
): Promise<void> {
  const stall = await stallingServer('');
  try {
    const { endpoint } = await endpointFor(['certificate.issued'], `${stall.url}/hooks`);
    await body({ endpointId: endpoint.id, url: stall.url, requests: stall.requests });
  } finally {
    await stall.close();
  }
}

/**
 * A scheduled run with time for any number of rounds, whose requests to the stalled server time
 * out after 300 ms. Only those: a request to the answering receiver slowed past 300 ms by a busy
 * machine would time out too, and throttle that receiver for the rest of the run.
 */
function runTimingOut(batch: { batchSize: number; concurrency: number }, stalledUrl: string) {
  const stalling = createHttpSender({ guard: loopbackAllowed, timeoutMs: 300 });
  const answering = createHttpSender({ guard: loopbackAllowed, timeoutMs: 30_000 });
  return runScheduledWebhooks(
    {
      ...workerWith(loopbackAllowed),
      send: (webhook) => (webhook.url.startsWith(stalledUrl) ? stalling(webhook) : answering(webhook)),
    },
    { ...batch, timeoutMs: 300 },
    () => 600_000,
  );
}

/** Only one endpoint active per test, so runs deliver just what the test set up. */
beforeEach(async () => {
  await t.sql`UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = 'previous test' WHERE disabled_at IS NULL`;
  await t.sql`UPDATE webhook_outbox SET fanned_out_at = now() WHERE fanned_out_at IS NULL`;
  receiver.reset();
  clock = Date.now();
});

beforeAll(async () => {
  t = await createTestEnv();
  receiver = await startWebhookReceiver();
});

afterAll(async () => {
  await receiver?.stop();
  await t?.cleanup();
});

describe('outbox trigger', () => {
  it('an issued status change writes exactly one outbox row, with a thin payload', async () => {
    const certificate = await issuedCertificate();
    const rows = await outboxOf(certificate.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.event_type).toBe('certificate.issued');
    expect(rows[0]?.data).toEqual({
      certificateId: certificate.id,
      courseId: certificate.courseId,
      studentId: certificate.studentId,
      verificationCode: certificate.verificationCode,
      status: 'issued',
      expiresAt: null,
    });
    // Touching the row again without a status change adds nothing.
    await t.sql`UPDATE certificates SET updated_at = now(), status = 'issued' WHERE id = ${certificate.id}`;
    expect(await outboxOf(certificate.id)).toHaveLength(1);
  });

  it('a rolled-back change leaves no event', async () => {
    const seeded = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'rendering' });
    await expect(
      t.sql.begin(async (tx) => {
        await issue(tx, seeded.id);
        // Inside the transaction the event exists...
        const [inside] = await tx<{ count: number }[]>`
          SELECT count(*)::int AS count FROM webhook_outbox WHERE certificate_id = ${seeded.id}`;
        expect(inside?.count).toBe(1);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    // ...and goes with it.
    expect(await outboxOf(seeded.id)).toEqual([]);
    const [row] = await t.sql<
      { status: string }[]
    >`SELECT status::text FROM certificates WHERE id = ${seeded.id}`;
    expect(row?.status).toBe('rendering');
  });

  it("SET LOCAL certificates.webhooks = 'off' suppresses events for that transaction only", async () => {
    const quiet = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'rendering' });
    await t.sql.begin(async (tx) => {
      await tx`SET LOCAL certificates.webhooks = 'off'`;
      await issue(tx, quiet.id);
    });
    expect(await outboxOf(quiet.id)).toEqual([]);
    const loud = await issuedCertificate();
    expect(await outboxOf(loud.id)).toHaveLength(1);
  });

  it('revoked and superseded (reissued, with the successor) each write their event', async () => {
    const certificate = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'issued' });
    await t.sql`
      UPDATE certificates SET status = 'revoked', revoked_at = now(), revocation_reason = 'issued-in-error',
        revoked_reason = 'Typo in the name of Ada Lovelace'
      WHERE id = ${certificate.id}`;
    const revoked = await outboxOf(certificate.id);
    expect(revoked.map((row) => row.event_type)).toEqual(['certificate.revoked']);
    expect(revoked[0]?.data).toMatchObject({ status: 'revoked', revocationReason: 'issued-in-error' });
    expect(() => webhookPayloadSchemas['certificate.revoked'].parse(revoked[0]?.data)).not.toThrow();
    // The free-text reason may name people: it is not in the payload.
    expect(JSON.stringify(revoked[0]?.data)).not.toContain('Ada');

    const old = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'issued' });
    const successor = await insertCertificate(t.sql, { studentId: old.studentId, status: 'pending' });
    await t.sql.begin(async (tx) => {
      await tx`UPDATE certificates SET status = 'superseded', superseded_by = ${successor.id}, superseded_at = now()
        WHERE id = ${old.id}`;
    });
    const reissued = await outboxOf(old.id);
    expect(reissued.map((row) => row.event_type)).toEqual(['certificate.reissued']);
    expect(reissued[0]?.data).toMatchObject({ status: 'superseded', supersededBy: successor.id });
    expect(() => webhookPayloadSchemas['certificate.reissued'].parse(reissued[0]?.data)).not.toThrow();
  });
});

describe('delivery', () => {
  it('signs per Standard Webhooks: the package verifies it, and rejects a tampered body', async () => {
    const { secret } = await endpointFor(['certificate.issued']);
    const certificate = await issuedCertificate();
    const result = await run();
    expect(result).toMatchObject({ fannedOut: 1, deliveriesCreated: 1, attempted: 1, succeeded: 1 });
    expect(receiver.received).toHaveLength(1);
    const request = receiver.received[0];
    const headers = receiver.headersOf(0);
    const [event] = await outboxOf(certificate.id);
    expect(headers['webhook-id']).toBe(event?.id);
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(clock / 1000)));
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(request?.headers['content-type']).toBe('application/json');

    const verified = new Webhook(secret).verify(request?.body ?? '', headers) as Record<string, unknown>;
    expect(verified).toMatchObject({
      type: 'certificate.issued',
      data: {
        certificateId: certificate.id,
        courseId: certificate.courseId,
        studentId: certificate.studentId,
      },
    });
    expect(typeof verified.timestamp).toBe('string');
    // The body is what the OpenAPI document's `webhooks` says it is.
    expect(() => webhookEventSchemas['certificate.issued'].parse(verified)).not.toThrow();
    // No personal data beyond ids: the seeded student name is nowhere in the body.
    expect(request?.body).not.toContain('Ada Lovelace');

    const tampered = (request?.body ?? '').replace(certificate.id, randomUUID());
    expect(() => new Webhook(secret).verify(tampered, headers)).toThrow();
    // A different secret does not verify either.
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(request?.body ?? '', headers),
    ).toThrow();
  });

  it('a redirect is a failure, not followed and retried on the schedule (Standard Webhooks: "3xx: Failure")', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    // A receiver that moved, or a login page in front of it: the event has not reached anyone.
    receiver.answer({ status: 302, headers: { location: `${receiver.url}/elsewhere` } });
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 0, failed: 1 });
    expect(receiver.received).toHaveLength(1);
    const [row] = await t.sql<{ status: string; last_status_code: number }[]>`
      SELECT status, last_status_code FROM webhook_deliveries WHERE endpoint_id = ${endpoint.id}`;
    expect(row).toEqual({ status: 'pending', last_status_code: 302 });
    clock += 5000;
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 1 });
  });

  it('retries after a 500 on the schedule; the log shows both attempts', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    receiver.answer(500);
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 0, failed: 1 });

    // Not due yet: the next attempt is 5 s later.
    clock += 4000;
    expect(await run()).toMatchObject({ attempted: 0 });
    clock += 1000;
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 1 });

    expect(receiver.received).toHaveLength(2);
    // Same message id on the retry, fresh timestamp.
    expect(receiver.headersOf(1)['webhook-id']).toBe(receiver.headersOf(0)['webhook-id']);
    expect(Number(receiver.headersOf(1)['webhook-timestamp'])).toBe(
      Number(receiver.headersOf(0)['webhook-timestamp']) + 5,
    );

    const log = await listDeliveries(t.sql, endpoint.id, { limit: 10 });
    expect(log.items).toHaveLength(1);
    expect(log.items[0]).toMatchObject({
      status: 'succeeded',
      attemptCount: 2,
      lastStatusCode: 204,
      lastError: null,
    });
    expect(
      log.items[0]?.attempts.map((attempt) => [attempt.attemptNumber, attempt.statusCode, attempt.succeeded]),
    ).toEqual([
      [1, 500, false],
      [2, 204, true],
    ]);
    expect(log.items[0]?.attempts[0]?.error).toBe('HTTP 500');
  });

  it('an endpoint answering 429 gets nothing more in that run: its other deliveries wait, unattempted, for its retry', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    for (let i = 0; i < 3; i++) await issuedCertificate();
    receiver.answer(429);
    // One at a time, so the 429 is heard before the next is sent (Standard Webhooks, Throttling).
    const oneAtATime = () => runDeliveries(workerWith(loopbackAllowed), { ...options, concurrency: 1 });
    expect(await oneAtATime()).toMatchObject({ deliveriesCreated: 3, attempted: 1, failed: 1, held: 2 });
    expect(receiver.received).toHaveLength(1);
    const waiting = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(waiting.map((delivery) => delivery.attemptCount).sort()).toEqual([0, 0, 1]);
    const retryAt = waiting.find((delivery) => delivery.attemptCount === 1)?.nextAttemptAt;
    expect(retryAt).toBeTruthy();
    for (const delivery of waiting)
      expect(delivery).toMatchObject({ status: 'pending', nextAttemptAt: retryAt });

    clock += 4000;
    expect(await oneAtATime()).toMatchObject({ attempted: 0, held: 0 });
    // Once the throttle has passed, one delivery probes the receiver; its answer lifts the
    // throttle, and the next run sends the rest.
    clock += 1000;
    expect(await oneAtATime()).toMatchObject({ attempted: 1, succeeded: 1, held: 0 });
    expect(await oneAtATime()).toMatchObject({ attempted: 2, succeeded: 2, held: 0 });
    expect(receiver.received).toHaveLength(4);
  });

  it("a throttle holds the endpoint's other deliveries for a pause (or its Retry-After), not for the failed delivery's own retry a day away", async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    for (let i = 0; i < 3; i++) await issuedCertificate();
    await fanOut({ sql: t.sql, now }, 50);
    // The oldest is deep in its schedule: its next retry after a failure is RETRY_DELAYS_SECONDS[8].
    const [deep] = await t.sql<{ id: string }[]>`
      UPDATE webhook_deliveries SET attempt_count = 8, next_attempt_at = next_attempt_at - interval '1 minute'
      WHERE id = (SELECT id FROM webhook_deliveries WHERE endpoint_id = ${endpoint.id}
                  ORDER BY created_at, id LIMIT 1)
      RETURNING id`;
    const oneAtATime = () => runDeliveries(workerWith(loopbackAllowed), { ...options, concurrency: 1 });
    const dueInSeconds = async () =>
      (
        await t.sql<{ id: string; attempts: number; due: number }[]>`
          SELECT id, attempt_count AS attempts,
                 round(extract(epoch FROM next_attempt_at - ${now()}::timestamptz))::int AS due
          FROM webhook_deliveries WHERE endpoint_id = ${endpoint.id} ORDER BY id`
      ).map((row) => ({ deep: row.id === deep?.id, attempts: row.attempts, due: row.due }));

    receiver.answer(503);
    expect(await oneAtATime()).toMatchObject({ attempted: 1, failed: 1, held: 2 });
    expect(receiver.received).toHaveLength(1);
    const afterPause = await dueInSeconds();
    expect(afterPause.find((row) => row.deep)).toMatchObject({ attempts: 9, due: RETRY_DELAYS_SECONDS[8] });
    expect(afterPause.filter((row) => !row.deep)).toEqual([
      { deep: false, attempts: 0, due: THROTTLE_PAUSE_SECONDS },
      { deep: false, attempts: 0, due: THROTTLE_PAUSE_SECONDS },
    ]);

    // A receiver that names its pause gets it: the probe after the first pause is told to wait
    // 120 s, and nothing goes to the receiver before then. The held ones go out once it has passed.
    clock += THROTTLE_PAUSE_SECONDS * 1000;
    receiver.answer({ status: 429, headers: { 'retry-after': '120' } });
    expect(await oneAtATime()).toMatchObject({ attempted: 1, failed: 1, held: 0 });
    const probed = (await dueInSeconds()).filter((row) => !row.deep);
    expect(probed.map((row) => row.attempts).sort()).toEqual([0, 1]);
    expect(probed.find((row) => row.attempts === 1)?.due).toBe(120);
    const [view] = (await listEndpoints(t.sql)).filter((entry) => entry.id === endpoint.id);
    expect(Date.parse(view?.throttledUntil ?? '') - clock).toBe(120_000);
    clock += 119_000;
    expect(await oneAtATime()).toMatchObject({ attempted: 0 });
    clock += 1000;
    expect(await oneAtATime()).toMatchObject({ attempted: 1, succeeded: 1 });
    expect(await oneAtATime()).toMatchObject({ attempted: 1, succeeded: 1, held: 0 });
    expect(receiver.received).toHaveLength(4);
  });

  it("a receiver's Retry-After holds its new events in later runs too; after it, one delivery probes before the rest", async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    receiver.answer({ status: 503, headers: { 'retry-after': '3600' } });
    expect(await run()).toMatchObject({ attempted: 1, failed: 1 });
    const throttledUntil = async () =>
      (await listEndpoints(t.sql)).find((entry) => entry.id === endpoint.id)?.throttledUntil;
    expect(Date.parse((await throttledUntil()) ?? '') - clock).toBe(3_600_000);

    // Two events later, in the next run: not sent within the hour the receiver asked for.
    for (let i = 0; i < 2; i++) await issuedCertificate();
    clock += 60_000;
    expect(await run()).toMatchObject({ fannedOut: 2, deliveriesCreated: 2, attempted: 0, held: 0 });
    clock += 3_600_000 - 61_000;
    expect(await run()).toMatchObject({ attempted: 0 });
    expect(receiver.received).toHaveLength(1);

    // The hour is over: one request first, though the batch and the slots would take all three.
    clock += 1000;
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 1 });
    expect(await throttledUntil()).toBeNull();
    expect(await run()).toMatchObject({ attempted: 2, succeeded: 2 });
    expect(receiver.received).toHaveLength(4);
  });

  it('a receiver that stays down is sent one delivery a run, not one per request slot; the events not sent keep their whole schedule', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    for (let i = 0; i < 6; i++) await issuedCertificate();
    let down = true;
    let requests = 0;
    const http = createHttpSender({ guard: loopbackAllowed, timeoutMs: 5000 });
    const send: WebhookSender = async (request) => {
      requests += 1;
      if (down) return { kind: 'error', error: 'connect ECONNREFUSED', refused: false, durationMs: 1 };
      return await http(request);
    };
    const oneAtATime = () =>
      runDeliveries({ ...workerWith(loopbackAllowed), send }, { ...options, concurrency: 1 });
    expect(await oneAtATime()).toMatchObject({ attempted: 1, failed: 1, held: 5 });
    // Five runs a minute apart while it stays down: one request each.
    for (let run = 0; run < 5; run++) {
      clock += 60_000;
      expect(await oneAtATime()).toMatchObject({ attempted: 1, failed: 1, held: 0 });
    }
    expect(requests).toBe(6);
    const attempts = async () =>
      (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items.map((d) => d.attemptCount).sort();
    // The probes went to the delivery due first each time: not five attempts of the same one,
    // and never a whole batch burning an attempt each.
    expect((await attempts()).reduce((sum, count) => sum + count, 0)).toBe(6);
    expect(Math.max(...(await attempts()))).toBeLessThan(6);

    down = false;
    clock += 60_000;
    expect(await oneAtATime()).toMatchObject({ attempted: 1, succeeded: 1 });
    clock += 3600_000;
    expect(await oneAtATime()).toMatchObject({ attempted: 5, succeeded: 5 });
    expect(receiver.received).toHaveLength(6);
  });

  it('takes due deliveries endpoint by endpoint in turns: an older backlog of one receiver does not fill the batch', async () => {
    const older = await endpointFor(['certificate.issued'], receiver.url.replace('/hooks', '/older'));
    await endpointFor(['certificate.issued']);
    for (let i = 0; i < 6; i++) await issuedCertificate();
    await fanOut({ sql: t.sql, now }, 50);
    await t.sql`UPDATE webhook_deliveries SET next_attempt_at = next_attempt_at - interval '1 minute'
      WHERE endpoint_id = ${older.endpoint.id}`;
    const batchOfFour = { ...options, batchSize: 4 };
    expect(await runDeliveries(workerWith(loopbackAllowed), batchOfFour)).toMatchObject({ attempted: 4 });
    const paths = () => receiver.received.map((request) => request.path).sort();
    expect(paths()).toEqual(['/hooks', '/hooks', '/older', '/older']);
    // One receiver alone still gets whole batches.
    await disableEndpoint(t.sql, older.endpoint.id, 'test', now());
    expect(await runDeliveries(workerWith(loopbackAllowed), batchOfFour)).toMatchObject({ attempted: 4 });
    expect(paths().filter((path) => path === '/hooks')).toHaveLength(6);
  });

  it("a receiver that does not answer holds at most its share of the request slots; the others' deliveries go out meanwhile, its own wait unattempted", async () => {
    const stalled = await endpointFor(['certificate.issued'], receiver.url.replace('/hooks', '/stalled'));
    const { endpoint } = await endpointFor(['certificate.issued']);
    for (let i = 0; i < 6; i++) await issuedCertificate();
    await fanOut({ sql: t.sql, now }, 50);
    // The stalled receiver's deliveries are the oldest: oldest first, they would take every slot.
    await t.sql`UPDATE webhook_deliveries SET next_attempt_at = next_attempt_at - interval '1 minute'
      WHERE endpoint_id = ${stalled.endpoint.id}`;
    const http = createHttpSender({ guard: loopbackAllowed, timeoutMs: 5000 });
    const released = gate();
    let stalledInFlight = 0;
    let stalledSent = 0;
    let mostStalledInFlightWhileOthersWait = 0;
    let othersDeliveredBeforeRelease = -1;
    // The stalled receiver's requests time out when the gate opens: once the other receiver has
    // all six, or once every slot is held by the stalled one (which the sharing must prevent).
    const watch = setInterval(() => {
      if (receiver.received.length === 6 || stalledInFlight === options.concurrency) {
        othersDeliveredBeforeRelease = receiver.received.length;
        released.open();
      }
    }, 5);
    // Counted as each request starts. The worker takes a delivery's slot a moment before it calls
    // `send` (it reads the delivery again first), so up to the other receiver's share of slots
    // (concurrency / 2) may be taken and not started yet: "the others still wait" (one of theirs
    // not taken) is sure only while fewer than 6 - concurrency / 2 have started.
    let othersStarted = 0;
    const othersSurelyWaiting = () => othersStarted < 6 - options.concurrency / 2;
    const send: WebhookSender = async (request) => {
      if (!request.url.endsWith('/stalled')) {
        othersStarted += 1;
        return await http(request);
      }
      stalledInFlight += 1;
      stalledSent += 1;
      if (othersSurelyWaiting())
        mostStalledInFlightWhileOthersWait = Math.max(mostStalledInFlightWhileOthersWait, stalledInFlight);
      await released.wait();
      stalledInFlight -= 1;
      return { kind: 'error', error: 'timed out after 5000 ms', refused: false, durationMs: 5000 };
    };
    let result: Awaited<ReturnType<typeof runDeliveries>>;
    try {
      result = await runDeliveries({ ...workerWith(loopbackAllowed), send }, options);
    } finally {
      clearInterval(watch);
    }
    expect(othersDeliveredBeforeRelease).toBe(6);
    expect(mostStalledInFlightWhileOthersWait).toBe(options.concurrency / 2);
    // Once the others are done, the free slots may take more of the stalled receiver's; after its
    // first timeout the rest are put back unattempted.
    expect(stalledSent).toBeLessThan(6);
    expect(result).toMatchObject({ attempted: 6 + stalledSent, succeeded: 6, held: 6 - stalledSent });
    expect((await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items.map((d) => d.status)).toEqual(
      Array(6).fill('succeeded'),
    );
    const waiting = (await listDeliveries(t.sql, stalled.endpoint.id, { limit: 10 })).items;
    expect(waiting.filter((delivery) => delivery.attemptCount === 1)).toHaveLength(stalledSent);
    expect(waiting.filter((delivery) => delivery.attemptCount === 0)).toHaveLength(6 - stalledSent);
    for (const delivery of waiting) expect(delivery.status).toBe('pending');
  });

  it("a receiver's throttle that runs out within the run does not bring its deliveries back to be put back, round after round", async () => {
    const stalled = await endpointFor(['certificate.issued'], receiver.url.replace('/hooks', '/stalled'));
    await endpointFor(['certificate.issued']);
    for (let i = 0; i < 6; i++) await issuedCertificate();
    const http = createHttpSender({ guard: loopbackAllowed, timeoutMs: 5000 });
    // Each request takes the clock past the stalled receiver's first retry (5 s) within the run.
    const send: WebhookSender = async (request) => {
      clock += 10_000;
      if (request.url.endsWith('/stalled'))
        return { kind: 'error', error: 'connect ECONNREFUSED', refused: false, durationMs: 1 };
      return await http(request);
    };
    let asked = 0;
    const result = await runScheduledWebhooks(
      { ...workerWith(loopbackAllowed), send },
      { batchSize: 2, concurrency: 2, timeoutMs: 5000 },
      // Room for many rounds: a run that spins uses them all.
      () => (++asked > 40 ? 0 : 600_000),
    );
    expect(result).toMatchObject({ succeeded: 6, held: 0 });
    expect(result.rounds).toBeLessThan(10);
    const attempts = (await listDeliveries(t.sql, stalled.endpoint.id, { limit: 10 })).items.map(
      (delivery) => delivery.attemptCount,
    );
    expect(attempts.sort()).toEqual([0, 0, 0, 0, 0, 1]);
  });

  it('a receiver that timed out gets nothing more in the later rounds of that run', async () => {
    await withStalledEndpoint(async (stalled) => {
      await endpointFor(['certificate.issued']);
      for (let i = 0; i < 4; i++) await issuedCertificate();
      // Two events a round: the stalled receiver's first request times out in round 1; its
      // deliveries fanned out in round 2 are left for a later run, not sent to time out again.
      const result = await runTimingOut({ batchSize: 2, concurrency: 2 }, stalled.url);
      expect(result).toMatchObject({ fannedOut: 4, attempted: 5, succeeded: 4, held: 0 });
      expect(result.rounds).toBeGreaterThanOrEqual(3);
      expect(stalled.requests()).toBe(1);
      expect(receiver.received).toHaveLength(4);
      const [row] = await t.sql<{ pending: number; attempts: number }[]>`
        SELECT count(*)::int AS pending, sum(attempt_count)::int AS attempts FROM webhook_deliveries
        WHERE endpoint_id = ${stalled.endpointId} AND status = 'pending'`;
      expect(row).toEqual({ pending: 4, attempts: 1 });
    });
  });

  it("a round filled by attempted and held deliveries together is full: the run goes on, and the other receiver's deliveries all go out", async () => {
    await withStalledEndpoint(async (stalled) => {
      await endpointFor(['certificate.issued']);
      for (let i = 0; i < 3; i++) await issuedCertificate();
      // Six deliveries, four a round, one request at a time. Round 1 takes two of each receiver's:
      // the stalled one's first times out and its second is held, so 3 attempted + 1 held fill
      // the batch, and round 2 sends the other receiver's third.
      const result = await runTimingOut({ batchSize: 4, concurrency: 1 }, stalled.url);
      expect(result).toMatchObject({ rounds: 2, succeeded: 3 });
      expect(stalled.requests()).toBe(1);
      expect(receiver.received).toHaveLength(3);
    });
  });

  it("a receiver's Retry-After on a 429 puts its retry that far off, not at the schedule's 5 s", async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    receiver.answer({ status: 429, headers: { 'retry-after': '3600' } });
    expect(await run()).toMatchObject({ attempted: 1, failed: 1 });
    const [delivery] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(delivery).toMatchObject({ status: 'pending', attemptCount: 1 });
    expect(Date.parse(delivery?.nextAttemptAt ?? '') - clock).toBe(3_600_000);
  });

  it(`gives up after ${MAX_ATTEMPTS} attempts, each after the scheduled delay`, async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    receiver.answer(...Array.from({ length: MAX_ATTEMPTS }, () => 503));
    const delays = [0, ...RETRY_DELAYS_SECONDS];
    for (const [index, delay] of delays.entries()) {
      clock += (delay - 1) * 1000;
      if (delay > 0) expect(await run(), `1 s before the ${delay} s retry`).toMatchObject({ attempted: 0 });
      clock += 1000;
      // Only the last attempt abandons the delivery.
      const last = index === delays.length - 1;
      expect(await run(), `after ${delay} s`).toMatchObject({ attempted: 1, abandoned: last ? 1 : 0 });
    }
    clock += 48 * 3600 * 1000;
    expect(await run()).toMatchObject({ attempted: 0 });
    const [delivery] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: MAX_ATTEMPTS, nextAttemptAt: null });
    expect(receiver.received).toHaveLength(MAX_ATTEMPTS);
  });

  it('410 Gone disables the endpoint and cancels what it had pending', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    receiver.answer(410);
    expect(await run()).toMatchObject({ attempted: 1, endpointsDisabled: 1 });
    const [row] = await t.sql<{ disabled_at: Date | null; disabled_reason: string | null }[]>`
      SELECT disabled_at, disabled_reason FROM webhook_endpoints WHERE id = ${endpoint.id}`;
    expect(row?.disabled_at).not.toBeNull();
    expect(row?.disabled_reason).toContain('410');
    const [delivery] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(delivery).toMatchObject({ status: 'failed', lastStatusCode: 410 });

    // Nothing more is sent to it; a later event is only logged for it, as not sent.
    const later = await issuedCertificate();
    clock += 3600_000;
    expect(await run()).toMatchObject({ fannedOut: 1, deliveriesCreated: 0, attempted: 0 });
    expect(receiver.received).toHaveLength(1);
    await expect(redeliver({ sql: t.sql, now }, delivery?.id ?? '')).rejects.toThrow('disabled');
    const [missed] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(missed).toMatchObject({ status: 'cancelled', attempts: [] });
    expect(missed?.id).not.toBe(delivery?.id);

    // Enabled again, the event it missed is in its log and an admin can send it.
    await enableEndpoint({ sql: t.sql, guard: loopbackAllowed }, endpoint.id);
    receiver.answer(200);
    await redeliver({ sql: t.sql, now }, missed?.id ?? '');
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 1 });
    expect(receiver.received).toHaveLength(2);
    expect(JSON.parse(receiver.received[1]?.body ?? '{}')).toMatchObject({
      type: 'certificate.issued',
      data: { certificateId: later.id },
    });
  });

  it(`an endpoint disabled more than ${DISABLED_LOG_DAYS} days ago (deleted by an admin) logs no more events`, async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await disableEndpointByAdmin({ sql: t.sql, now }, endpoint.id, 'admin');
    await issuedCertificate();
    expect(await run()).toMatchObject({ fannedOut: 1, attempted: 0 });
    expect((await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items).toHaveLength(1);
    await t.sql`
      UPDATE webhook_endpoints SET disabled_at = now() - make_interval(days => ${DISABLED_LOG_DAYS + 1})
      WHERE id = ${endpoint.id}`;
    await issuedCertificate();
    expect(await run()).toMatchObject({ fannedOut: 1, attempted: 0 });
    expect((await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items).toHaveLength(1);
  });

  /**
   * Moves the clock to each retry of a delivery whose first attempt was just made and runs the
   * worker there; `beforeRetry(n)` runs first, while the clock is still at the previous attempt.
   */
  async function throughSchedule(
    beforeRetry: (retry: number) => Promise<void>,
  ): Promise<Awaited<ReturnType<typeof run>>[]> {
    const results = [];
    for (const [index, delay] of RETRY_DELAYS_SECONDS.entries()) {
      await beforeRetry(index + 1);
      clock += delay * 1000;
      // A failing receiver is throttled: the runs that follow send it one delivery each (the
      // probe), each after the pause. Runs until none is left due, their counts added up.
      const step = await run();
      for (let more = step; more.attempted > 0; ) {
        clock += THROTTLE_PAUSE_SECONDS * 1000;
        more = await run();
        for (const key of ['attempted', 'succeeded', 'failed', 'abandoned', 'endpointsDisabled'] as const)
          step[key] += more[key];
      }
      results.push(step);
    }
    return results;
  }

  it('disables an endpoint whose every attempt failed for a whole retry schedule, with the reason recorded', async () => {
    const failing = await startWebhookReceiver();
    try {
      failing.answer(...Array.from({ length: 40 }, () => 503));
      const { endpoint } = await endpointFor(['certificate.issued'], failing.url);
      await issuedCertificate();
      expect(await run()).toMatchObject({ attempted: 1, succeeded: 0 });
      // A second event meanwhile, failing too: still pending when the first gives up.
      const results = await throughSchedule(async (retry) => {
        if (retry === 3) await issuedCertificate();
      });
      expect(results.slice(0, -1).map((result) => result.endpointsDisabled)).toEqual(
        Array.from({ length: RETRY_DELAYS_SECONDS.length - 1 }, () => 0),
      );
      expect(results.at(-1)).toMatchObject({ abandoned: 1, endpointsDisabled: 1 });
      expect(results.reduce((sum, result) => sum + result.succeeded, 0)).toBe(0);

      const [row] = await t.sql<{ disabled_at: Date | null; disabled_reason: string | null }[]>`
        SELECT disabled_at, disabled_reason FROM webhook_endpoints WHERE id = ${endpoint.id}`;
      expect(row?.disabled_at?.getTime()).toBeGreaterThanOrEqual(clock - 60_000);
      expect(row?.disabled_reason).toBe(CONSISTENT_FAILURE_REASON);
      const view = (await listEndpoints(t.sql)).find((entry) => entry.id === endpoint.id);
      expect(view).toMatchObject({ enabled: false, disabledReason: CONSISTENT_FAILURE_REASON });
      const log = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
      expect(log.map((delivery) => delivery.status)).toEqual(['cancelled', 'failed']);
      expect(log[1]?.attemptCount).toBe(MAX_ATTEMPTS);

      // Nothing more is sent to it...
      const sent = failing.received.length;
      clock += 48 * 3600_000;
      await issuedCertificate();
      expect(await run()).toMatchObject({ deliveriesCreated: 0, attempted: 0 });
      expect(failing.received).toHaveLength(sent);
      // ...until an admin enables it (which lifts its throttle too): one more failure then is a
      // retry, not a reason to disable.
      expect(
        (await listEndpoints(t.sql)).find((entry) => entry.id === endpoint.id)?.throttledUntil,
      ).not.toBeNull();
      expect(
        (await enableEndpoint({ sql: t.sql, guard: loopbackAllowed }, endpoint.id)).throttledUntil,
      ).toBeNull();
      await issuedCertificate();
      expect(await run()).toMatchObject({ attempted: 1, succeeded: 0, endpointsDisabled: 0 });
      const [after] = await t.sql<{ disabled_at: Date | null }[]>`
        SELECT disabled_at FROM webhook_endpoints WHERE id = ${endpoint.id}`;
      expect(after?.disabled_at).toBeNull();
    } finally {
      await failing.stop();
    }
  });

  it('keeps an endpoint enabled when one delivery gives up but another to it succeeded meanwhile', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    // The first event fails every attempt; the second, sent between its first retries, succeeds.
    receiver.answer(503, 503, 204, ...Array.from({ length: MAX_ATTEMPTS - 2 }, () => 503));
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 0 });
    const results = await throughSchedule(async (retry) => {
      if (retry === 2) {
        await issuedCertificate();
        // After the throttle of the first delivery's failed retry.
        clock += THROTTLE_PAUSE_SECONDS * 1000;
        expect(await run()).toMatchObject({ deliveriesCreated: 1, attempted: 1, succeeded: 1 });
      }
    });
    expect(results.at(-1)).toMatchObject({ abandoned: 1, endpointsDisabled: 0 });
    const [row] = await t.sql<{ disabled_at: Date | null; disabled_reason: string | null }[]>`
      SELECT disabled_at, disabled_reason FROM webhook_endpoints WHERE id = ${endpoint.id}`;
    expect(row).toEqual({ disabled_at: null, disabled_reason: null });
    const log = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(log.map((delivery) => delivery.status)).toEqual(['succeeded', 'failed']);
    expect(receiver.received).toHaveLength(MAX_ATTEMPTS + 1);
  });

  it('a delivery cancelled while it is being sent (its endpoint disabled meanwhile) stays cancelled', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    const send: WebhookSender = async () => {
      await disableEndpointByAdmin({ sql: t.sql, now }, endpoint.id, 'admin');
      return { kind: 'response', status: 503, durationMs: 1 };
    };
    expect(await runDeliveries({ ...workerWith(loopbackAllowed), send }, options)).toMatchObject({
      attempted: 1,
      succeeded: 0,
    });
    const [delivery] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(delivery).toMatchObject({ status: 'cancelled', nextAttemptAt: null });
    // The attempt itself is in the log all the same.
    expect(delivery?.attempts.map((attempt) => attempt.statusCode)).toEqual([503]);
  });

  it('an endpoint disabled during a run (a 410, or an admin) gets nothing more from that run', async () => {
    const oneAtATime = { ...options, concurrency: 1 };
    const { endpoint } = await endpointFor(['certificate.issued']);
    for (let i = 0; i < 4; i += 1) await issuedCertificate();
    receiver.answer(410);
    expect(await runDeliveries(workerWith(loopbackAllowed), oneAtATime)).toMatchObject({
      attempted: 1,
      endpointsDisabled: 1,
    });
    expect(receiver.received).toHaveLength(1);
    const statuses = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items.map((d) => d.status);
    expect(statuses.sort()).toEqual(['cancelled', 'cancelled', 'cancelled', 'failed']);

    // An admin's DELETE while the run sends its first: the others are not sent.
    const second = await endpointFor(['certificate.issued']);
    for (let i = 0; i < 3; i += 1) await issuedCertificate();
    let sent = 0;
    const send: WebhookSender = async () => {
      sent += 1;
      if (sent === 1) await disableEndpointByAdmin({ sql: t.sql, now }, second.endpoint.id, 'admin');
      return { kind: 'response', status: 204, durationMs: 1 };
    };
    expect(await runDeliveries({ ...workerWith(loopbackAllowed), send }, oneAtATime)).toMatchObject({
      attempted: 1,
    });
    expect(sent).toBe(1);
  });

  it('an event claimed before an erasure committed goes out as the erasure left it, under the pseudonym', async () => {
    await endpointFor(['certificate.issued']);
    const studentId = randomUUID();
    for (let i = 0; i < 2; i += 1) {
      const seeded = await insertCertificate(t.sql, { studentId, status: 'rendering' });
      await issue(t.sql, seeded.id);
    }
    const bodies: string[] = [];
    const send: WebhookSender = async (request) => {
      bodies.push(request.body);
      // The holder is erased while the run still holds the second delivery, claimed with the first.
      if (bodies.length === 1)
        await eraseStudent({ sql: t.sql, log: silent }, { studentId, actor: 'erasure-test' });
      return { kind: 'response', status: 204, durationMs: 1 };
    };
    await runDeliveries({ ...workerWith(loopbackAllowed), send }, { ...options, concurrency: 1 });
    expect(bodies).toHaveLength(2);
    expect(bodies[0]).toContain(studentId);
    expect(bodies[1]).not.toContain(studentId);
  });

  it('a backlog larger than a batch: disabling answers at once, the worker cancels the rest, nothing is sent meanwhile, and enabling waits for it', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    for (let i = 0; i < 5; i++) await issuedCertificate();
    await fanOut({ sql: t.sql, now }, 100);
    const statuses = async () =>
      (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items.map((d) => d.status).sort();
    await disableEndpointByAdmin({ sql: t.sql, now }, endpoint.id, 'admin', 2);
    expect(await statuses()).toEqual(['cancelled', 'cancelled', 'pending', 'pending', 'pending']);
    expect(await run()).toMatchObject({ attempted: 0 });
    expect(receiver.received).toHaveLength(0);

    // Enabled now, the three would go out: events of while it was disabled are not replayed.
    await expect(
      enableEndpoint({ sql: t.sql, guard: loopbackAllowed }, endpoint.id, 2),
    ).rejects.toMatchObject({ details: { code: 'endpoint_backlog_cancelling', retryAfterSeconds: 60 } });
    expect(await statuses()).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled', 'pending']);
    // The worker's run (earlier tests' endpoints, disabled by hand, may add their own to the count).
    const scheduled = await runScheduledWebhooks(workerWith(loopbackAllowed), options);
    expect(scheduled.backlogCancelled).toBeGreaterThanOrEqual(1);
    expect(scheduled.attempted).toBe(0);
    expect(await statuses()).toEqual(Array(5).fill('cancelled'));
    expect(await enableEndpoint({ sql: t.sql, guard: loopbackAllowed }, endpoint.id, 2)).toMatchObject({
      enabled: true,
    });
    expect(await run()).toMatchObject({ attempted: 0 });
    expect(receiver.received).toHaveLength(0);
  });

  it('a delivery sent whose result could not be recorded goes again after its lease, with the same webhook-id (at least once)', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    // The database goes away after the request was sent and answered 2xx: recording it fails.
    let sent = false;
    const failing = new Proxy(t.sql, {
      get(target, property, receiverOf) {
        if (property === 'begin' && sent) return () => Promise.reject(new Error('write CONNECTION_CLOSED'));
        return Reflect.get(target, property, receiverOf);
      },
    });
    const http = createHttpSender({ guard: loopbackAllowed, timeoutMs: 5000 });
    const first = await runDeliveries(
      {
        ...workerWith(loopbackAllowed),
        sql: failing,
        send: async (request) => {
          const outcome = await http(request);
          sent = true;
          return outcome;
        },
      },
      options,
    );
    // Sent, and maybe taken: not a failure of the receiver's, but an outcome nobody recorded.
    expect(first).toMatchObject({ attempted: 1, succeeded: 0, failed: 0, unrecorded: 1 });
    expect(receiver.received).toHaveLength(1);
    const [row] = await t.sql<{ status: string; attempt_count: number; next_attempt_at: Date }[]>`
      SELECT status, attempt_count, next_attempt_at FROM webhook_deliveries WHERE endpoint_id = ${endpoint.id}`;
    // Still pending, its attempt counted by the claim, due again when the claim's lease ends.
    expect(row).toMatchObject({ status: 'pending', attempt_count: 1 });
    expect(row?.next_attempt_at.getTime()).toBeGreaterThan(clock);

    // Not before: a run within the lease sends nothing.
    expect(await run()).toMatchObject({ attempted: 0 });
    expect(receiver.received).toHaveLength(1);
    // After it: sent again, as the same message (a receiver deduplicates on webhook-id).
    clock = (row?.next_attempt_at.getTime() ?? clock) + 1000;
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 1 });
    expect(receiver.received).toHaveLength(2);
    expect(receiver.headersOf(1)['webhook-id']).toBe(receiver.headersOf(0)['webhook-id']);
    const attempts = await t.sql<{ attempt_number: number; succeeded: boolean }[]>`
      SELECT a.attempt_number, a.succeeded FROM webhook_delivery_attempts a
      JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.endpoint_id = ${endpoint.id}`;
    expect(attempts).toEqual([{ attempt_number: 2, succeeded: true }]);
  });

  it('a delivery the database fails on before its request is not sent, not counted as attempted, and due again after its lease', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    // The check that its endpoint is still enabled, just before the request, fails.
    const failing = new Proxy(t.sql, {
      apply(target, thisArg, args: Parameters<typeof t.sql>) {
        const [strings] = args as unknown as [TemplateStringsArray];
        if (Array.isArray(strings) && strings.join('').includes('SELECT o.data FROM webhook_deliveries d'))
          return Promise.reject(new Error('write CONNECTION_CLOSED'));
        return Reflect.apply(target, thisArg, args);
      },
    });
    const first = await runDeliveries({ ...workerWith(loopbackAllowed), sql: failing }, options);
    expect(first).toMatchObject({ attempted: 0, succeeded: 0, failed: 0, unrecorded: 0, held: 0 });
    expect(receiver.received).toHaveLength(0);
    const [row] = await t.sql<{ status: string; next_attempt_at: Date }[]>`
      SELECT status, next_attempt_at FROM webhook_deliveries WHERE endpoint_id = ${endpoint.id}`;
    expect(row?.status).toBe('pending');
    clock = (row?.next_attempt_at.getTime() ?? clock) + 1000;
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 1 });
    expect(receiver.received).toHaveLength(1);
  });

  it('the sweep of a disabled backlog leaves a row another transaction holds to its next run, never waiting for it', async () => {
    // A delivery settling as 410 or out of retries holds its own row, then cancels its endpoint's
    // others in id order: a sweep that waited for its row while holding lower ids would deadlock.
    const { endpoint } = await endpointFor(['certificate.issued']);
    for (let i = 0; i < 3; i++) await issuedCertificate();
    await fanOut({ sql: t.sql, now }, 100);
    await disableEndpointByAdmin({ sql: t.sql, now }, endpoint.id, 'admin', 0);
    const rows = async () =>
      t.sql<{ id: string; status: string }[]>`
        SELECT id, status FROM webhook_deliveries WHERE endpoint_id = ${endpoint.id} ORDER BY id`;
    const before = await rows();
    expect(before.map((row) => row.status)).toEqual(['pending', 'pending', 'pending']);
    const held = before[1]?.id as string;
    let swept = false;
    const sweep = await contendWithOpenTransaction(
      t.sql,
      (tx) => tx`SELECT id FROM webhook_deliveries WHERE id = ${held} FOR UPDATE`,
      async () => {
        await cancelDisabledBacklogs(t.sql);
        swept = true;
      },
      // Still holding the row: the sweep is done already, it did not wait.
      async () => expect(swept).toBe(true),
    );
    expect(sweep.status).toBe('fulfilled');
    expect((await rows()).map((row) => [row.id, row.status])).toEqual(
      before.map((row) => [row.id, row.id === held ? 'pending' : 'cancelled']),
    );
    await cancelDisabledBacklogs(t.sql);
    expect((await rows()).map((row) => row.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
  });

  it("an enable that finds the endpoint enabled meanwhile (a second click) leaves the new events' deliveries pending", async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await disableEndpointByAdmin({ sql: t.sql, now }, endpoint.id, 'admin');
    const [event] = await outboxOf((await issuedCertificate()).id);
    // The first click's enable commits, and an event fans out to the endpoint, while the second
    // click's enable (which read the endpoint disabled) waits for the endpoint's row.
    const second = await contendWithOpenTransaction(
      t.sql,
      async (first) => {
        await first`UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL WHERE id = ${endpoint.id}`;
        await first`
          INSERT INTO webhook_deliveries (endpoint_id, event_id, status, next_attempt_at)
          VALUES (${endpoint.id}, ${event?.id ?? ''}, 'pending', now())`;
      },
      () => enableEndpoint({ sql: t.sql, guard: loopbackAllowed }, endpoint.id),
    );
    expect(second).toMatchObject({ status: 'fulfilled', value: { enabled: true } });
    const statuses = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items.map((d) => d.status);
    expect(statuses).toEqual(['pending']);
  });

  it('a throttled endpoint is probed with the delivery deepest in its schedule, so that one runs its schedule out and a dead receiver is still disabled', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    for (let i = 0; i < 3; i++) await issuedCertificate();
    await fanOut({ sql: t.sql, now }, 100);
    // Two fresh deliveries due first, one deep in its schedule due after them; the endpoint's
    // throttle has just passed.
    const [deep] = await t.sql<{ id: string }[]>`
      UPDATE webhook_deliveries SET attempt_count = 8, next_attempt_at = ${new Date(clock - 60_000)}
      WHERE id = (SELECT id FROM webhook_deliveries WHERE endpoint_id = ${endpoint.id} ORDER BY id LIMIT 1)
      RETURNING id`;
    await t.sql`UPDATE webhook_deliveries SET next_attempt_at = ${new Date(clock - 120_000)}
      WHERE endpoint_id = ${endpoint.id} AND id <> ${deep?.id ?? ''}`;
    await t.sql`UPDATE webhook_endpoints SET throttled_until = ${new Date(clock - 1000)} WHERE id = ${endpoint.id}`;
    receiver.answer(503);
    expect(await run()).toMatchObject({ attempted: 1, failed: 1 });
    const attempts = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items.map((d) => [
      d.id === deep?.id,
      d.attemptCount,
    ]);
    expect(attempts.sort()).toEqual([
      [false, 0],
      [false, 0],
      [true, 9],
    ]);
  });

  it('a pending delivery of a disabled endpoint is not sent', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 1 });
    const [delivery] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    await disableEndpointByAdmin({ sql: t.sql, now }, endpoint.id, 'admin');
    // Pending again, as a redelivery or a fan-out racing the disabling left it before they waited
    // for it (the next tests): whatever leaves such a row, the sender does not send it.
    await t.sql`
      UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ${now()}, schedule_start = attempt_count
      WHERE id = ${delivery?.id ?? ''}`;
    expect(await run()).toMatchObject({ attempted: 0 });
    expect(receiver.received).toHaveLength(1);
  });

  it('a redelivery asked while the endpoint is being disabled waits for it and is refused; nothing is left pending', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 1 });
    const [delivery] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    const redelivery = await contendWithOpenTransaction(
      t.sql,
      (disabling) => disableEndpoint(disabling, endpoint.id, 'disabled by admin', now()),
      () => redeliver({ sql: t.sql, now }, delivery?.id ?? ''),
    );
    expect(redelivery).toMatchObject({
      status: 'rejected',
      reason: { details: { code: 'endpoint_disabled' } },
    });
    const [after] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(after?.status).toBe('succeeded');
  });

  it('a redelivery of a pending delivery asked between the two steps of a disabling waits for it: no deadlock', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    await fanOut({ sql: t.sql, now }, 100);
    const [delivery] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(delivery?.status).toBe('pending');
    // disableEndpoint's two statements (the endpoint, then its pending deliveries), with the
    // redelivery arriving between them: were it to lock the delivery before the endpoint, each
    // side would wait for the other and PostgreSQL would abort one of them.
    const redelivery = await contendWithOpenTransaction(
      t.sql,
      (disabling) => disabling`
        UPDATE webhook_endpoints SET disabled_at = ${now()}, disabled_reason = 'disabled by admin' WHERE id = ${endpoint.id}`,
      () => redeliver({ sql: t.sql, now }, delivery?.id ?? ''),
      (disabling) => disabling`
        UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL
        WHERE endpoint_id = ${endpoint.id} AND status = 'pending'`,
    );
    expect(redelivery).toMatchObject({
      status: 'rejected',
      reason: { details: { code: 'endpoint_disabled' } },
    });
    const [after] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(after?.status).toBe('cancelled');
  });

  it('a throttling answer recorded between the two steps of a disabling waits for it: no deadlock', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    await fanOut({ sql: t.sql, now }, 100);
    const throttling: WebhookSender = async () => ({ kind: 'response', status: 503, durationMs: 1 });
    // The run records a 503, which throttles the endpoint, while a disabling holds the endpoint
    // and has yet to cancel its deliveries: were the run to write the delivery before the
    // endpoint, each side would wait for the other and PostgreSQL would abort one of them.
    const run = await contendWithOpenTransaction(
      t.sql,
      (disabling) => disabling`
        UPDATE webhook_endpoints SET disabled_at = ${now()}, disabled_reason = 'disabled by admin' WHERE id = ${endpoint.id}`,
      () => runDeliveries({ ...workerWith(loopbackAllowed), send: throttling }, options),
      (disabling) => disabling`
        UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL
        WHERE endpoint_id = ${endpoint.id} AND status = 'pending'`,
    );
    expect(run).toMatchObject({ status: 'fulfilled', value: { attempted: 1, succeeded: 0 } });
    const [after] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(after).toMatchObject({ status: 'cancelled', attemptCount: 1 });
    // Recorded, not lost to an aborted transaction (a deadlock is resolved by aborting one side).
    expect(after?.attempts.map((attempt) => attempt.statusCode)).toEqual([503]);
  });

  it('an event fanned out while its endpoint is being disabled is logged cancelled, not left pending', async () => {
    const { endpoint } = await endpointFor(['certificate.issued']);
    await issuedCertificate();
    const fanning = await contendWithOpenTransaction(
      t.sql,
      (disabling) => disableEndpoint(disabling, endpoint.id, 'disabled by admin', now()),
      () => fanOut({ sql: t.sql, now }, 100),
    );
    expect(fanning).toEqual({ status: 'fulfilled', value: { events: 1, deliveries: 0 } });
    const [delivery] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(delivery).toMatchObject({ status: 'cancelled', nextAttemptAt: null });
  });

  it('a receiver whose name never resolves takes no longer than the timeout (the lookup is inside it)', async () => {
    // getaddrinfo has no timeout of its own: a name server that never answers.
    const hanging: Resolver = () => new Promise(() => undefined);
    const send = createHttpSender({ guard: createAddressGuard([], hanging), timeoutMs: 300 });
    const outcome = await send({ url: 'https://hooks.example.org/in', headers: {}, body: '{}' });
    expect(outcome).toMatchObject({
      kind: 'error',
      error: 'timeout after 300 ms (resolving hooks.example.org)',
      refused: false,
    });
  });

  it('refuses a private address unless allowed, resolving DNS at delivery time', async () => {
    // Registration: loopback refused without the allow-list.
    const strict = createAddressGuard([]);
    await expect(
      createEndpoint(
        { sql: t.sql, guard: strict },
        {
          url: `https://127.0.0.1:${receiver.port}/hooks`,
          eventTypes: ['certificate.issued'],
          description: '',
        },
        'admin',
      ),
    ).rejects.toBeInstanceOf(ValidationError);

    // A name that resolved to a public address at registration, re-pointed to loopback later.
    let answer = '93.184.216.34';
    const resolver: Resolver = async () => [{ address: answer, family: 4 }];
    const guard = createAddressGuard([], resolver);
    const { endpoint } = await createEndpoint(
      { sql: t.sql, guard },
      {
        url: `https://hooks.example.test:${receiver.port}/hooks`,
        eventTypes: ['certificate.issued'],
        description: '',
      },
      'admin',
    );
    answer = '127.0.0.1';
    await issuedCertificate();
    expect(await run(guard)).toMatchObject({ attempted: 1, succeeded: 0 });
    expect(receiver.received).toEqual([]);
    const [delivery] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(delivery?.attempts[0]?.error).toMatch(
      /^refused: hooks\.example\.test does not resolve to a public address: it resolves to a private, loopback or link-local address/,
    );
    expect(delivery?.attempts[0]?.statusCode).toBeNull();

    // The same delivery reaches the receiver once the host is allow-listed (over http here).
    await t.sql`UPDATE webhook_endpoints SET url = ${receiver.url.replace('127.0.0.1', 'hooks.example.test')} WHERE id = ${endpoint.id}`;
    clock += 5000;
    const allowing = createAddressGuard(['hooks.example.test'], resolver);
    expect(await run(allowing)).toMatchObject({ attempted: 1, succeeded: 1 });
    expect(receiver.received).toHaveLength(1);
  });

  it('during a rotation both signatures are sent and each verifies; after the window only the new one', async () => {
    const { endpoint, secret: oldSecret } = await endpointFor(['certificate.issued']);
    const { secret: newSecret } = await rotateSecret({ sql: t.sql, now }, endpoint.id, 60);
    expect(newSecret).not.toBe(oldSecret);
    expect(newSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    await issuedCertificate();
    await run();
    const headers = receiver.headersOf(0);
    const body = receiver.received[0]?.body ?? '';
    const signatures = headers['webhook-signature'].split(' ');
    expect(signatures).toHaveLength(2);
    for (const signature of signatures) expect(signature).toMatch(/^v1,/);
    // Each secret alone verifies the message, and each signature alone is valid.
    expect(() => new Webhook(newSecret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(oldSecret).verify(body, headers)).not.toThrow();
    expect(() =>
      new Webhook(newSecret).verify(body, { ...headers, 'webhook-signature': signatures[0] ?? '' }),
    ).not.toThrow();
    expect(() =>
      new Webhook(oldSecret).verify(body, { ...headers, 'webhook-signature': signatures[1] ?? '' }),
    ).not.toThrow();

    clock += 61_000;
    await issuedCertificate();
    await run();
    const later = receiver.headersOf(1);
    expect(later['webhook-signature'].split(' ')).toHaveLength(1);
    expect(() => new Webhook(newSecret).verify(receiver.received[1]?.body ?? '', later)).not.toThrow();
    expect(() => new Webhook(oldSecret).verify(receiver.received[1]?.body ?? '', later)).toThrow();
  });

  it('an endpoint is not sent the events written before it was registered', async () => {
    // Still waiting for the fan-out (the worker runs each minute) when the endpoint is created:
    // it happened before the endpoint subscribed.
    await issuedCertificate();
    const { endpoint } = await endpointFor(['certificate.issued']);
    expect(await run()).toMatchObject({ fannedOut: 1, deliveriesCreated: 0, attempted: 0 });
    expect((await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items).toEqual([]);
    // The next event reaches it.
    await issuedCertificate();
    expect(await run()).toMatchObject({ fannedOut: 1, deliveriesCreated: 1, succeeded: 1 });
    expect(receiver.received).toHaveLength(1);
  });

  it('fans out only to endpoints subscribed to the type; redelivery resends with the same id', async () => {
    const { endpoint } = await endpointFor(['certificate.revoked']);
    await issuedCertificate();
    expect(await run()).toMatchObject({ fannedOut: 1, deliveriesCreated: 0 });

    const certificate = await insertCertificate(t.sql, { studentId: randomUUID(), status: 'issued' });
    await t.sql`UPDATE certificates SET status = 'revoked', revoked_at = now() WHERE id = ${certificate.id}`;
    expect(await run()).toMatchObject({ deliveriesCreated: 1, succeeded: 1 });
    const [delivery] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    await expect(redeliver({ sql: t.sql, now }, delivery?.id ?? '')).resolves.toMatchObject({
      status: 'pending',
    });
    // A second request while it is pending is refused.
    await expect(redeliver({ sql: t.sql, now }, delivery?.id ?? '')).rejects.toThrow('pending');
    expect(await run()).toMatchObject({ attempted: 1, succeeded: 1 });
    expect(receiver.received).toHaveLength(2);
    expect(receiver.headersOf(1)['webhook-id']).toBe(receiver.headersOf(0)['webhook-id']);
    const [after] = (await listDeliveries(t.sql, endpoint.id, { limit: 10 })).items;
    expect(after?.attempts.map((attempt) => attempt.attemptNumber)).toEqual([1, 2]);
  });

  it('announces each expiry once, timestamped with the expiry', async () => {
    const { secret } = await endpointFor(['certificate.expired']);
    const expired = await insertCertificate(t.sql, {
      studentId: randomUUID(),
      status: 'issued',
      expiresAt: new Date(clock - 60_000).toISOString(),
    });
    const notYet = await insertCertificate(t.sql, {
      studentId: randomUUID(),
      status: 'issued',
      expiresAt: new Date(clock + 3600_000).toISOString(),
    });
    const sweep = () => sweepExpiredCertificates({ sql: t.sql, log: silent, now }, 100);
    expect(await sweep()).toEqual({ marked: 1, announced: 1 });
    expect(await sweep()).toEqual({ marked: 0, announced: 0 });
    expect((await outboxOf(expired.id)).map((row) => row.event_type)).toEqual(['certificate.expired']);
    expect(await outboxOf(notYet.id)).toEqual([]);

    await run();
    expect(receiver.received).toHaveLength(1);
    const payload = new Webhook(secret).verify(receiver.received[0]?.body ?? '', receiver.headersOf(0)) as {
      type: string;
      timestamp: string;
      data: Record<string, unknown>;
    };
    expect(payload.type).toBe('certificate.expired');
    expect(() => webhookEventSchemas['certificate.expired'].parse(payload)).not.toThrow();
    expect(payload.data).toMatchObject({ certificateId: expired.id, status: 'expired' });
    expect(new Date(payload.timestamp).getTime()).toBe(new Date(clock - 60_000).getTime());
  });

  it('an expiry the sweep had not reached when the certificate was revoked is delivered, dated before the revocation', async () => {
    const { secret } = await endpointFor(['certificate.expired', 'certificate.revoked']);
    const expired = await insertCertificate(t.sql, {
      studentId: randomUUID(),
      status: 'issued',
      expiresAt: new Date(clock - 60_000).toISOString(),
    });
    await revokeCertificate(
      { sql: t.sql, log: silent },
      { certificateId: expired.id, reasonCode: 'issued-in-error', actor: 'staff' },
    );
    expect(await sweepExpiredCertificates({ sql: t.sql, log: silent, now }, 100)).toEqual({
      marked: 0,
      announced: 0,
    });

    await run();
    const payloads = receiver.received.map(
      (request, i) =>
        new Webhook(secret).verify(request.body, receiver.headersOf(i)) as {
          type: 'certificate.expired' | 'certificate.revoked';
          timestamp: string;
          data: Record<string, unknown>;
        },
    );
    // Sent concurrently, so compared by their timestamps rather than by arrival.
    payloads.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    expect(payloads.map((payload) => payload.type)).toEqual(['certificate.expired', 'certificate.revoked']);
    for (const payload of payloads)
      expect(() => webhookEventSchemas[payload.type].parse(payload)).not.toThrow();
    expect(payloads[0]?.data).toMatchObject({ certificateId: expired.id, status: 'expired' });
    expect(new Date(payloads[0]?.timestamp ?? '').getTime()).toBe(clock - 60_000);
  });

  it('two concurrent workers never send one delivery twice', async () => {
    await endpointFor(['certificate.issued']);
    for (let i = 0; i < 6; i += 1) await issuedCertificate();
    const [first, second] = await Promise.all([run(), run()]);
    expect((first?.attempted ?? 0) + (second?.attempted ?? 0)).toBe(6);
    expect(receiver.received).toHaveLength(6);
    expect(new Set(receiver.received.map((request) => request.headers['webhook-id'])).size).toBe(6);
  });
});

describe('functions/deliver-webhooks handler', () => {
  it('a batch of silent expiries (a backfill) does not end the run before the expiries to announce', async () => {
    await endpointFor(['certificate.expired']);
    const expiredAt = new Date(clock - 60_000).toISOString();
    const quiet = [];
    for (let i = 0; i < 3; i += 1) {
      const certificate = await insertCertificate(t.sql, {
        studentId: randomUUID(),
        status: 'issued',
        expiresAt: expiredAt,
      });
      await t.sql`UPDATE certificates SET notify = false WHERE id = ${certificate.id}`;
      quiet.push(certificate.id);
    }
    // Expired a moment later than the silent ones, so a sweep of two reaches it last.
    const loud = await insertCertificate(t.sql, {
      studentId: randomUUID(),
      status: 'issued',
      expiresAt: new Date(clock - 30_000).toISOString(),
    });
    const result = await runScheduledWebhooks(
      workerWith(loopbackAllowed),
      { ...options, batchSize: 2 },
      () => 170_000,
    );
    expect(result).toMatchObject({ expiriesAnnounced: 1 });
    expect(result.rounds).toBeGreaterThanOrEqual(2);
    expect((await outboxOf(loud.id)).map((row) => row.event_type)).toEqual(['certificate.expired']);
    const unmarked = await t.sql`
      SELECT id FROM certificates WHERE id = ANY(${[...quiet, loud.id]}::uuid[]) AND expiry_notified_at IS NULL`;
    expect(unmarked).toEqual([]);
  });

  it('wired from the environment: announces expiries and delivers them, in rounds while batches come back full', async () => {
    const { secret } = await endpointFor(['certificate.expired']);
    const expired = [];
    for (let i = 0; i < 3; i += 1) {
      expired.push(
        await insertCertificate(t.sql, {
          studentId: randomUUID(),
          status: 'issued',
          expiresAt: new Date(Date.now() - 1000 * (i + 1)).toISOString(),
        }),
      );
    }
    const restore = applyEnv({
      ...t.env,
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      WEBHOOK_BATCH_SIZE: '2',
      LOG_LEVEL: 'SILENT',
    });
    try {
      const { handler } = await import('../../functions/deliver-webhooks.ts');
      // Plenty of time left: a full round (2 of 3) is followed by another.
      const context = { ...lambdaContext(), getRemainingTimeInMillis: () => 170_000 };
      const result = await handler({}, context);
      expect(result).toMatchObject({ expiriesAnnounced: 3, fannedOut: 3, attempted: 3, succeeded: 3 });
      expect(result.rounds).toBeGreaterThanOrEqual(2);
      // Without time for a worst-case round it stops after one.
      await endpointFor(['certificate.expired']);
      for (let i = 0; i < 3; i += 1) {
        await insertCertificate(t.sql, {
          studentId: randomUUID(),
          status: 'issued',
          expiresAt: new Date(Date.now() - 1000).toISOString(),
        });
      }
      const short = await handler({}, { ...lambdaContext(), getRemainingTimeInMillis: () => 5_000 });
      expect(short).toMatchObject({ rounds: 1, expiriesAnnounced: 2 });
    } finally {
      restore();
    }
    const types = receiver.received
      .slice(0, 3)
      .map(
        (request, index) =>
          (new Webhook(secret).verify(request.body, receiver.headersOf(index)) as { type: string }).type,
      );
    expect(types.slice(0, 3)).toEqual(['certificate.expired', 'certificate.expired', 'certificate.expired']);
    const ids = receiver.received
      .slice(0, 3)
      .map((request) => (JSON.parse(request.body) as { data: { certificateId: string } }).data.certificateId);
    expect(ids.sort()).toEqual(expired.map((certificate) => certificate.id).sort());
  });
});
