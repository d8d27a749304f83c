import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { issuerKeyUrl } from '../../lib/credentials/jwks.ts';
import { buildOpenApiDocument } from '../../lib/http/openapi.ts';
import { API_ROUTES } from '../../lib/http/routes/openapi.ts';
import { WEBHOOK_EVENT_TYPES } from '../../lib/webhooks/events.ts';

/** Keeps the route declarations, the OpenAPI document and serverless.yml in step, and the document valid. */

const ROOT = new URL('../../', import.meta.url).pathname;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

interface Operation {
  operationId?: string;
  description?: string;
  parameters?: { name: string; in: string; required?: boolean; schema?: Record<string, unknown> }[];
  security?: unknown[];
  requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
  responses: Record<
    string,
    {
      content?: Record<string, { schema?: { $ref?: string } }>;
      headers?: Record<string, { required?: boolean }>;
    }
  >;
}

/** The route keys API Gateway throttles (serverless/deployment.cjs): the public routes. */
const { PUBLIC_GET_ROUTE_KEYS, PUBLIC_ROUTE_KEYS } = createRequire(import.meta.url)(
  '../../serverless/deployment.cjs',
) as {
  PUBLIC_GET_ROUTE_KEYS: readonly string[];
  PUBLIC_ROUTE_KEYS: readonly string[];
};

interface JsonSchema {
  properties?: Record<string, { const?: unknown; $ref?: string }>;
  required?: string[];
}

interface ServerlessFile {
  functions: Record<string, { handler: string; events?: { httpApi?: { method: string; path: string } }[] }>;
}

/** The CORS preflight of every route (functions/http/preflight.ts): not an operation of the API. */
const PREFLIGHT = 'OPTIONS /{proxy+}';

function allServerlessRoutes(): { route: string; handler: string }[] {
  const file = load(readFileSync(`${ROOT}serverless.yml`, 'utf8')) as ServerlessFile;
  return Object.values(file.functions).flatMap((fn) =>
    (fn.events ?? [])
      .filter((event) => event.httpApi)
      .map((event) => ({
        route: `${event.httpApi?.method.toUpperCase()} ${event.httpApi?.path}`,
        handler: fn.handler,
      })),
  );
}

/** The operations: not the preflight, nor the HEAD twins of the public GETs (checked apart). */
function serverlessRoutes(): { route: string; handler: string }[] {
  return allServerlessRoutes().filter(
    (entry) => entry.route !== PREFLIGHT && !entry.route.startsWith('HEAD '),
  );
}

function documentOperations(document: Record<string, unknown>): Map<string, Operation> {
  const operations = new Map<string, Operation>();
  for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, Operation>>)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation) operations.set(`${method.toUpperCase()} ${path}`, operation);
    }
  }
  return operations;
}

function refs(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) refs(item, found);
  else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string') found.push(child);
      else refs(child, found);
    }
  }
  return found;
}

describe('OpenAPI document', () => {
  const document = buildOpenApiDocument(API_ROUTES);
  const operations = documentOperations(document);

  it("states the rules the handlers check beyond the schema's types: a body the document allows, the handler accepts", () => {
    // The published schemas, compiled as a client generated from the document would check them.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(document, 'openapi');
    const bodyOf = (operationId: string) => {
      const route = API_ROUTES.find((candidate) => candidate.operationId === operationId);
      if (!route?.request.body) throw new Error(`${operationId} has no body`);
      return route.request.body;
    };
    const cases: Array<[operationId: string, component: string, bodies: unknown[]]> = [
      [
        'updateCourseLifecycle',
        'CourseLifecycleUpdate',
        [
          {},
          { reason: 'nothing set' },
          { validityMonths: 12 },
          { validityMonths: null },
          { reissueOnBetterScore: true, reason: 'policy' },
          { validityMonths: 3, reason: '   ' },
        ],
      ],
      [
        'reissueCertificate',
        'ReissueInput',
        [{ reason: 'name corrected' }, { reason: '   ' }, { reason: '' }, {}],
      ],
    ];
    for (const [operationId, component, bodies] of cases) {
      const published = ajv.compile({ $ref: `openapi#/components/schemas/${component}` });
      for (const body of bodies)
        expect(published(body), `${component} ${JSON.stringify(body)}`).toBe(
          bodyOf(operationId).safeParse(body).success,
        );
    }
    // What JSON Schema cannot say (decimals, one field against another, "not in the future") is
    // said in words.
    const attempt = (
      document as {
        components: { schemas: Record<string, { properties: Record<string, { description?: string }> }> };
      }
    ).components.schemas.AttemptInput?.properties;
    expect(attempt?.score?.description).toMatch(/two decimals.*maxScore/);
    expect(attempt?.maxScore?.description).toMatch(/two decimals/);
    expect(attempt?.completedAt?.description).toMatch(/not in the future/);
  });

  it('leaves out only the CORS preflight, which answers OPTIONS for every path', () => {
    expect(allServerlessRoutes().filter((entry) => entry.route === PREFLIGHT)).toEqual([
      { route: PREFLIGHT, handler: 'functions/http/preflight.handler' },
    ]);
    expect(allServerlessRoutes().filter((entry) => entry.route.startsWith('OPTIONS '))).toHaveLength(1);
    expect([...operations.keys()].filter((route) => route.startsWith('OPTIONS '))).toEqual([]);
  });

  it('has exactly the routes of serverless.yml (paths and methods)', () => {
    const routes = serverlessRoutes().map((entry) => entry.route);
    expect(routes.length).toBeGreaterThan(5);
    expect([...operations.keys()].sort()).toEqual([...routes].sort());
  });

  it('routes each httpApi event to the handler that binds that route declaration', async () => {
    for (const { route, handler } of serverlessRoutes()) {
      const file = `${ROOT}${handler.replace(/\.handler$/, '')}.ts`;
      expect(existsSync(file), file).toBe(true);
      const module = (await import(file)) as Record<string, unknown>;
      expect(typeof module.handler, file).toBe('function');
      expect(typeof module.createHandler, file).toBe('function');
      const declared = module.route as { method: string; path: string } | undefined;
      expect(`${declared?.method} ${declared?.path}`, file).toBe(route);
    }
    expect(API_ROUTES.map((route) => `${route.method} ${route.path}`).sort()).toEqual(
      serverlessRoutes()
        .map((entry) => entry.route)
        .sort(),
    );
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(document);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // The validator does reject a broken document (a response without its description).
    const broken = structuredClone(document) as { paths: Record<string, Record<string, Operation>> };
    const health = broken.paths['/api/v1/health']?.get;
    if (health) health.responses['200'] = { content: {} };
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it("declares the headers a client reads: X-Request-Id on every answer of the service, a credential download's file name", () => {
    let checked = 0;
    for (const [key, operation] of operations)
      for (const [status, response] of Object.entries(operation.responses)) {
        if (status === '429') continue; // API Gateway's own answer
        expect(response.headers?.['X-Request-Id'], `${key} ${status}`).toBeDefined();
        checked += 1;
      }
    expect(checked).toBeGreaterThan(100);
    for (const key of [
      'GET /api/v1/certificates/{certificateId}/credential',
      'GET /api/v1/verify/{verificationCode}/credential',
    ])
      expect(operations.get(key)?.responses['200']?.headers?.['Content-Disposition'], key).toBeDefined();
  });

  it('resolves every $ref', () => {
    const components = document.components as Record<string, Record<string, unknown>>;
    const all = refs(document);
    // The shared schemas are referenced, not inlined: there is something to resolve.
    expect(all.length).toBeGreaterThan(0);
    for (const ref of all) {
      const match = /^#\/components\/(\w+)\/(\w+)$/.exec(ref);
      expect(match, ref).not.toBeNull();
      expect(components[match?.[1] ?? '']?.[match?.[2] ?? ''], ref).toBeDefined();
    }
  });

  it('declares every path parameter, unique operation ids, and 401 on every secured operation', () => {
    const ids = new Set<string>();
    for (const [key, operation] of operations) {
      const path = key.split(' ')[1] ?? '';
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
      const declared = (operation.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      expect(declared.sort(), key).toEqual(templated.sort());
      expect(operation.operationId, key).toBeTruthy();
      expect(ids.has(operation.operationId ?? ''), key).toBe(false);
      ids.add(operation.operationId ?? '');
      const secured = operation.security === undefined || operation.security.length > 0;
      if (secured) expect(operation.responses['401'], key).toBeDefined();
    }
  });

  it('shows the lifecycle of a certificate: effective status, revocation, expiry, successor', () => {
    const schemas = (document.components as { schemas: Record<string, { properties?: object }> }).schemas;
    expect(Object.keys(schemas.Certificate?.properties ?? {})).toEqual(
      expect.arrayContaining([
        'effectiveStatus',
        'revokedAt',
        'revocationReason',
        'revocationText',
        'expiresAt',
        'supersededBy',
        'supersededAt',
      ]),
    );
    expect(JSON.stringify(schemas.RevocationReason)).toContain('academic-misconduct');
    for (const route of [
      'POST /api/v1/certificates/{certificateId}/revoke',
      'POST /api/v1/certificates/{certificateId}/reissue',
      'GET /api/v1/courses/{courseId}/later-passes',
    ]) {
      expect(operations.get(route)?.responses['403'], route).toBeDefined();
    }
  });

  it('says what the API accepts and sends: ids in either case, Retry-After only on some 409s', () => {
    const text = JSON.stringify(document);
    const patterns = [...text.matchAll(/"pattern":"(\^\[0-9a-f[^"]*\{8\}-[^"]*)"/g)].map(
      (match) => match[1] ?? '',
    );
    expect(patterns.length).toBeGreaterThan(0);
    for (const pattern of patterns)
      expect(
        new RegExp(JSON.parse(`"${pattern}"`)).test('3F2504E0-4F89-41D3-9A0C-0305E82C3301'),
        pattern,
      ).toBe(true);
    // A dead certificate's 409 has no Retry-After: the header must not be required.
    const conflict = operations.get('GET /api/v1/certificates/{certificateId}/download')?.responses['409'] as
      | { headers?: Record<string, { required?: boolean }> }
      | undefined;
    expect(conflict?.headers?.['Retry-After']).toBeDefined();
    expect(conflict?.headers?.['Retry-After']?.required ?? false).toBe(false);
  });

  it('documents the 500 every operation can answer, and the Bearer challenge on 403 as on 401', () => {
    for (const [route, operation] of operations) {
      expect(operation.responses['500'], route).toBeDefined();
      const forbidden = operation.responses['403'] as { headers?: Record<string, unknown> } | undefined;
      if (forbidden) expect(forbidden.headers?.['WWW-Authenticate'], route).toBeDefined();
    }
  });

  it("says a webhook endpoint's event types are each named once, as the route refuses a repeat", () => {
    const schemas = (document as { components?: { schemas?: Record<string, unknown> } }).components?.schemas;
    const input = schemas?.WebhookEndpointInput as { properties?: Record<string, Record<string, unknown>> };
    expect(input?.properties?.eventTypes).toMatchObject({ type: 'array', minItems: 1, uniqueItems: true });
  });

  it('gives a numeric schema no string keywords: an integer parameter is documented as the integer a client sends', () => {
    const misplaced: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) {
        for (const [index, item] of node.entries()) walk(item, `${path}/${index}`);
        return;
      }
      if (typeof node !== 'object' || node === null) return;
      const record = node as Record<string, unknown>;
      if (record.type === 'integer' || record.type === 'number') {
        for (const keyword of ['pattern', 'minLength', 'maxLength'])
          if (keyword in record) misplaced.push(`${path}: ${keyword}`);
      }
      for (const [key, value] of Object.entries(record)) walk(value, `${path}/${key}`);
    };
    walk(document, '');
    expect(misplaced).toEqual([]);
    const limit = operations
      .get('GET /api/v1/me/certificates')
      ?.parameters?.find((parameter) => parameter.name === 'limit');
    expect(limit?.schema).toEqual({ type: 'integer', minimum: 1, maximum: 100, default: 20 });
  });

  it('lists the media types GET /api/v1/verify/{code} serves: the HTML page as well as JSON, for 200 and 404', () => {
    const verify = operations.get('GET /api/v1/verify/{verificationCode}');
    for (const status of ['200', '404']) {
      expect(Object.keys(verify?.responses[status]?.content ?? {}).sort(), status).toEqual([
        'application/json',
        'text/html',
      ]);
    }
  });

  it('GET /api/v1/verify/{code} takes any code up to 128 characters: a malformed one is still a documented 400 (JSON) or the 404 page', () => {
    const verify = operations.get('GET /api/v1/verify/{verificationCode}');
    const code = verify?.parameters?.find((parameter) => parameter.name === 'verificationCode');
    expect(code?.schema).toMatchObject({ type: 'string', maxLength: 128 });
    expect(code?.schema?.pattern).toBeUndefined();
    // JSON for a JSON client; a browser gets the unknown-code page with the 400 (past 128 characters).
    expect(Object.keys(verify?.responses['400']?.content ?? {})).toEqual(['application/json', 'text/html']);
    for (const status of ['500', '503'])
      expect(Object.keys(verify?.responses[status]?.content ?? {}), status).toEqual([
        'application/json',
        'text/html',
      ]);
    expect(verify?.responses['503']?.headers?.['Retry-After']).toBeDefined();
    // The credential route keeps the code's form in its contract.
    const credential = operations.get('GET /api/v1/verify/{verificationCode}/credential');
    const strict = credential?.parameters?.find((parameter) => parameter.name === 'verificationCode');
    expect(strict?.schema?.pattern).toBe('^[A-Za-z0-9-]{6,64}$');
  });

  it("documents API Gateway's 429 on every throttled (public) operation, and only there: {message}, Retry-After optional", () => {
    const schemas = (document.components as { schemas: Record<string, JsonSchema & { type?: string }> })
      .schemas;
    expect(PUBLIC_GET_ROUTE_KEYS.length).toBeGreaterThan(5);
    for (const key of PUBLIC_GET_ROUTE_KEYS) {
      const throttled = operations.get(key)?.responses['429'];
      expect(throttled, key).toBeDefined();
      expect(throttled?.headers?.['Retry-After'], key).toBeDefined();
      expect(throttled?.headers?.['Retry-After']?.required ?? false, key).toBe(false);
      const ref = throttled?.content?.['application/json']?.schema?.$ref ?? '';
      const body = schemas[ref.replace('#/components/schemas/', '')];
      expect(body, key).toMatchObject({
        type: 'object',
        required: ['message'],
        properties: { message: { type: 'string' } },
      });
    }
    // The authenticated routes have no throttle of their own: no 429 is claimed for them.
    const with429 = [...operations].filter(([, operation]) => operation.responses['429']).map(([key]) => key);
    expect(with429.sort()).toEqual([...PUBLIC_GET_ROUTE_KEYS].sort());
  });

  it('declares a HEAD route for each public GET, on the same function, and for nothing else (an HTTP API answers an undeclared method 404)', () => {
    const routes = allServerlessRoutes();
    const heads = routes.filter((entry) => entry.route.startsWith('HEAD '));
    expect(heads.map((entry) => entry.route).sort()).toEqual(
      PUBLIC_GET_ROUTE_KEYS.map((key) => key.replace(/^GET /, 'HEAD ')).sort(),
    );
    for (const head of heads) {
      const get = routes.find((entry) => entry.route === head.route.replace(/^HEAD /, 'GET '));
      expect(get?.handler, head.route).toBe(head.handler);
    }
    expect([...PUBLIC_ROUTE_KEYS].sort()).toEqual(
      [...PUBLIC_GET_ROUTE_KEYS, ...heads.map((entry) => entry.route)].sort(),
    );
  });

  it('describes each webhook the service sends: payload {type, timestamp, data} and the signature headers', () => {
    const webhooks = document.webhooks as Record<string, Record<string, Operation>> | undefined;
    expect(Object.keys(webhooks ?? {}).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    const schemas = (document.components as { schemas: Record<string, JsonSchema> }).schemas;
    for (const type of WEBHOOK_EVENT_TYPES) {
      const item = webhooks?.[type] ?? {};
      expect(Object.keys(item), type).toEqual(['post']);
      const post = item.post;
      const headers = (post?.parameters ?? []).filter((parameter) => parameter.in === 'header');
      expect(
        headers.map((header) => [header.name, header.required]),
        type,
      ).toEqual([
        ['webhook-id', true],
        ['webhook-timestamp', true],
        ['webhook-signature', true],
      ]);
      const ref = post?.requestBody?.content['application/json']?.schema.$ref ?? '';
      const body = schemas[ref.replace('#/components/schemas/', '')];
      expect(body?.required, type).toEqual(['type', 'timestamp', 'data']);
      expect(body?.properties?.type?.const, type).toBe(type);
      expect(Object.keys(post?.responses ?? {}).sort(), type).toEqual(['2XX', '410', 'default']);
    }
  });

  it('names the key of each VC-JWT by its URL, as the signer sets `kid`, not as a kid of the JWK Set', () => {
    // What signOpenBadgeCredential and signedStatusList put in `kid`, with placeholders.
    const keyUrl = issuerKeyUrl('{PUBLIC_API_BASE_URL}', '{thumbprint}');
    expect(keyUrl).toBe('{PUBLIC_API_BASE_URL}/keys/{thumbprint}');
    // The status list is a VC-JOSE-COSE credential; an Open Badge is served as Open Badges 3.0's
    // Web Resource says (text/plain).
    for (const [route, mediaType] of [
      ['GET /api/v1/status/{listId}', 'application/vc+jwt'],
      ['GET /api/v1/certificates/{certificateId}/credential', 'text/plain'],
      ['GET /api/v1/verify/{verificationCode}/credential', 'text/plain'],
    ] as const) {
      const operation = operations.get(route);
      expect(Object.keys(operation?.responses['200']?.content ?? {}), route).toEqual([mediaType]);
      const schema = operation?.responses['200']?.content?.[mediaType]?.schema as
        | { description?: string }
        | undefined;
      expect(schema?.description, route).toContain(`\`kid\` is the key's URL \`${keyUrl}\``);
      // A client would look the URL up among the JWK Set's kids and find nothing.
      expect(JSON.stringify(operation), route).not.toMatch(/`kid` in \/\.well-known\/jwks\.json/);
    }
    expect(operations.get('GET /api/v1/certificates/{certificateId}/credential')?.description).toContain(
      `\`kid\` the key URL \`${keyUrl}\``,
    );
  });

  it('documents where each of the guide’s endpoints went', () => {
    const text = JSON.stringify(document);
    for (const guidePath of [
      '/api/v1/certificates/{student_id}',
      '/api/v1/certificates/{certificate_id}',
      '/api/v1/certificates/{certificate_id}/download',
      '/api/v1/certificates/course/{course_id}',
      '/api/v1/certificates/{student_id}/latest',
    ]) {
      expect(text).toContain(`Guide: \`GET ${guidePath}\``);
    }
  });
});
