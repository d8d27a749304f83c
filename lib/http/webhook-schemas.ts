import { z } from 'zod';
import { UUID_PATTERN } from '../certificates/ids.ts';
import type { DeliveryView, EndpointView } from '../webhooks/endpoints.ts';
import { endpointInputSchema } from '../webhooks/endpoints.ts';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/events.ts';

/** Response shapes of the webhook admin routes (lib/http/routes/webhooks.ts). */

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
      .describe('Why deliveries stopped: an admin disabled it, or the endpoint answered 410 Gone'),
    previousSecretExpiresAt: isoDateTime
      .nullable()
      .describe('After a rotation: until then the previous secret signs too (two signatures)'),
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

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export const webhookSchemaChecks: {
  endpoint: Same<EndpointView, z.infer<typeof webhookEndpointSchema>>;
  delivery: Same<DeliveryView, z.infer<typeof webhookDeliverySchema>>;
} = { endpoint: true, delivery: true };
