import { z } from 'zod';
import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
  type ZodOpenApiResponsesObject,
} from 'zod-openapi';
import {
  MAX_RETRY_AFTER_SECONDS,
  RETRY_DELAYS_SECONDS,
  RETRY_JITTER,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
} from '../webhooks/events.ts';
import type { RouteContract } from './contract.ts';
import { errorSchema } from './schemas.ts';
import { webhookEventSchemas, webhookHeadersSchema } from './webhook-schemas.ts';

/**
 * The OpenAPI 3.1 document, generated from the route declarations (lib/http/routes/*) with
 * zod-openapi: paths, parameters, bodies and responses all come from the routes' zod schemas.
 * Only what no route owns is written here: the API's description, the security scheme,
 * the common error responses each route gets from its policy and request schemas, and the
 * webhooks the service sends (OpenAPI 3.1's top-level `webhooks`).
 */

const GUIDE_NOTE =
  'The integration guide used `/api/v1/certificates/{student_id}` and `/api/v1/certificates/{certificate_id}`, ' +
  'which API Gateway cannot tell apart; this API keeps their meaning under unambiguous paths.';

const jsonError = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorSchema } },
});

/**
 * What API Gateway itself answers, before or instead of the function: `{"message": "..."}`, not
 * this API's error shape, and without CORS headers.
 */
const gatewayErrorSchema = z
  // Loose: AWS's body, which this service does not write, may grow a field.
  .looseObject({ message: z.string().meta({ description: 'e.g. "Too Many Requests"' }) })
  .meta({
    id: 'GatewayError',
    description: "API Gateway's own answer (throttling), not this API's error shape",
  });

/**
 * The public routes' throttle (serverless/deployment.cjs PUBLIC_ROUTE_KEYS: the routes anyone
 * may call, each held to its own stage limit); the authenticated routes have none of their own.
 */
const throttled: ZodOpenApiResponseObject = {
  description:
    'Throttled by API Gateway: this route got more than PUBLIC_THROTTLE_RATE_LIMIT requests a second ' +
    '(burst PUBLIC_THROTTLE_BURST_LIMIT) from all clients together. API Gateway answers itself, with ' +
    '`{"message": "Too Many Requests"}` and no CORS headers (a browser on another origin sees a network ' +
    'error); retry after a pause.',
  headers: {
    'Retry-After': {
      description: 'Seconds to wait, if sent (API Gateway may leave it out)',
      required: false,
      schema: { type: 'integer' },
    },
  },
  content: { 'application/json': { schema: gatewayErrorSchema } },
};

/** An error answer with its RFC 6750 Bearer challenge (`error` as the header names it). */
const challenged = (description: string, error: string): ZodOpenApiResponseObject => ({
  ...jsonError(description),
  headers: {
    'WWW-Authenticate': {
      description: `Bearer challenge, e.g. \`Bearer realm="course-certificates", error="${error}"\``,
      schema: { type: 'string' },
    },
  },
});

/** Errors every route may answer, by what its declaration says it does. */
function commonResponses(route: RouteContract): ZodOpenApiResponsesObject {
  const { request, policy } = route;
  const validates = Boolean(request.path ?? request.query ?? request.body);
  const checksRole = policy.authenticated && !policy.description.startsWith('Any signed-in user');
  return {
    ...(validates ? { '400': jsonError('Malformed parameter (`error.parameter` names it) or body') } : {}),
    ...(request.body
      ? {
          '413': jsonError(
            'The body is larger than the route takes (`error.code` payload_too_large; 16 KiB, the template ' +
              'preview 528 KiB)',
          ),
        }
      : {}),
    ...(policy.authenticated
      ? { '401': challenged('Missing, expired or invalid token', 'invalid_token') }
      : {}),
    ...(checksRole ? { '403': challenged('Authenticated but not allowed', 'insufficient_scope') } : {}),
    ...(policy.authenticated ? {} : { '429': throttled }),
    '500': jsonError(
      'Unexpected server error (`error.code` internal_error); quote `error.requestId` when reporting it. ' +
        'A function that cannot start at all (its configuration refused) answers it without CORS headers.',
    ),
    '503': {
      ...jsonError('A dependency (database, identity provider) is unavailable; retry'),
      headers: { 'Retry-After': { schema: { type: 'integer' } } },
    },
  };
}

const REQUEST_ID =
  "This request's id, as an error body's `requestId` (quote it when reporting a problem); on every " +
  "answer of the service, not on API Gateway's own 429 or a function that cannot start";

/** Every answer the function gives carries X-Request-Id (lib/http/route.ts): declared on each. */
function withRequestId(status: string, response: ZodOpenApiResponseObject): ZodOpenApiResponseObject {
  if (status === '429') return response;
  const { headers } = response;
  if (headers instanceof z.ZodObject)
    return {
      ...response,
      headers: headers.extend({ 'X-Request-Id': z.string().meta({ description: REQUEST_ID }) }),
    };
  return {
    ...response,
    headers: { ...(headers ?? {}), 'X-Request-Id': { description: REQUEST_ID, schema: { type: 'string' } } },
  };
}

function operation(route: RouteContract): ZodOpenApiOperationObject {
  const responses: Record<string, ZodOpenApiResponseObject> = {};
  for (const [status, common] of Object.entries(commonResponses(route))) {
    responses[status] = common as ZodOpenApiResponseObject;
  }
  for (const [status, spec] of Object.entries(route.responses)) {
    const schema = spec.schema ?? (Number(status) >= 400 ? errorSchema : undefined);
    responses[status] = {
      description: spec.description,
      ...(schema
        ? {
            content: {
              [spec.contentType ?? 'application/json']: { schema },
              ...Object.fromEntries(
                (spec.alternatives ?? []).map((other) => [other.contentType, { schema: other.schema }]),
              ),
            },
          }
        : {}),
      ...(spec.headers ? { headers: spec.headers } : {}),
    };
  }
  for (const [status, response] of Object.entries(responses))
    responses[status] = withRequestId(status, response);
  const { path, query, body, bodyRequired } = route.request;
  return {
    operationId: route.operationId,
    tags: [...route.tags],
    summary: route.summary,
    description: [route.description, policyNote(route)].filter(Boolean).join(' '),
    security: route.policy.authenticated ? [{ bearerAuth: [] }] : [],
    ...(path || query ? { requestParams: { ...(path ? { path } : {}), ...(query ? { query } : {}) } } : {}),
    ...(body
      ? { requestBody: { required: bodyRequired ?? true, content: { 'application/json': { schema: body } } } }
      : {}),
    responses,
  };
}

const WEBHOOK_SUMMARIES: Record<WebhookEventType, string> = {
  'certificate.issued': 'A certificate was issued (its PDF is stored)',
  'certificate.revoked': 'A certificate was revoked',
  'certificate.reissued': 'A certificate was superseded by a new one (reissue, renewal, better score)',
  'certificate.expired': "An issued certificate's expiry date passed (announced once)",
};

/** 5 -> "5 s", 300 -> "5 min", 7200 -> "2 h". */
function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/**
 * One POST per event type, as the delivery worker sends it to each endpoint subscribed to that
 * type: Standard Webhooks recommends "a formal specification of the structure (such as JSON
 * Schema or OpenAPI)" of each event's payload. The responses are how the worker reads the answer.
 */
function webhookOperations(): ZodOpenApiPathsObject {
  return Object.fromEntries(
    WEBHOOK_EVENT_TYPES.map((type) => [
      type,
      {
        post: {
          operationId: `${type.replace(/\.(\w)/g, (_, first: string) => first.toUpperCase())}Webhook`,
          tags: ['webhooks'],
          summary: WEBHOOK_SUMMARIES[type],
          description:
            'Sent to every enabled endpoint registered for this event type (POST /api/v1/webhooks/endpoints), ' +
            'signed per Standard Webhooks: verify `webhook-signature` over the raw body before parsing it.',
          security: [],
          requestParams: { header: webhookHeadersSchema },
          requestBody: {
            required: true,
            content: { 'application/json': { schema: webhookEventSchemas[type] } },
          },
          responses: {
            '2XX': { description: 'Received. Answer within WEBHOOK_TIMEOUT_MS (15 s by default).' },
            '410': {
              description:
                'Gone: the endpoint is disabled at once and its pending deliveries are cancelled (an admin can enable it again).',
            },
            default: {
              description:
                'Anything else (a redirect, another status, a timeout) is a failure: retried after ' +
                `${RETRY_DELAYS_SECONDS.map(duration).join(', ')} (each ±${RETRY_JITTER * 100}%), or later ` +
                `if \`Retry-After\` asks (up to ${duration(MAX_RETRY_AFTER_SECONDS)}). An endpoint whose every ` +
                'attempt fails for a whole schedule is disabled.',
            },
          },
        },
      },
    ]),
  );
}

function policyNote(route: RouteContract): string {
  return `Access: ${route.policy.description}`;
}

export function buildOpenApiDocument(routes: readonly RouteContract[]): Record<string, unknown> {
  const paths: Record<string, Record<string, ZodOpenApiOperationObject>> = {};
  for (const route of routes) {
    paths[route.path] = { ...paths[route.path], [route.method.toLowerCase()]: operation(route) };
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Course certificates API',
      version: '1.0.0',
      description:
        'Lists certificates issued for passed course tests and hands out presigned download URLs. ' +
        'Authenticate with a Keycloak access token (`Authorization: Bearer <jwt>`). A student sees ' +
        'their own certificates; teachers and certificate admins (AUTH_TEACHER_ROLES, AUTH_ADMIN_ROLES, ' +
        'from realm or client roles) see any; only the ingestion client and certificate admins post attempts. ' +
        `Lists use cursor pagination. ${GUIDE_NOTE}`,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/', description: 'This deployment' }],
    tags: [
      { name: 'certificates', description: 'Certificates of students and courses' },
      { name: 'public', description: 'No authentication' },
      { name: 'ingestion', description: 'Test attempts from the testing system' },
      { name: 'templates', description: 'Certificate templates (staff)' },
      { name: 'lifecycle', description: 'Revoke, reissue and later passing attempts (staff)' },
      {
        name: 'webhooks',
        description:
          'Standard Webhooks: endpoints admins register (paths) and the events sent to them (webhooks)',
      },
    ],
    paths,
    webhooks: webhookOperations(),
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'Keycloak access token of the realm (AUTH_ISSUER); `aud` or `azp` must be one of AUTH_AUDIENCE.',
        },
      },
    },
  }) as unknown as Record<string, unknown>;
}
