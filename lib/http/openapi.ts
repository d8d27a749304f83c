import { z } from 'zod';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './pagination.ts';
import {
  attemptInputSchema,
  attemptResultSchema,
  certificatePageSchema,
  certificateSchema,
  downloadLinkSchema,
  errorSchema,
  healthSchema,
  publicVerificationSchema,
  requeueRequestSchema,
  requeueResultSchema,
} from './schemas.ts';

/**
 * The OpenAPI 3.1 document of the HTTP API, served at /api/v1/openapi.json. Component
 * schemas are generated from lib/http/schemas.ts; a test keeps paths and methods equal to the
 * httpApi events of serverless.yml and validates the document.
 */

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const responseRef = (name: string) => ({ $ref: `#/components/responses/${name}` });
const jsonContent = (schema: Json) => ({ 'application/json': { schema } });

const GUIDE_NOTE =
  'The integration guide used `/api/v1/certificates/{student_id}` and `/api/v1/certificates/{certificate_id}`, ' +
  'which API Gateway cannot tell apart; this API keeps their meaning under unambiguous paths.';

function componentSchemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  const schemas = {
    Certificate: certificateSchema,
    CertificatePage: certificatePageSchema,
    DownloadLink: downloadLinkSchema,
    PublicVerification: publicVerificationSchema,
    Health: healthSchema,
    Error: errorSchema,
    AttemptInput: attemptInputSchema,
    AttemptResult: attemptResultSchema,
    RequeueInput: requeueRequestSchema,
    RequeueResult: requeueResultSchema,
  };
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const generated = z.toJSONSchema(registry, {
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
    io: 'input',
  }).schemas as Record<string, Json>;
  return Object.fromEntries(Object.entries(generated).map(([id, schema]) => [id, tidy(schema) as Json]));
}

/** Drops per-schema `$schema`/`$id` and the long regexes zod emits next to a `format`. */
function tidy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(tidy);
  if (value && typeof value === 'object') {
    const out: Json = {};
    const input = value as Json;
    for (const [key, child] of Object.entries(input)) {
      if (key === '$schema' || key === '$id') continue;
      if (key === 'pattern' && typeof input.format === 'string') continue;
      out[key] = tidy(child);
    }
    return out;
  }
  return value;
}

const uuidParam = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  description: `${description} (UUID; anything else answers 400 naming \`${name}\`)`,
  schema: { type: 'string', format: 'uuid' },
});

const pageParams = [
  {
    name: 'limit',
    in: 'query',
    required: false,
    description: `Page size, 1-${MAX_PAGE_SIZE} (default ${DEFAULT_PAGE_SIZE})`,
    schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
  },
  {
    name: 'cursor',
    in: 'query',
    required: false,
    description: '`nextCursor` of the previous page (opaque)',
    schema: { type: 'string' },
  },
];

const secured = [{ bearerAuth: [] }];
const authErrors = { '401': responseRef('Unauthorized'), '503': responseRef('ServiceUnavailable') };

export function buildOpenApiDocument(): Json {
  const listResponse = {
    description: 'One page, newest first',
    content: jsonContent(ref('CertificatePage')),
  };
  const certificateResponse = { description: 'The certificate', content: jsonContent(ref('Certificate')) };

  return {
    openapi: '3.1.0',
    info: {
      title: 'Course certificates API',
      version: '1.0.0',
      description:
        'Lists certificates issued for passed course tests and hands out presigned download URLs. ' +
        'Authenticate with a Keycloak access token (`Authorization: Bearer <jwt>`). A student sees ' +
        'their own certificates; staff roles (AUTH_STAFF_ROLES, from realm or client roles) see any. ' +
        `Lists use cursor pagination. ${GUIDE_NOTE}`,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/', description: 'This deployment' }],
    tags: [
      { name: 'certificates', description: 'Certificates of students and courses' },
      { name: 'public', description: 'No authentication' },
      { name: 'ingestion', description: 'Test attempts from the testing system' },
      { name: 'templates', description: 'Certificate templates (staff)' },
    ],
    paths: {
      '/api/v1/health': {
        get: {
          operationId: 'getHealth',
          tags: ['public'],
          summary: 'Liveness and database check',
          security: [],
          responses: {
            '200': { description: 'Healthy', content: jsonContent(ref('Health')) },
            '503': { description: 'The database does not answer', content: jsonContent(ref('Health')) },
          },
        },
      },
      '/api/v1/me/certificates': {
        get: {
          operationId: 'listMyCertificates',
          tags: ['certificates'],
          summary: "The signed-in student's certificates",
          description:
            'Certificates of the token subject (`sub`, the Keycloak user id). Pending ones are included ' +
            '(status pending/rendering/failed) so a frontend can show them as "being generated".',
          security: secured,
          parameters: pageParams,
          responses: { '200': listResponse, '400': responseRef('BadRequest'), ...authErrors },
        },
      },
      '/api/v1/students/{studentId}/certificates': {
        get: {
          operationId: 'listStudentCertificates',
          tags: ['certificates'],
          summary: "A student's certificates",
          description:
            'Guide: `GET /api/v1/certificates/{student_id}`. The student themself or staff; ' +
            "another student's list answers 403.",
          security: secured,
          parameters: [uuidParam('studentId', 'Keycloak user id of the student'), ...pageParams],
          responses: {
            '200': listResponse,
            '400': responseRef('BadRequest'),
            '403': responseRef('Forbidden'),
            ...authErrors,
          },
        },
      },
      '/api/v1/students/{studentId}/certificates/latest': {
        get: {
          operationId: 'getLatestStudentCertificate',
          tags: ['certificates'],
          summary: "A student's most recent certificate",
          description:
            'Guide: `GET /api/v1/certificates/{student_id}/latest`. The student themself or staff.',
          security: secured,
          parameters: [uuidParam('studentId', 'Keycloak user id of the student')],
          responses: {
            '200': certificateResponse,
            '400': responseRef('BadRequest'),
            '403': responseRef('Forbidden'),
            '404': responseRef('NotFound'),
            ...authErrors,
          },
        },
      },
      '/api/v1/certificates/{certificateId}': {
        get: {
          operationId: 'getCertificate',
          tags: ['certificates'],
          summary: "One certificate's details",
          description:
            "Guide: `GET /api/v1/certificates/{certificate_id}`. Another student's certificate answers " +
            '404, like an unknown id, so ids cannot be probed.',
          security: secured,
          parameters: [uuidParam('certificateId', 'Certificate id')],
          responses: {
            '200': certificateResponse,
            '400': responseRef('BadRequest'),
            '404': responseRef('NotFound'),
            ...authErrors,
          },
        },
      },
      '/api/v1/certificates/{certificateId}/download': {
        get: {
          operationId: 'getCertificateDownload',
          tags: ['certificates'],
          summary: 'A presigned download URL for the PDF',
          description:
            'Guide: `GET /api/v1/certificates/{certificate_id}/download`. Returns a presigned S3 GET URL ' +
            '(`Content-Disposition: attachment` with a readable file name) and when it expires. ' +
            'Default lifetime DOWNLOAD_URL_TTL_SECONDS (3600); `expiresIn` above DOWNLOAD_URL_MAX_TTL_SECONDS is capped.',
          security: secured,
          parameters: [
            uuidParam('certificateId', 'Certificate id'),
            {
              name: 'expiresIn',
              in: 'query',
              required: false,
              description: 'Requested URL lifetime in seconds (capped at the configured maximum)',
              schema: { type: 'integer', minimum: 1 },
            },
          ],
          responses: {
            '200': { description: 'The URL', content: jsonContent(ref('DownloadLink')) },
            '400': responseRef('BadRequest'),
            '404': responseRef('NotFound'),
            '409': {
              description:
                'Not issued: `certificate_not_ready` (pending/rendering/failed, with Retry-After; poll again) ' +
                'or `certificate_generation_failed` (dead). `certificateStatus` carries the status.',
              headers: { 'Retry-After': { schema: { type: 'integer' } } },
              content: jsonContent(ref('Error')),
            },
            '410': {
              description: 'Revoked, superseded or expired (`certificateStatus`)',
              content: jsonContent(ref('Error')),
            },
            ...authErrors,
          },
        },
      },
      '/api/v1/certificates/{certificateId}/requeue': {
        post: {
          operationId: 'requeueCertificate',
          tags: ['certificates'],
          summary: 'Retry a dead or failed certificate now (staff)',
          description:
            'Operator action once the cause of a failed generation is fixed (student restored in Keycloak, ' +
            'template repaired...): the certificate goes back to `pending` with a fresh set of attempts, a ' +
            '`requeued` audit row records who and why, and generation is invoked at once (if that invoke ' +
            'fails, the scheduled scan picks it up). Staff roles only.',
          security: secured,
          parameters: [uuidParam('certificateId', 'Certificate id')],
          requestBody: { required: false, content: jsonContent(ref('RequeueInput')) },
          responses: {
            '200': { description: 'Requeued', content: jsonContent(ref('RequeueResult')) },
            '400': responseRef('BadRequest'),
            '403': responseRef('Forbidden'),
            '404': responseRef('NotFound'),
            '409': {
              description: 'Not dead or failed; `status` carries the current status',
              content: jsonContent(ref('Error')),
            },
            ...authErrors,
          },
        },
      },
      '/api/v1/courses/{courseId}/certificates': {
        get: {
          operationId: 'listCourseCertificates',
          tags: ['certificates'],
          summary: "A course's certificates (staff)",
          description:
            'Guide: `GET /api/v1/certificates/course/{course_id}`. Staff roles only; others get 403.',
          security: secured,
          parameters: [uuidParam('courseId', 'Course id'), ...pageParams],
          responses: {
            '200': listResponse,
            '400': responseRef('BadRequest'),
            '403': responseRef('Forbidden'),
            '404': responseRef('NotFound'),
            ...authErrors,
          },
        },
      },
      '/api/v1/attempts': {
        post: {
          operationId: 'createAttempt',
          tags: ['ingestion'],
          summary: 'Record a test attempt (staff or service account)',
          description:
            "Guide: the stats worker's `process_raws`. Pass/fail is decided against the course's pass mark; " +
            'a passing attempt gets a pending certificate and generation starts at once. Idempotent per `externalRef`.',
          security: secured,
          requestBody: { required: true, content: jsonContent(ref('AttemptInput')) },
          responses: {
            '201': { description: 'Recorded', content: jsonContent(ref('AttemptResult')) },
            '200': {
              description: 'This externalRef was recorded before; the earlier result',
              content: jsonContent(ref('AttemptResult')),
            },
            '400': responseRef('BadRequest'),
            '403': responseRef('Forbidden'),
            '409': {
              description: 'externalRef was recorded with different values',
              content: jsonContent(ref('Error')),
            },
            ...authErrors,
          },
        },
      },
      '/api/v1/templates/preview': {
        post: {
          operationId: 'previewTemplate',
          tags: ['templates'],
          summary: 'Render a certificate template with sample data (staff)',
          description:
            'Renders a stored template (`templateId`), a draft (`template`, validated like a save: an unknown ' +
            'field answers 400) or the built-in default, with sample values. Nothing is stored.',
          security: secured,
          requestBody: {
            required: true,
            content: jsonContent({
              type: 'object',
              additionalProperties: false,
              properties: {
                templateId: { type: 'string', format: 'uuid' },
                template: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['html'],
                  properties: {
                    html: { type: 'string', description: 'Liquid HTML (escaped output, known fields only)' },
                    css: { type: 'string' },
                    locale: { type: 'string' },
                    assets: { type: 'object', additionalProperties: { type: 'string' } },
                  },
                },
                locale: { type: 'string', examples: ['de', 'ar', 'zh'] },
                studentName: { type: 'string', maxLength: 200 },
                courseName: { type: 'string', maxLength: 300 },
                issuerName: { type: 'string', maxLength: 200 },
                score: { type: 'number', minimum: 0 },
                maxScore: { type: 'number', exclusiveMinimum: 0 },
              },
            }),
          },
          responses: {
            '200': {
              description: 'The rendered PDF as a data URL',
              content: jsonContent({
                type: 'object',
                required: ['pdf', 'bytes', 'template'],
                properties: {
                  pdf: { type: 'string', description: 'data:application/pdf;base64,...' },
                  bytes: { type: 'integer' },
                  template: {
                    type: 'object',
                    properties: { id: { type: ['string', 'null'] }, version: { type: 'string' } },
                  },
                },
              }),
            },
            '400': responseRef('BadRequest'),
            '403': responseRef('Forbidden'),
            '404': responseRef('NotFound'),
            ...authErrors,
          },
        },
      },
      '/api/v1/verify/{verificationCode}': {
        get: {
          operationId: 'verifyCertificate',
          tags: ['public'],
          summary: 'Public verification (QR code target)',
          description:
            'The public verification page (HTML, the default: facts, issuer, verdict, and an in-browser check of the ' +
            'signed credential in the URL fragment) or, for `Accept: application/json`, minimal public data of an ' +
            'issued certificate: name, course, issue date and whether it is still valid. An unknown code is a 404 ' +
            '(an HTML page with `data-status="not-found"` unless JSON was asked for).',
          security: [],
          parameters: [
            {
              name: 'verificationCode',
              in: 'path',
              required: true,
              schema: { type: 'string', pattern: '^[A-Za-z0-9-]{6,64}$' },
            },
          ],
          responses: {
            '200': {
              description: 'The certificate exists',
              content: {
                ...jsonContent(ref('PublicVerification')),
                'text/html': { schema: { type: 'string' } },
              },
            },
            '400': responseRef('BadRequest'),
            '404': responseRef('NotFound'),
            '503': responseRef('ServiceUnavailable'),
          },
        },
      },
      '/.well-known/jwks.json': {
        get: {
          operationId: 'getIssuerJwks',
          tags: ['public'],
          summary: "The issuer's certificate-signing keys",
          description:
            'JWK Set (RFC 7517) of every published ES256 key; `kid` is the RFC 7638 thumbprint. Keys marked ' +
            'compromised are listed under `revoked_keys` (with `revoked_at`), not under `keys`. Any origin may fetch it.',
          security: [],
          responses: {
            '200': {
              description: 'JWK Set',
              content: { 'application/jwk-set+json': { schema: { type: 'object' } } },
            },
            '503': responseRef('ServiceUnavailable'),
          },
        },
      },
      '/api/v1/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          tags: ['public'],
          summary: 'This document',
          security: [],
          responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': {} } } },
        },
      },
    },
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
      schemas: componentSchemas(),
      responses: {
        BadRequest: {
          description: 'Malformed parameter (`error.parameter` names it) or body',
          content: jsonContent(ref('Error')),
        },
        Unauthorized: {
          description: 'Missing, expired or invalid token',
          headers: {
            'WWW-Authenticate': {
              description:
                'Bearer challenge, e.g. `Bearer realm="course-certificates", error="invalid_token"`',
              schema: { type: 'string' },
            },
          },
          content: jsonContent(ref('Error')),
        },
        Forbidden: { description: 'Authenticated but not allowed', content: jsonContent(ref('Error')) },
        NotFound: { description: 'Unknown (or not yours)', content: jsonContent(ref('Error')) },
        ServiceUnavailable: {
          description: 'A dependency (database, identity provider) is unavailable; retry',
          headers: { 'Retry-After': { schema: { type: 'integer' } } },
          content: jsonContent(ref('Error')),
        },
      },
    },
  };
}
