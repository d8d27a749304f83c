import { z } from 'zod';
import type { PageCursor, PageQuery } from '../certificates/read-model.ts';
import type { Sql } from '../db/client.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { type AddressGuard, AddressRefusedError, hostOf } from './address-guard.ts';
import { CANCEL_BATCH, cancelPending, disableEndpoint } from './delivery.ts';
import { WEBHOOK_EVENT_TYPES } from './events.ts';
import { generateSecret } from './signing.ts';

/**
 * Endpoint management and the delivery log, as the admin API uses them. The signing secret
 * leaves this module only in the result of `createEndpoint` and `rotateSecret` (shown once);
 * every other view omits it.
 */

/** The stored URL's limit (the column's CHECK), of the URL as normalised, not as typed. */
const MAX_URL_LENGTH = 2048;

export const endpointInputSchema = z.strictObject({
  url: z.string().min(1, 'is required').max(MAX_URL_LENGTH, `must be at most ${MAX_URL_LENGTH} characters`),
  eventTypes: z
    .array(z.enum(WEBHOOK_EVENT_TYPES))
    .min(1, 'must name at least one event type')
    .refine((types) => new Set(types).size === types.length, 'must not repeat an event type')
    // The refinement above, as JSON Schema says it.
    .meta({ description: 'Events this endpoint receives (each at most once)', uniqueItems: true }),
  description: z.string().max(500, 'must be at most 500 characters').default(''),
});
export type EndpointInput = z.output<typeof endpointInputSchema>;

export interface EndpointView {
  id: string;
  url: string;
  description: string;
  eventTypes: string[];
  enabled: boolean;
  disabledAt: string | null;
  disabledReason: string | null;
  /** While set and in the future, the previous secret still signs too. */
  previousSecretExpiresAt: string | null;
  /** The receiver asked to be throttled: nothing is sent before then, and then one probe. */
  throttledUntil: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryAttemptView {
  attemptNumber: number;
  attemptedAt: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  succeeded: boolean;
}

export interface DeliveryView {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  status: 'pending' | 'succeeded' | 'failed' | 'cancelled';
  attemptCount: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  attempts: DeliveryAttemptView[];
}

interface EndpointRow {
  id: string;
  url: string;
  description: string;
  event_types: string[];
  disabled_at: Date | null;
  disabled_reason: string | null;
  previous_secret_expires_at: Date | null;
  throttled_until: Date | null;
  created_at: Date;
  updated_at: Date;
}

const iso = (value: Date | null) => (value ? value.toISOString() : null);

function endpointView(row: EndpointRow): EndpointView {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    enabled: row.disabled_at === null,
    disabledAt: iso(row.disabled_at),
    disabledReason: row.disabled_reason,
    previousSecretExpiresAt: iso(row.previous_secret_expires_at),
    throttledUntil: iso(row.throttled_until),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

const ENDPOINT_COLUMNS =
  'id, url, description, event_types, disabled_at, disabled_reason, previous_secret_expires_at, throttled_until, created_at, updated_at';

/**
 * A URL admins may register: http(s), no credentials in it, https unless the host is
 * allow-listed (local receivers), and a host that resolves to public addresses only.
 */
export async function checkEndpointUrl(guard: AddressGuard, value: string): Promise<string> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ValidationError('url must be an absolute http(s) URL', 'url');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ValidationError('url must be an http(s) URL', 'url');
  }
  if (url.username || url.password) throw new ValidationError('url must not contain credentials', 'url');
  if (url.hash) throw new ValidationError('url must not contain a fragment', 'url');
  // Normalising percent-encodes what is not ASCII (an "é" becomes six characters): a URL typed
  // within the limit can be stored beyond it.
  if (url.toString().length > MAX_URL_LENGTH) {
    throw new ValidationError(
      `url must be at most ${MAX_URL_LENGTH} characters once normalised (non-ASCII characters are percent-encoded)`,
      'url',
    );
  }
  if (url.protocol === 'http:' && !guard.allowed(hostOf(url))) {
    throw new ValidationError(
      'url must use https (payloads and signatures travel in clear over http)',
      'url',
    );
  }
  try {
    await guard.resolve(url);
  } catch (error) {
    if (error instanceof AddressRefusedError)
      throw new ValidationError(`url is refused: ${error.message}`, 'url');
    throw error;
  }
  return url.toString();
}

export async function createEndpoint(
  deps: { sql: Sql; guard: AddressGuard },
  input: EndpointInput,
  createdBy: string,
): Promise<{ endpoint: EndpointView; secret: string }> {
  const url = await checkEndpointUrl(deps.guard, input.url);
  const secret = generateSecret();
  const [row] = await deps.sql<EndpointRow[]>`
    INSERT INTO webhook_endpoints (url, description, event_types, secret, created_by)
    VALUES (${url}, ${input.description}, ${input.eventTypes}::text[], ${secret}, ${createdBy})
    RETURNING ${deps.sql.unsafe(ENDPOINT_COLUMNS)}`;
  if (!row) throw new Error('endpoint insert returned nothing');
  return { endpoint: endpointView(row), secret };
}

export async function listEndpoints(sql: Sql): Promise<EndpointView[]> {
  const rows = await sql<EndpointRow[]>`
    SELECT ${sql.unsafe(ENDPOINT_COLUMNS)} FROM webhook_endpoints ORDER BY created_at DESC, id DESC`;
  return rows.map(endpointView);
}

/** One endpoint as the admin API shows it (no secret); NotFoundError for an unknown id. */
export async function getEndpoint(sql: Sql, id: string): Promise<EndpointView> {
  return endpointView(await endpointById(sql, id));
}

async function endpointById(sql: Sql, id: string): Promise<EndpointRow> {
  const [row] = await sql<EndpointRow[]>`
    SELECT ${sql.unsafe(ENDPOINT_COLUMNS)} FROM webhook_endpoints WHERE id = ${id}`;
  if (!row) throw new NotFoundError('Webhook endpoint');
  return row;
}

/**
 * A new secret; the current one keeps signing (as a second signature) for `windowSeconds`,
 * so receivers can switch without losing a delivery. Rotating again within a window drops the
 * oldest secret: at most two ever sign.
 */
export async function rotateSecret(
  deps: { sql: Sql; now: () => Date },
  id: string,
  windowSeconds: number,
): Promise<{ endpoint: EndpointView; secret: string }> {
  const secret = generateSecret();
  const until = new Date(deps.now().getTime() + windowSeconds * 1000);
  const [row] = await deps.sql<EndpointRow[]>`
    UPDATE webhook_endpoints
    SET previous_secret = CASE WHEN ${windowSeconds} > 0 THEN secret END,
        previous_secret_expires_at = CASE WHEN ${windowSeconds} > 0 THEN ${until}::timestamptz END,
        secret = ${secret}, updated_at = now()
    WHERE id = ${id}
    RETURNING ${deps.sql.unsafe(ENDPOINT_COLUMNS)}`;
  if (!row) throw new NotFoundError('Webhook endpoint');
  return { endpoint: endpointView(row), secret };
}

/** Stops deliveries to an endpoint for good (pending ones are cancelled); its log is kept. */
export async function disableEndpointByAdmin(
  deps: { sql: Sql; now: () => Date },
  id: string,
  by: string,
  batch: number = CANCEL_BATCH,
): Promise<EndpointView> {
  await deps.sql.begin(async (tx) => {
    await disableEndpoint(tx, id, `disabled by ${by}`, deps.now(), batch);
  });
  return endpointView(await endpointById(deps.sql, id));
}

/**
 * Resumes deliveries to a disabled endpoint (after a 410 Gone, an admin's DELETE, or failing
 * consistently: CONSISTENT_FAILURE_REASON in events.ts), keeping its secret and subscriptions.
 * Its URL is checked again as at registration: the address it resolves to may have changed
 * while it was off. Events that happened while it was disabled are not replayed on their own;
 * the delivery log lists them and each can be redelivered. Enabling an enabled endpoint changes
 * nothing.
 */
export async function enableEndpoint(
  deps: { sql: Sql; guard: AddressGuard },
  id: string,
  batch: number = CANCEL_BATCH,
): Promise<EndpointView> {
  const current = await endpointById(deps.sql, id);
  if (current.disabled_at === null) return endpointView(current);
  await checkEndpointUrl(deps.guard, current.url);
  // Deliveries pending from before the disabling, the backlog its cancellation has not reached
  // yet (disableEndpoint), would go out once it is enabled: events of while it was disabled are
  // never replayed on their own. One more batch here; past it, the caller asks again.
  const row = await deps.sql.begin(async (tx): Promise<EndpointRow | undefined> => {
    const [locked] = await tx<EndpointRow[]>`
      SELECT ${tx.unsafe(ENDPOINT_COLUMNS)} FROM webhook_endpoints WHERE id = ${id} FOR UPDATE`;
    // Enabled meanwhile (a second click): its pending deliveries are new events', to be sent.
    if (!locked || locked.disabled_at === null) return locked;
    await cancelPending(tx, id, batch);
    const [left] = await tx<{ pending: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE endpoint_id = ${id} AND status = 'pending') AS pending`;
    if (left?.pending) return undefined;
    const [enabled] = await tx<EndpointRow[]>`
      UPDATE webhook_endpoints
      SET disabled_at = NULL, disabled_reason = NULL, throttled_until = NULL, updated_at = now()
      WHERE id = ${id}
      RETURNING ${tx.unsafe(ENDPOINT_COLUMNS)}`;
    return enabled;
  });
  if (!row)
    throw new ConflictError('The endpoint is still cancelling the deliveries it had pending; ask again', {
      code: 'endpoint_backlog_cancelling',
      retryAfterSeconds: 60,
    });
  return endpointView(row);
}

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  status: DeliveryView['status'];
  attempt_count: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  created_at_key: string;
  attempts: {
    attempt_number: number;
    attempted_at: string;
    status_code: number | null;
    error: string | null;
    duration_ms: number;
    succeeded: boolean;
  }[];
}

/** An endpoint's deliveries, newest first, each with its attempts (the delivery log). */
export async function listDeliveries(
  sql: Sql,
  endpointId: string,
  page: PageQuery,
): Promise<{ items: DeliveryView[]; next: PageCursor | null }> {
  await endpointById(sql, endpointId);
  const after = page.after
    ? sql`AND (d.created_at, d.id) < (${page.after.createdAt}::text::timestamptz, ${page.after.id}::uuid)`
    : sql``;
  const rows = await sql<DeliveryRow[]>`
    SELECT d.id, d.endpoint_id, d.event_id, o.event_type, d.status, d.attempt_count, d.next_attempt_at,
      d.last_attempt_at, d.last_status_code, d.last_error, d.created_at,
      to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_key,
      coalesce((
        SELECT jsonb_agg(jsonb_build_object(
          'attempt_number', a.attempt_number,
          'attempted_at', to_char(a.attempted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'status_code', a.status_code, 'error', a.error, 'duration_ms', a.duration_ms,
          'succeeded', a.succeeded) ORDER BY a.attempt_number)
        FROM webhook_delivery_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS attempts
    FROM webhook_deliveries d JOIN webhook_outbox o ON o.id = d.event_id
    WHERE d.endpoint_id = ${endpointId} ${after}
    ORDER BY d.created_at DESC, d.id DESC
    LIMIT ${page.limit + 1}`;
  const items = rows.slice(0, page.limit).map(
    (row): DeliveryView => ({
      id: row.id,
      endpointId: row.endpoint_id,
      eventId: row.event_id,
      eventType: row.event_type,
      status: row.status,
      // While a worker holds it, next_attempt_at is its lease: shown as is (a due time).
      attemptCount: row.attempt_count,
      nextAttemptAt: row.status === 'pending' ? iso(row.next_attempt_at) : null,
      lastAttemptAt: iso(row.last_attempt_at),
      lastStatusCode: row.last_status_code,
      lastError: row.last_error,
      createdAt: row.created_at.toISOString(),
      attempts: row.attempts.map((attempt) => ({
        attemptNumber: attempt.attempt_number,
        attemptedAt: attempt.attempted_at,
        statusCode: attempt.status_code,
        error: attempt.error,
        durationMs: attempt.duration_ms,
        succeeded: attempt.succeeded,
      })),
    }),
  );
  const last = rows.length > page.limit ? rows[page.limit - 1] : undefined;
  return { items, next: last ? { createdAt: last.created_at_key, id: last.id } : null };
}

/**
 * Sends a delivery again (same webhook-id, fresh signature and timestamp), with a full retry
 * schedule of its own. Refused while it is still pending, or when its endpoint is disabled.
 */
export async function redeliver(
  deps: { sql: Sql; now: () => Date },
  deliveryId: string,
): Promise<{ id: string; status: 'pending'; nextAttemptAt: string }> {
  const now = deps.now();
  const [row] = await deps.sql.begin(async (tx) => {
    // The endpoint's row first, as a disabling takes it (and then its pending deliveries): a
    // disabling not yet committed is waited for and then seen, so a redelivery cannot leave a
    // delivery pending behind the disabling's cancellation; the same order as the disabling's,
    // so neither waits for the other in a deadlock.
    await tx`
      SELECT 1 FROM webhook_endpoints
      WHERE id = (SELECT endpoint_id FROM webhook_deliveries WHERE id = ${deliveryId})
      FOR SHARE`;
    return await tx<{ status: string; disabled: boolean; updated: boolean }[]>`
      WITH target AS (
        SELECT d.id, d.status, e.disabled_at IS NOT NULL AS disabled
        FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
        WHERE d.id = ${deliveryId}
        FOR UPDATE OF d
      ), updated AS (
        UPDATE webhook_deliveries d
        SET status = 'pending', next_attempt_at = ${now}, schedule_start = d.attempt_count, updated_at = now()
        FROM target t
        WHERE d.id = t.id AND t.status <> 'pending' AND NOT t.disabled
        RETURNING d.id
      )
      SELECT t.status, t.disabled, EXISTS (SELECT 1 FROM updated) AS updated FROM target t`;
  });
  if (!row) throw new NotFoundError('Webhook delivery');
  if (row.disabled) {
    throw new ConflictError('The endpoint is disabled', { code: 'endpoint_disabled' });
  }
  if (!row.updated) {
    throw new ConflictError('The delivery is still pending', {
      code: 'delivery_pending',
      status: row.status,
    });
  }
  return { id: deliveryId, status: 'pending', nextAttemptAt: now.toISOString() };
}
