import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as createEndpointHandler } from '../../functions/http/create-webhook-endpoint.ts';
import { createHandler as disableEndpointHandler } from '../../functions/http/disable-webhook-endpoint.ts';
import { createHandler as enableEndpointHandler } from '../../functions/http/enable-webhook-endpoint.ts';
import { createHandler as getEndpointHandler } from '../../functions/http/get-webhook-endpoint.ts';
import { createHandler as listDeliveriesHandler } from '../../functions/http/list-webhook-deliveries.ts';
import { createHandler as listEndpointsHandler } from '../../functions/http/list-webhook-endpoints.ts';
import { createHandler as redeliverHandler } from '../../functions/http/redeliver-webhook.ts';
import { createHandler as rotateSecretHandler } from '../../functions/http/rotate-webhook-secret.ts';
import { createTokenVerifier } from '../../lib/auth/verifier.ts';
import { loadConfig } from '../../lib/config.ts';
import type { HttpResponse } from '../../lib/http/response.ts';
import type { LambdaHttpHandler } from '../../lib/http/route.ts';
import { errorSchema } from '../../lib/http/schemas.ts';
import type { WebhookDeps } from '../../lib/http/webhook-deps.ts';
import {
  redeliveryResultSchema,
  webhookDeliveryPageSchema,
  webhookEndpointListSchema,
  webhookEndpointSchema,
  webhookEndpointWithSecretSchema,
} from '../../lib/http/webhook-schemas.ts';
import { logger } from '../../lib/observability/logger.ts';
import { createAddressGuard } from '../../lib/webhooks/address-guard.ts';
import { apiEvent, lambdaContext } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';

/** The webhook admin routes, in-process against the real database and the Keycloak stand-in. */

let t: TestEnv;
let kc: ReturnType<typeof keycloakControl>;
let deps: WebhookDeps;
const tokens = { admin: '', teacher: '', student: '' };

const errorOf = (response: HttpResponse) => errorSchema.parse(JSON.parse(response.body)).error;

function call(
  build: (deps: WebhookDeps) => LambdaHttpHandler,
  method: string,
  path: string,
  options: {
    token: string;
    pathParameters?: Record<string, string>;
    body?: unknown;
    query?: Record<string, string>;
  },
): Promise<HttpResponse> {
  return build(deps)(
    apiEvent(method, path, {
      headers: {
        authorization: `Bearer ${options.token}`,
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(options.pathParameters ? { pathParameters: options.pathParameters } : {}),
      ...(options.query ? { query: options.query } : {}),
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    }),
    lambdaContext(),
  );
}

const ENDPOINTS = '/api/v1/webhooks/endpoints';
const create = (token: string, body: unknown) =>
  call(createEndpointHandler, 'POST', ENDPOINTS, { token, body });
const list = (token: string) => call(listEndpointsHandler, 'GET', ENDPOINTS, { token });
const getOne = (token: string, endpointId: string) =>
  call(getEndpointHandler, 'GET', `${ENDPOINTS}/{endpointId}`, { token, pathParameters: { endpointId } });

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  t = await createTestEnv();
  kc = keycloakControl(t.keycloakUrl);
  const admin = await kc.addUser({ firstName: 'Grace', realmRoles: ['certificate-admin'] });
  const teacher = await kc.addUser({ firstName: 'Tom', realmRoles: ['teacher'] });
  const student = await kc.addUser({ firstName: 'Alice' });
  tokens.admin = await kc.token(admin.id);
  tokens.teacher = await kc.token(teacher.id);
  tokens.student = await kc.token(student.id);
  deps = {
    sql: t.sql,
    verifier: createTokenVerifier(loadConfig(['auth'], t.env).auth),
    corsOrigins: [],
    guard: createAddressGuard(['127.0.0.1']),
    now: () => new Date(),
    rotationWindowSeconds: 3600,
  };
});

afterAll(async () => {
  await t?.cleanup();
});

describe('webhook admin routes', () => {
  it('an admin registers an endpoint: 201 with the secret once; GET never shows it', async () => {
    const response = await create(tokens.admin, {
      url: 'http://127.0.0.1:9/hooks',
      eventTypes: ['certificate.issued', 'certificate.revoked'],
      description: 'LMS sync',
    });
    expect(response.statusCode).toBe(201);
    const created = webhookEndpointWithSecretSchema.parse(JSON.parse(response.body));
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(created.secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(created.endpoint).toMatchObject({
      url: 'http://127.0.0.1:9/hooks',
      eventTypes: ['certificate.issued', 'certificate.revoked'],
      description: 'LMS sync',
      enabled: true,
      previousSecretExpiresAt: null,
    });

    const listed = await list(tokens.admin);
    expect(listed.statusCode).toBe(200);
    const page = webhookEndpointListSchema.parse(JSON.parse(listed.body));
    expect(page.items.map((item) => item.id)).toContain(created.endpoint.id);
    expect(listed.body).not.toContain(created.secret.slice('whsec_'.length));
    expect(listed.body).not.toMatch(/secret"/i);
    expect(listed.body).not.toContain('whsec_');

    // Location names the created endpoint, and GET there shows it as the list does, secret-free.
    expect(response.headers?.Location).toBe(`${ENDPOINTS}/${created.endpoint.id}`);
    const one = await getOne(tokens.admin, created.endpoint.id);
    expect(one.statusCode).toBe(200);
    expect(webhookEndpointSchema.parse(JSON.parse(one.body))).toEqual(
      page.items.find((item) => item.id === created.endpoint.id),
    );
    expect(one.body).not.toContain('whsec_');
    expect(one.body).not.toMatch(/secret"/i);
    const unknown = await getOne(tokens.admin, randomUUID());
    expect(unknown.statusCode).toBe(404);
    expect(errorOf(unknown).code).toBe('not_found');
    const malformed = await getOne(tokens.admin, 'not-a-uuid');
    expect(malformed.statusCode).toBe(400);
  });

  it('rotate-secret answers a new secret once and opens the rotation window', async () => {
    const created = webhookEndpointWithSecretSchema.parse(
      JSON.parse(
        (await create(tokens.admin, { url: 'http://127.0.0.1:9/a', eventTypes: ['certificate.expired'] }))
          .body,
      ),
    );
    const response = await call(rotateSecretHandler, 'POST', `${ENDPOINTS}/{endpointId}/rotate-secret`, {
      token: tokens.admin,
      pathParameters: { endpointId: created.endpoint.id },
    });
    expect(response.statusCode).toBe(200);
    const rotated = webhookEndpointWithSecretSchema.parse(JSON.parse(response.body));
    expect(rotated.secret).not.toBe(created.secret);
    const window = new Date(rotated.endpoint.previousSecretExpiresAt ?? 0).getTime() - Date.now();
    expect(window).toBeGreaterThan(3500_000);
    expect(window).toBeLessThanOrEqual(3600_000);
    const [row] = await t.sql<{ secret: string; previous_secret: string }[]>`
      SELECT secret, previous_secret FROM webhook_endpoints WHERE id = ${created.endpoint.id}`;
    expect(row).toEqual({ secret: rotated.secret, previous_secret: created.secret });
    expect((await list(tokens.admin)).body).not.toContain('whsec_');
  });

  it('teachers and students get 403 on every route, and nothing is created', async () => {
    const endpointId = randomUUID();
    for (const token of [tokens.teacher, tokens.student]) {
      const responses = await Promise.all([
        create(token, { url: 'http://127.0.0.1:9/x', eventTypes: ['certificate.issued'] }),
        list(token),
        getOne(token, endpointId),
        call(disableEndpointHandler, 'DELETE', `${ENDPOINTS}/{endpointId}`, {
          token,
          pathParameters: { endpointId },
        }),
        call(enableEndpointHandler, 'POST', `${ENDPOINTS}/{endpointId}/enable`, {
          token,
          pathParameters: { endpointId },
        }),
        call(rotateSecretHandler, 'POST', `${ENDPOINTS}/{endpointId}/rotate-secret`, {
          token,
          pathParameters: { endpointId },
        }),
        call(listDeliveriesHandler, 'GET', `${ENDPOINTS}/{endpointId}/deliveries`, {
          token,
          pathParameters: { endpointId },
        }),
        call(redeliverHandler, 'POST', '/api/v1/webhooks/deliveries/{deliveryId}/redeliver', {
          token,
          pathParameters: { deliveryId: randomUUID() },
        }),
      ]);
      for (const response of responses) {
        expect(response.statusCode).toBe(403);
        expect(errorOf(response).code).toBe('forbidden');
      }
    }
    const [count] = await t.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM webhook_endpoints WHERE url = 'http://127.0.0.1:9/x'`;
    expect(count?.n).toBe(0);
  });

  it('400 names the bad field', async () => {
    const cases: [unknown, string][] = [
      [{ eventTypes: ['certificate.issued'] }, 'url'],
      [{ url: 'http://127.0.0.1:9/x', eventTypes: [] }, 'eventTypes'],
      [{ url: 'http://127.0.0.1:9/x', eventTypes: ['certificate.printed'] }, 'eventTypes.0'],
      [
        { url: 'http://127.0.0.1:9/x', eventTypes: ['certificate.issued', 'certificate.issued'] },
        'eventTypes',
      ],
      [
        { url: 'http://127.0.0.1:9/x', eventTypes: ['certificate.issued'], description: 'x'.repeat(501) },
        'description',
      ],
      [{ url: 'http://127.0.0.1:9/x', eventTypes: ['certificate.issued'], secret: 'mine' }, 'body'],
      [{ url: 'ftp://127.0.0.1/x', eventTypes: ['certificate.issued'] }, 'url'],
      // A fragment is never sent (RFC 9110 §4.2.4): the URL stored would not be the one posted to.
      [{ url: 'http://127.0.0.1:9/x#section', eventTypes: ['certificate.issued'] }, 'url'],
      // Not allow-listed: plain http, then a private address over https.
      [{ url: 'http://hooks.example.com/x', eventTypes: ['certificate.issued'] }, 'url'],
      [{ url: 'https://10.1.2.3/x', eventTypes: ['certificate.issued'] }, 'url'],
      [{ url: 'https://169.254.169.254/latest/meta-data', eventTypes: ['certificate.issued'] }, 'url'],
      [{ url: 'https://[::1]/x', eventTypes: ['certificate.issued'] }, 'url'],
      // 522 characters as typed, over 2048 once each "é" is percent-encoded (the stored form): a
      // 400, not the column's CHECK failing as a 500.
      [{ url: `http://127.0.0.1:9/${'é'.repeat(500)}/x`, eventTypes: ['certificate.issued'] }, 'url'],
    ];
    for (const [body, parameter] of cases) {
      const response = await create(tokens.admin, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(errorOf(response).parameter ?? 'body', JSON.stringify(body)).toBe(parameter);
    }
    const badId = await call(listDeliveriesHandler, 'GET', `${ENDPOINTS}/{endpointId}/deliveries`, {
      token: tokens.admin,
      pathParameters: { endpointId: 'nope' },
    });
    expect(badId.statusCode).toBe(400);
    expect(errorOf(badId).parameter).toBe('endpointId');
    const [count] = await t.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM webhook_endpoints WHERE url LIKE '%/x'`;
    expect(count?.n).toBe(0);
  });

  it.each([
    // Payloads and signatures would travel in clear to a production receiver. A public IP literal
    // resolves without DNS, so only the https rule can refuse it (a name that does not resolve, as
    // in "400 names the bad field", is refused by the address check anyway).
    ['plain http to a host that is not allow-listed', 'http://93.184.216.34/hooks', /https/, '93.184.216.34'],
    // Stored, the password would show in every admin's endpoint listing (and the sender does not
    // send userinfo, so it would not even authenticate to the receiver).
    ['a user name and password in the URL', 'http://user:s3cret@127.0.0.1:9/hooks', /credentials/, 's3cret'],
  ])('%s is refused, and stored nowhere', async (_, url, message, trace) => {
    const response = await create(tokens.admin, { url, eventTypes: ['certificate.issued'] });
    expect(response.statusCode).toBe(400);
    expect(errorOf(response)).toMatchObject({ parameter: 'url', message: expect.stringMatching(message) });
    const [count] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM webhook_endpoints WHERE strpos(url, ${trace}) > 0`;
    expect(count?.n).toBe(0);
    expect((await list(tokens.admin)).body).not.toContain(trace);
  });

  it('DELETE disables (log kept), enable resumes (URL checked again), the delivery log pages, redelivery queues; unknown ids 404', async () => {
    const created = webhookEndpointWithSecretSchema.parse(
      JSON.parse(
        (await create(tokens.admin, { url: 'http://127.0.0.1:9/d', eventTypes: ['certificate.issued'] }))
          .body,
      ),
    );
    const endpointId = created.endpoint.id;
    // Three past deliveries, as the worker leaves them.
    for (let i = 0; i < 3; i += 1) {
      const [event] = await t.sql<{ id: string }[]>`
        INSERT INTO webhook_outbox (event_type, certificate_id, data, fanned_out_at)
        VALUES ('certificate.issued', ${randomUUID()}, '{}'::jsonb, now()) RETURNING id`;
      const [delivery] = await t.sql<{ id: string }[]>`
        INSERT INTO webhook_deliveries (endpoint_id, event_id, status, attempt_count, last_status_code)
        VALUES (${endpointId}, ${event?.id ?? ''}, 'failed', 8, 500) RETURNING id`;
      await t.sql`
        INSERT INTO webhook_delivery_attempts (delivery_id, attempt_number, attempted_at, status_code, error, duration_ms, succeeded)
        VALUES (${delivery?.id ?? ''}, 1, now(), 500, 'HTTP 500', 12, false)`;
    }
    const log = (query: Record<string, string>) =>
      call(listDeliveriesHandler, 'GET', `${ENDPOINTS}/{endpointId}/deliveries`, {
        token: tokens.admin,
        pathParameters: { endpointId },
        query,
      });
    const first = webhookDeliveryPageSchema.parse(JSON.parse((await log({ limit: '2' })).body));
    expect(first.items).toHaveLength(2);
    expect(first.items[0]?.attempts).toEqual([
      expect.objectContaining({ attemptNumber: 1, statusCode: 500, error: 'HTTP 500', succeeded: false }),
    ]);
    expect(first.nextCursor).not.toBeNull();
    const second = webhookDeliveryPageSchema.parse(
      JSON.parse((await log({ limit: '2', cursor: first.nextCursor ?? '' })).body),
    );
    expect(second.items).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    const all = [...first.items, ...second.items].map((item) => item.id);
    expect(new Set(all).size).toBe(3);

    const deliveryId = first.items[0]?.id ?? '';
    const redelivered = await call(
      redeliverHandler,
      'POST',
      '/api/v1/webhooks/deliveries/{deliveryId}/redeliver',
      {
        token: tokens.admin,
        pathParameters: { deliveryId },
      },
    );
    expect(redelivered.statusCode).toBe(202);
    expect(redeliveryResultSchema.parse(JSON.parse(redelivered.body))).toMatchObject({
      id: deliveryId,
      status: 'pending',
    });
    const again = await call(redeliverHandler, 'POST', '/api/v1/webhooks/deliveries/{deliveryId}/redeliver', {
      token: tokens.admin,
      pathParameters: { deliveryId },
    });
    expect(again.statusCode).toBe(409);
    expect(errorOf(again).code).toBe('delivery_pending');

    const disabled = await call(disableEndpointHandler, 'DELETE', `${ENDPOINTS}/{endpointId}`, {
      token: tokens.admin,
      pathParameters: { endpointId },
    });
    expect(disabled.statusCode).toBe(200);
    const endpoint = webhookEndpointSchema.parse(JSON.parse(disabled.body));
    expect(endpoint).toMatchObject({ id: endpointId, enabled: false });
    expect(endpoint.disabledReason).toContain('disabled by');
    // A second DELETE (or a 410 after it) keeps when and why it was first disabled: the log's
    // retention counts from then, and no second "disabled" is announced.
    await t.sql`UPDATE webhook_endpoints SET disabled_at = disabled_at - interval '1 hour' WHERE id = ${endpointId}`;
    const [firstDisabled] = await t.sql<{ disabled_at: Date; disabled_reason: string }[]>`
      SELECT disabled_at, disabled_reason FROM webhook_endpoints WHERE id = ${endpointId}`;
    const twice = await call(disableEndpointHandler, 'DELETE', `${ENDPOINTS}/{endpointId}`, {
      token: tokens.admin,
      pathParameters: { endpointId },
    });
    expect(twice.statusCode).toBe(200);
    expect(
      await t.sql`SELECT disabled_at, disabled_reason FROM webhook_endpoints WHERE id = ${endpointId}`,
    ).toEqual([firstDisabled]);
    // The queued redelivery was cancelled with it; the log is still there.
    const after = webhookDeliveryPageSchema.parse(JSON.parse((await log({})).body));
    expect(after.items.find((item) => item.id === deliveryId)?.status).toBe('cancelled');
    const blocked = await call(
      redeliverHandler,
      'POST',
      '/api/v1/webhooks/deliveries/{deliveryId}/redeliver',
      {
        token: tokens.admin,
        pathParameters: { deliveryId },
      },
    );
    expect(blocked.statusCode).toBe(409);
    expect(errorOf(blocked).code).toBe('endpoint_disabled');

    // Enabled again: same endpoint, no disabled reason, and its log can be redelivered.
    const enable = (guarded: WebhookDeps) =>
      enableEndpointHandler(guarded)(
        apiEvent('POST', `${ENDPOINTS}/{endpointId}/enable`, {
          headers: { authorization: `Bearer ${tokens.admin}` },
          pathParameters: { endpointId },
        }),
        lambdaContext(),
      );
    // Its URL is checked again: with 127.0.0.1 no longer allow-listed it stays disabled.
    const refused = await enable({ ...deps, guard: createAddressGuard([]) });
    expect(refused.statusCode).toBe(400);
    expect(errorOf(refused).parameter).toBe('url');
    const enabled = await enable(deps);
    expect(enabled.statusCode).toBe(200);
    expect(webhookEndpointSchema.parse(JSON.parse(enabled.body))).toMatchObject({
      id: endpointId,
      enabled: true,
      disabledAt: null,
      disabledReason: null,
    });
    const enabledTwice = await enable(deps);
    expect(enabledTwice.statusCode).toBe(200);
    expect(JSON.parse(enabledTwice.body)).toEqual(JSON.parse(enabled.body));
    const resumed = await call(
      redeliverHandler,
      'POST',
      '/api/v1/webhooks/deliveries/{deliveryId}/redeliver',
      {
        token: tokens.admin,
        pathParameters: { deliveryId },
      },
    );
    expect(resumed.statusCode).toBe(202);

    for (const response of [
      await call(disableEndpointHandler, 'DELETE', `${ENDPOINTS}/{endpointId}`, {
        token: tokens.admin,
        pathParameters: { endpointId: randomUUID() },
      }),
      await call(rotateSecretHandler, 'POST', `${ENDPOINTS}/{endpointId}/rotate-secret`, {
        token: tokens.admin,
        pathParameters: { endpointId: randomUUID() },
      }),
      await call(enableEndpointHandler, 'POST', `${ENDPOINTS}/{endpointId}/enable`, {
        token: tokens.admin,
        pathParameters: { endpointId: randomUUID() },
      }),
      await call(listDeliveriesHandler, 'GET', `${ENDPOINTS}/{endpointId}/deliveries`, {
        token: tokens.admin,
        pathParameters: { endpointId: randomUUID() },
      }),
      await call(redeliverHandler, 'POST', '/api/v1/webhooks/deliveries/{deliveryId}/redeliver', {
        token: tokens.admin,
        pathParameters: { deliveryId: randomUUID() },
      }),
    ]) {
      expect(response.statusCode).toBe(404);
    }
  });
});
