import { beforeAll, describe, expect, it } from 'vitest';
import { createHandler as createOpenApiHandler } from '../../functions/http/openapi.ts';
import { ANY_ORIGIN_PATHS, createHandler as createPreflightHandler } from '../../functions/http/preflight.ts';
import { NotFoundError, TransientError } from '../../lib/errors.ts';
import type { HttpResponse } from '../../lib/http/response.ts';
import { publicRoute } from '../../lib/http/route.ts';
import { API_ROUTES } from '../../lib/http/routes/openapi.ts';
import { logger } from '../../lib/observability/logger.ts';
import { apiEvent, lambdaContext } from '../e2e/http-fixtures.ts';

/** CORS as the functions answer it (API Gateway has no CORS setting): the preflight and Vary. */

const FRONTEND = 'https://app.example.org';
const WALLET = 'https://wallet.example';

beforeAll(() => {
  logger.setLogLevel('SILENT');
});

/** A concrete URL path of a declared route path: each `{parameter}` a sample segment. */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, 'K7Q2M9X4T8B3N6PZ');

function preflight(corsOrigins: readonly string[], path: string, origin: string): Promise<HttpResponse> {
  return createPreflightHandler({ corsOrigins })(
    apiEvent('OPTIONS', '/{proxy+}', {
      pathParameters: { proxy: path.slice(1) },
      headers: {
        origin,
        'access-control-request-method': 'GET',
        // What a wallet or verifier page may add to a plain GET, which then needs a preflight.
        'access-control-request-headers': 'cache-control,if-none-match',
      },
    }),
    lambdaContext(),
  );
}

/** The comma-separated tokens of a response header, lower-cased. */
const headerTokens = (response: HttpResponse, name: string) =>
  (response.headers[name] ?? '')
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter(Boolean);
const varyTokens = (response: HttpResponse) => headerTokens(response, 'Vary');

/** A route for the listed frontend whose handler throws `error`. */
const failingRoute = (error: Error) =>
  publicRoute({ corsOrigins: [FRONTEND] }, async () => {
    throw error;
  });

describe('CORS preflight', () => {
  const anyOrigin = API_ROUTES.filter((route) => route.crossOrigin === 'any');

  it('knows exactly the paths of the routes declared crossOrigin any', () => {
    expect(anyOrigin.length).toBeGreaterThan(0);
    expect([...ANY_ORIGIN_PATHS].sort()).toEqual(anyOrigin.map((route) => route.path).sort());
  });

  it("answers any origin for a path of a crossOrigin 'any' route: *, GET, the headers a wallet adds", async () => {
    for (const path of ANY_ORIGIN_PATHS) {
      for (const origin of [WALLET, FRONTEND]) {
        const response = await preflight([FRONTEND], concrete(path), origin);
        expect(response.statusCode, path).toBe(204);
        expect(response.headers, `${path} from ${origin}`).toMatchObject({
          'Access-Control-Allow-Origin': '*',
          'Access-Control-Allow-Methods': 'GET,OPTIONS',
          // `*` lets any header through; Authorization must be named (Fetch), a frontend may send it.
          'Access-Control-Allow-Headers': 'Authorization,*',
          'Access-Control-Max-Age': '7200',
        });
        // The same answer for every origin: nothing to vary on.
        expect(varyTokens(response), path).not.toContain('origin');
      }
    }
  });

  it('answers only the listed origins for every other path, as before', async () => {
    const others = API_ROUTES.filter((route) => route.crossOrigin !== 'any').map((route) => route.path);
    expect(others.length).toBeGreaterThan(10);
    for (const path of [...others, '/api/v1/verify', '/api/v1/verify/CODE/credential/more', '/nowhere']) {
      const wallet = await preflight([FRONTEND], concrete(path), WALLET);
      expect(wallet.statusCode, path).toBe(204);
      expect(wallet.headers['Access-Control-Allow-Origin'], path).toBeUndefined();
      const frontend = await preflight([FRONTEND], concrete(path), FRONTEND);
      expect(frontend.headers, path).toMatchObject({
        'Access-Control-Allow-Origin': FRONTEND,
        'Access-Control-Allow-Methods': 'GET,POST,DELETE,OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization,Content-Type',
        // Chromium's cap: each URL the frontend calls is preflighted at most once in two hours.
        'Access-Control-Max-Age': '7200',
      });
      expect(varyTokens(frontend), path).toContain('origin');
    }
  });
});

describe('Vary: Origin', () => {
  const openApi = (corsOrigins: readonly string[], headers: Record<string, string> = {}) =>
    createOpenApiHandler({ corsOrigins })(
      apiEvent('GET', '/api/v1/openapi.json', { headers }),
      lambdaContext(),
    );

  it('is on every answer when specific origins are listed, the publicly cacheable document fetched without Origin included', async () => {
    for (const corsOrigins of [[FRONTEND], [FRONTEND, 'https://admin.example.org'], ['*', FRONTEND]]) {
      const anonymous = await openApi(corsOrigins);
      expect(anonymous.statusCode).toBe(200);
      expect(anonymous.headers['Cache-Control']).toBe('public, max-age=300');
      expect(anonymous.headers['Access-Control-Allow-Origin'], String(corsOrigins)).not.toBe(FRONTEND);
      expect(varyTokens(anonymous), String(corsOrigins)).toEqual(['origin']);
      // Once, when the origin is echoed too.
      const echoed = await openApi(corsOrigins, { origin: FRONTEND });
      expect(echoed.headers['Access-Control-Allow-Origin']).toBe(FRONTEND);
      expect(varyTokens(echoed), String(corsOrigins)).toEqual(['origin']);
    }
  });

  it('is added to a Vary the route sets, and to errors', async () => {
    const negotiated = publicRoute({ corsOrigins: [FRONTEND] }, async () => ({
      statusCode: 200,
      headers: { 'Cache-Control': 'public, max-age=60', Vary: 'Accept' },
      body: '{}',
    }));
    const page = await negotiated(apiEvent('GET', '/api/v1/anything'), lambdaContext());
    expect(varyTokens(page)).toEqual(['accept', 'origin']);
    const error = await failingRoute(new NotFoundError('Thing'))(
      apiEvent('GET', '/api/v1/anything'),
      lambdaContext(),
    );
    expect(error.statusCode).toBe(404);
    expect(varyTokens(error)).toEqual(['origin']);
  });

  it('is not sent when no origin is ever echoed: none listed, or only *', async () => {
    const requests: Record<string, string>[] = [{}, { origin: FRONTEND }];
    for (const corsOrigins of [[], ['*']]) {
      for (const headers of requests) {
        const response = await openApi(corsOrigins, headers);
        expect(varyTokens(response), `${String(corsOrigins)} ${JSON.stringify(headers)}`).not.toContain(
          'origin',
        );
      }
    }
  });
});

describe('Access-Control-Expose-Headers', () => {
  it("lets the listed frontend read an error's Retry-After, WWW-Authenticate and X-Request-Id, and a download's file name", async () => {
    const response = await failingRoute(new TransientError('down', 'database'))(
      apiEvent('GET', '/api/v1/anything', { headers: { origin: FRONTEND } }),
      lambdaContext(),
    );
    expect(response.statusCode).toBe(503);
    expect(response.headers['Access-Control-Allow-Origin']).toBe(FRONTEND);
    expect(headerTokens(response, 'Access-Control-Expose-Headers')).toEqual(
      expect.arrayContaining(['retry-after', 'www-authenticate', 'x-request-id', 'content-disposition']),
    );
  });
});
