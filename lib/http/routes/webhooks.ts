import { z } from 'zod';
import { requires } from '../../auth/policies.ts';
import { logger } from '../../observability/logger.ts';
import {
  createEndpoint,
  disableEndpointByAdmin,
  enableEndpoint,
  getEndpoint,
  listDeliveries,
  listEndpoints,
  redeliver,
  rotateSecret,
} from '../../webhooks/endpoints.ts';
import { defineRoute } from '../contract.ts';
import { pageBody, pageQuery, pageQuerySchema } from '../pagination.ts';
import { uuidParam } from '../params.ts';
import { json } from '../response.ts';
import type { WebhookDeps } from '../webhook-deps.ts';
import {
  redeliveryResultSchema,
  webhookDeliveryPageSchema,
  webhookEndpointInputSchema,
  webhookEndpointListSchema,
  webhookEndpointSchema,
  webhookEndpointWithSecretSchema,
} from '../webhook-schemas.ts';
import { errorResponse } from './common.ts';

/**
 * The webhook admin API (Standard Webhooks endpoints, issue 13). Every route requires
 * `webhooks:manage` (certificate-admin). Secrets appear only in the answers of create and
 * rotate-secret.
 */

const manage = requires('webhooks:manage', 'manage webhooks');
const endpointIdPath = z.object({ endpointId: uuidParam('Webhook endpoint id') });
const deliveryIdPath = z.object({ deliveryId: uuidParam('Webhook delivery id') });
const SIGNING =
  'Deliveries follow Standard Webhooks: headers `webhook-id`, `webhook-timestamp`, `webhook-signature` ' +
  '(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the base64-decoded secret).';

export const createWebhookEndpointRoute = defineRoute({
  operationId: 'createWebhookEndpoint',
  method: 'POST',
  path: '/api/v1/webhooks/endpoints',
  tags: ['webhooks'],
  summary: 'Register a webhook endpoint (admin)',
  description:
    `Subscribes a URL to certificate events. The answer carries the signing secret, shown only this once. ${SIGNING} ` +
    'The URL must be https and resolve to public addresses only (checked again at every delivery), ' +
    'unless its host is in WEBHOOK_ALLOWED_HOSTS.',
  request: { body: webhookEndpointInputSchema },
  policy: manage,
  responses: {
    201: {
      description: 'Registered',
      schema: webhookEndpointWithSecretSchema,
      headers: z.object({
        Location: z.string().meta({ description: 'The endpoint: /api/v1/webhooks/endpoints/{endpointId}' }),
      }),
    },
  },
  handle: async (deps: WebhookDeps, { body, principal }) => {
    const created = await createEndpoint(deps, body, principal.subject);
    logger.info('Webhook endpoint registered', { endpointId: created.endpoint.id, by: principal.subject });
    // RFC 9110 15.3.2: Location names the resource the 201 created (GET shows it without the secret).
    return json(201, created, { Location: `/api/v1/webhooks/endpoints/${created.endpoint.id}` });
  },
});

export const listWebhookEndpointsRoute = defineRoute({
  operationId: 'listWebhookEndpoints',
  method: 'GET',
  path: '/api/v1/webhooks/endpoints',
  tags: ['webhooks'],
  summary: 'List webhook endpoints (admin)',
  description: 'Every endpoint, enabled or not. Secrets are never shown.',
  request: {},
  policy: manage,
  responses: { 200: { description: 'The endpoints', schema: webhookEndpointListSchema } },
  handle: async (deps: WebhookDeps) => json(200, { items: await listEndpoints(deps.sql) }),
});

export const getWebhookEndpointRoute = defineRoute({
  operationId: 'getWebhookEndpoint',
  method: 'GET',
  path: '/api/v1/webhooks/endpoints/{endpointId}',
  tags: ['webhooks'],
  summary: 'One webhook endpoint (admin)',
  description:
    'The endpoint as the list shows it: URL, event types, enabled or why and when disabled, a throttle ' +
    'in force, the end of a secret rotation window. The secret is never shown.',
  request: { path: endpointIdPath },
  policy: manage,
  responses: {
    200: { description: 'The endpoint', schema: webhookEndpointSchema },
    404: { description: 'Unknown endpoint' },
  },
  handle: async (deps: WebhookDeps, { path }) => json(200, await getEndpoint(deps.sql, path.endpointId)),
});

export const disableWebhookEndpointRoute = defineRoute({
  operationId: 'disableWebhookEndpoint',
  method: 'DELETE',
  path: '/api/v1/webhooks/endpoints/{endpointId}',
  tags: ['webhooks'],
  summary: 'Disable a webhook endpoint (admin)',
  description:
    'Stops all deliveries to the endpoint and cancels pending ones (a backlog past 5,000: the rest ' +
    'within the next runs of the delivery worker, sending nothing meanwhile). The endpoint and its ' +
    'delivery log are kept (audit); `POST .../enable` resumes deliveries.',
  request: { path: endpointIdPath },
  policy: manage,
  responses: {
    200: { description: 'Disabled', schema: webhookEndpointSchema },
    404: { description: 'Unknown endpoint' },
  },
  handle: async (deps: WebhookDeps, { path, principal }) => {
    const endpoint = await disableEndpointByAdmin(deps, path.endpointId, principal.subject);
    logger.info('Webhook endpoint disabled', { endpointId: endpoint.id, by: principal.subject });
    return json(200, endpoint);
  },
});

export const enableWebhookEndpointRoute = defineRoute({
  operationId: 'enableWebhookEndpoint',
  method: 'POST',
  path: '/api/v1/webhooks/endpoints/{endpointId}/enable',
  tags: ['webhooks'],
  summary: 'Enable a disabled webhook endpoint again (admin)',
  description:
    'Resumes deliveries to an endpoint disabled by an admin, by a `410 Gone` answer or after failing ' +
    'every attempt for a whole retry schedule (~3 days), with the same ' +
    'secret and event types. The URL is checked again as at registration (400 when it is now refused). ' +
    'Events from while it was disabled are not replayed on their own: redeliver them from its delivery log. ' +
    'Enabling an enabled endpoint changes nothing.',
  request: { path: endpointIdPath },
  policy: manage,
  responses: {
    200: { description: 'Enabled', schema: webhookEndpointSchema },
    404: { description: 'Unknown endpoint' },
    409: {
      ...errorResponse(
        'The deliveries it had pending when it was disabled are still being cancelled (`code` ' +
          'endpoint_backlog_cancelling; a backlog past 5,000): ask again after Retry-After',
      ),
      headers: z.object({
        'Retry-After': z.number().int().meta({ description: 'Seconds to wait before asking again' }),
      }),
    },
  },
  handle: async (deps: WebhookDeps, { path, principal }) => {
    const endpoint = await enableEndpoint(deps, path.endpointId);
    logger.info('Webhook endpoint enabled', { endpointId: endpoint.id, by: principal.subject });
    return json(200, endpoint);
  },
});

export const rotateWebhookSecretRoute = defineRoute({
  operationId: 'rotateWebhookSecret',
  method: 'POST',
  path: '/api/v1/webhooks/endpoints/{endpointId}/rotate-secret',
  tags: ['webhooks'],
  summary: 'Rotate the signing secret of an endpoint (admin)',
  description:
    'Issues a new secret, shown only in this answer. For WEBHOOK_ROTATION_WINDOW_SECONDS the previous ' +
    'secret signs too: `webhook-signature` then holds two space-separated signatures, so the receiver ' +
    'can switch secrets without missing a delivery.',
  request: { path: endpointIdPath },
  policy: manage,
  responses: {
    200: { description: 'Rotated', schema: webhookEndpointWithSecretSchema },
    404: { description: 'Unknown endpoint' },
  },
  handle: async (deps: WebhookDeps, { path, principal }) => {
    const rotated = await rotateSecret(deps, path.endpointId, deps.rotationWindowSeconds);
    logger.info('Webhook secret rotated', { endpointId: path.endpointId, by: principal.subject });
    return json(200, rotated);
  },
});

export const listWebhookDeliveriesRoute = defineRoute({
  operationId: 'listWebhookDeliveries',
  method: 'GET',
  path: '/api/v1/webhooks/endpoints/{endpointId}/deliveries',
  tags: ['webhooks'],
  summary: 'Delivery log of an endpoint (admin)',
  description:
    'Each event sent to the endpoint, newest first, with every attempt (status code or error, duration).',
  request: { path: endpointIdPath, query: pageQuerySchema },
  policy: manage,
  responses: {
    200: { description: 'One page, newest first', schema: webhookDeliveryPageSchema },
    404: { description: 'Unknown endpoint' },
  },
  handle: async (deps: WebhookDeps, { path, query }) =>
    json(200, pageBody(await listDeliveries(deps.sql, path.endpointId, pageQuery(query)))),
});

export const redeliverWebhookRoute = defineRoute({
  operationId: 'redeliverWebhook',
  method: 'POST',
  path: '/api/v1/webhooks/deliveries/{deliveryId}/redeliver',
  tags: ['webhooks'],
  summary: 'Send a delivery again (admin)',
  description:
    'Queues the delivery for the next run of the delivery worker (within a minute), with the same ' +
    '`webhook-id` and a fresh retry schedule.',
  request: { path: deliveryIdPath },
  policy: manage,
  responses: {
    202: { description: 'Queued', schema: redeliveryResultSchema },
    404: { description: 'Unknown delivery' },
    409: errorResponse(
      'Still pending (`code` delivery_pending) or the endpoint is disabled (endpoint_disabled)',
    ),
  },
  handle: async (deps: WebhookDeps, { path, principal }) => {
    const result = await redeliver(deps, path.deliveryId);
    logger.info('Webhook redelivery queued', { deliveryId: path.deliveryId, by: principal.subject });
    return json(202, result);
  },
});
