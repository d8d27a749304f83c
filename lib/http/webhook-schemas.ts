import { z } from 'zod';
import { UUID_PATTERN } from '../certificates/ids.ts';
import type { DeliveryView, EndpointView } from '../webhooks/endpoints.ts';
import { endpointInputSchema } from '../webhooks/endpoints.ts';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../webhooks/events.ts';
import { revocationReasonSchema } from './schemas.ts';

/**
 * Response shapes of the webhook admin routes (lib/http/routes/webhooks.ts), and what the
 * service sends: the payload of each event type and the signature headers (the document's
 * top-level `webhooks`, lib/http/openapi.ts).
 */

const isoDateTime = z.iso.datetime({ offset: true });
const uuid = z.string().regex(UUID_PATTERN);

export const webhookEndpointInputSchema = endpointInputSchema.meta({ id: 'WebhookEndpointInput' });

export const webhookEndpointSchema = z
  .strictObject({
    id: uuid,
    url: z.string(),
    description: z.string(),
    eventTypes: z.array(z.string()).describe(`Subset of ${WEBHOOK_EVENT_TYPES.join(', ')}`),
    enabled: z.boolean(),
    disabledAt: isoDateTime.nullable(),
    disabledReason: z
      .string()
      .nullable()
      .describe(
        'Why deliveries stopped: an admin disabled it, the endpoint answered 410 Gone, or every attempt ' +
          'to it failed for a whole retry schedule (~3 days)',
      ),
    previousSecretExpiresAt: isoDateTime
      .nullable()
      .describe('After a rotation: until then the previous secret signs too (two signatures)'),
    throttledUntil: isoDateTime
      .nullable()
      .describe(
        'The receiver asked to be throttled (it answered 429, 502, 503 or 504, or did not answer): ' +
          'nothing is sent to it before then, and after it one delivery a run until one is answered ' +
          'without a throttle, which clears this. Null: not throttled',
      ),
    createdAt: isoDateTime,
    updatedAt: isoDateTime,
  })
  .meta({ id: 'WebhookEndpoint' });

export const webhookEndpointWithSecretSchema = z
  .strictObject({
    endpoint: webhookEndpointSchema,
    secret: z
      .string()
      .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/)
      .describe('Signing secret (Standard Webhooks `whsec_...`). Shown this once; store it now.'),
  })
  .meta({ id: 'WebhookEndpointWithSecret' });

export const webhookEndpointListSchema = z
  .strictObject({ items: z.array(webhookEndpointSchema).describe('Newest first') })
  .meta({ id: 'WebhookEndpointList' });

export const webhookDeliverySchema = z
  .strictObject({
    id: uuid,
    endpointId: uuid,
    eventId: uuid.describe('The `webhook-id` header: the same on every attempt'),
    eventType: z.string(),
    status: z.enum(['pending', 'succeeded', 'failed', 'cancelled']),
    attemptCount: z.number().int(),
    nextAttemptAt: isoDateTime.nullable(),
    lastAttemptAt: isoDateTime.nullable(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    createdAt: isoDateTime,
    attempts: z.array(
      z.strictObject({
        attemptNumber: z.number().int(),
        attemptedAt: isoDateTime,
        statusCode: z.number().int().nullable(),
        error: z.string().nullable(),
        durationMs: z.number().int(),
        succeeded: z.boolean(),
      }),
    ),
  })
  .meta({ id: 'WebhookDelivery' });

export const webhookDeliveryPageSchema = z
  .strictObject({
    items: z.array(webhookDeliverySchema).describe('Newest first'),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'WebhookDeliveryPage' });

export const redeliveryResultSchema = z
  .strictObject({ id: uuid, status: z.literal('pending'), nextAttemptAt: isoDateTime })
  .meta({ id: 'WebhookRedelivery' });

/*
 * The payloads, as written by the outbox trigger (lib/db/migrations/1732600000000_webhooks.sql)
 * and the expiry sweep (lib/webhooks/expiry-sweep.ts); test/integration/webhooks-delivery parses
 * what the receiver gets with these. Timestamps inside `data` are PostgreSQL's JSON rendering of
 * timestamptz (ISO 8601 with an offset, e.g. `+00:00`).
 */
const certificateIds = {
  certificateId: uuid,
  courseId: uuid,
  studentId: uuid.describe('Keycloak user id of the student'),
  verificationCode: z.string().describe('The code printed under the QR code (GET /api/v1/verify/{code})'),
};

export const webhookPayloadSchemas = {
  'certificate.issued': z.strictObject({
    ...certificateIds,
    status: z.literal('issued'),
    expiresAt: isoDateTime.nullable().describe('When it expires; null: it does not'),
  }),
  'certificate.revoked': z.strictObject({
    ...certificateIds,
    status: z.literal('revoked'),
    revocationReason: revocationReasonSchema.nullable(),
  }),
  'certificate.reissued': z.strictObject({
    ...certificateIds,
    status: z.literal('superseded'),
    supersededBy: uuid
      .nullable()
      .describe(
        'The new certificate; it sends its own certificate.issued, unless it was issued silently (a backfill without notify)',
      ),
  }),
  'certificate.expired': z.strictObject({
    ...certificateIds,
    status: z.literal('expired'),
    expiresAt: isoDateTime,
  }),
} as const satisfies Record<WebhookEventType, z.ZodType>;

/** The body of one event type (Standard Webhooks' `{type, timestamp, data}`), a component each. */
function eventSchema<T extends WebhookEventType>(type: T, id: string) {
  return z
    .strictObject({
      type: z.literal(type),
      timestamp: z.iso
        .datetime()
        .describe('When the event happened (an expiry: the expiry itself), not when it was sent'),
      data: webhookPayloadSchemas[type],
    })
    .meta({ id });
}

// Built once: a component id must name one schema instance in a document.
export const webhookEventSchemas = {
  'certificate.issued': eventSchema('certificate.issued', 'CertificateIssuedEvent'),
  'certificate.revoked': eventSchema('certificate.revoked', 'CertificateRevokedEvent'),
  'certificate.reissued': eventSchema('certificate.reissued', 'CertificateReissuedEvent'),
  'certificate.expired': eventSchema('certificate.expired', 'CertificateExpiredEvent'),
} as const satisfies Record<WebhookEventType, z.ZodType>;

/** The Standard Webhooks headers of every delivery (lib/webhooks/signing.ts). */
export const webhookHeadersSchema = z.object({
  'webhook-id': uuid.describe(
    'The event id: the same on every retry and redelivery and for every endpoint (an idempotency key)',
  ),
  'webhook-timestamp': z
    .number()
    .int()
    .nonnegative()
    .describe('Unix seconds of this attempt (signed: reject one too far from your clock)'),
  'webhook-signature': z
    .string()
    .regex(/^v1,[A-Za-z0-9+/]+={0,2}( v1,[A-Za-z0-9+/]+={0,2})*$/)
    .describe(
      '`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` keyed with the base64-decoded ' +
        'part of the endpoint secret; during a secret rotation a second one (the previous secret), space-separated',
    ),
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export const webhookSchemaChecks: {
  endpoint: Same<EndpointView, z.infer<typeof webhookEndpointSchema>>;
  delivery: Same<DeliveryView, z.infer<typeof webhookDeliverySchema>>;
} = { endpoint: true, delivery: true };
