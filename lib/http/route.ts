import middy from '@middy/core';
import httpCors from '@middy/http-cors';
import httpSecurityHeaders from '@middy/http-security-headers';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type AuthenticatedContext, authenticate, principalOf } from '../auth/middleware.ts';
import type { Principal } from '../auth/principal.ts';
import type { TokenVerifier } from '../auth/verifier.ts';
import { errorMessage } from '../errors.ts';
import { logger } from '../observability/logger.ts';
import { mapError } from './errors.ts';
import type { HttpResponse } from './response.ts';

/**
 * The middy stack every HTTP route shares, in order:
 *   request id + access log -> CORS -> security headers -> error mapper -> authentication
 * (middy runs `after`/`onError` in reverse, so the error mapper's response still gets the
 * security and CORS headers and the request id).
 */

export interface RouteRequest {
  event: APIGatewayProxyEventV2;
  requestId: string;
}

export interface AuthenticatedRouteRequest extends RouteRequest {
  principal: Principal;
}

export interface RouteOptions {
  /** CORS_ALLOWED_ORIGINS; empty -> no CORS headers. */
  corsOrigins: readonly string[];
}

export type LambdaHttpHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResponse>;

interface RouteContext extends AuthenticatedContext {
  requestId?: string;
  startedAt?: number;
}

function requestIdOf(event: APIGatewayProxyEventV2, context: Context): string {
  return event.requestContext?.requestId ?? context.awsRequestId ?? 'unknown';
}

/** One access-log line per request: route, status, duration, who. Never headers or the event. */
function requestLogging() {
  const finish = (request: {
    event: APIGatewayProxyEventV2;
    context: RouteContext;
    response: HttpResponse | null | undefined;
    error: Error | null | undefined;
  }) => {
    const response = request.response;
    if (!response) return;
    const requestId = request.context.requestId ?? 'unknown';
    response.headers = { ...response.headers, 'X-Request-Id': requestId };
    const status = response.statusCode;
    const entry = {
      route: request.event.routeKey,
      status,
      durationMs: Date.now() - (request.context.startedAt ?? Date.now()),
      ...(request.context.principal ? { subject: request.context.principal.subject } : {}),
    };
    if (status >= 500) logger.error('HTTP request failed', entry);
    else logger.info('HTTP request', entry);
  };
  return {
    name: 'request-logging',
    before: (request: { event: APIGatewayProxyEventV2; context: RouteContext }) => {
      request.context.requestId = requestIdOf(request.event, request.context);
      request.context.startedAt = Date.now();
      // Function name, cold start flag and Lambda request id on every line of this invocation.
      logger.addContext(request.context);
      logger.appendKeys({ requestId: request.context.requestId });
    },
    after: finish,
    onError: finish,
  };
}

/** THE error mapping point: domain errors -> status codes (lib/http/errors.ts). */
function errorMapping() {
  return {
    name: 'error-mapping',
    onError: (request: {
      context: RouteContext;
      error: Error | null | undefined;
      response: HttpResponse | null | undefined;
    }) => {
      const requestId = request.context.requestId ?? 'unknown';
      const mapped = mapError(request.error, requestId);
      if (mapped.serverFault) {
        // The stack goes to the logs only; the client gets the generic body built above.
        logger.error('Request error', {
          errorName: request.error?.name,
          error: errorMessage(request.error),
          stack: request.error instanceof Error ? request.error.stack : undefined,
          ...(mapped.logReason ? { reason: mapped.logReason } : {}),
        });
      } else if (mapped.logReason) {
        logger.info('Request rejected', { status: mapped.response.statusCode, reason: mapped.logReason });
      }
      request.response = mapped.response;
    },
  };
}

/** Headers a route may set itself and that then win over the shared defaults. */
const ROUTE_OWNED_HEADERS = ['Content-Security-Policy', 'Cross-Origin-Resource-Policy'] as const;

/**
 * A JSON API: nothing may be loaded, framed or sniffed. A route that serves a page (the public
 * verification page, with its script and style allowed by hash) or a resource meant for other
 * origins (the JWKS) sets its own CSP / CORP, which is kept.
 */
function securityHeaders() {
  const shared: middy.MiddlewareObj<APIGatewayProxyEventV2, HttpResponse, Error, RouteContext> =
    httpSecurityHeaders({
      contentSecurityPolicy: { 'default-src': "'none'", 'report-to': '' },
      reportTo: false,
      reportingEndpoints: false,
    });
  type Request = middy.Request<APIGatewayProxyEventV2, HttpResponse, Error, RouteContext>;
  const keepRouteOwned =
    (apply: middy.MiddlewareFn<APIGatewayProxyEventV2, HttpResponse, Error, RouteContext> | undefined) =>
    async (request: Request): Promise<void> => {
      const own = ROUTE_OWNED_HEADERS.flatMap((name) => {
        const value = request.response?.headers?.[name];
        return value === undefined ? [] : [[name, value] as const];
      });
      await apply?.(request);
      if (request.response) for (const [name, value] of own) request.response.headers[name] = value;
    };
  return { after: keepRouteOwned(shared.after), onError: keepRouteOwned(shared.onError) };
}

function baseStack(options: RouteOptions) {
  const stack = middy<APIGatewayProxyEventV2, HttpResponse, Error, RouteContext>({ timeoutEarlyInMillis: 0 })
    .use(requestLogging())
    .use(
      httpCors({
        origins: [...options.corsOrigins],
        methods: 'GET,POST,DELETE,OPTIONS',
        headers: 'Authorization,Content-Type',
        exposeHeaders: 'X-Request-Id,Retry-After,WWW-Authenticate',
        maxAge: 600,
      }),
    )
    .use(securityHeaders())
    .use(errorMapping());
  return stack;
}

/** A public route (health, openapi, verify). */
export function publicRoute(
  options: RouteOptions,
  route: (request: RouteRequest) => Promise<HttpResponse>,
): LambdaHttpHandler {
  const handler = baseStack(options).handler(async (event, context: RouteContext) =>
    route({ event, requestId: context.requestId ?? requestIdOf(event, context) }),
  );
  return (event, context) => handler(event, context);
}

/**
 * The CORS preflight (`OPTIONS /{proxy+}`) of every route. API Gateway is given no CORS
 * setting, because with one it would replace the headers of every response, the public
 * `Access-Control-Allow-Origin: *` of the JWK Set and the status lists included; so the
 * preflight reaches this function. The shared stack answers it: `Access-Control-Allow-Origin`
 * only for an origin in CORS_ALLOWED_ORIGINS (the browser refuses any other; the methods, headers
 * and max-age it also sends tell nobody anything). Routes declared `crossOrigin: 'any'` are
 * plain GETs, which browsers send without a preflight.
 */
export function preflightRoute(options: RouteOptions): LambdaHttpHandler {
  return publicRoute(options, async () => ({ statusCode: 204, headers: {}, body: '' }));
}

/** A route that requires a valid bearer token; the principal is handed to `route`. */
export function authenticatedRoute(
  options: RouteOptions & { verifier: TokenVerifier },
  route: (request: AuthenticatedRouteRequest) => Promise<HttpResponse>,
): LambdaHttpHandler {
  const handler = baseStack(options)
    .use(authenticate(options.verifier))
    .handler(async (event, context: RouteContext) =>
      route({
        event,
        requestId: context.requestId ?? requestIdOf(event, context),
        principal: principalOf(context),
      }),
    );
  return (event, context) => handler(event, context);
}

/**
 * Builds the real handler (config parsed, clients created once per container). In a Lambda
 * container (and serverless offline, which sets AWS_LAMBDA_FUNCTION_NAME too) that happens at
 * import, during the cold start: a missing or malformed variable is logged, naming it, before
 * any request, and the first request does not pay for the set-up. Elsewhere import stays free of
 * side effects, so tests and the benchmark can import handlers and build their own with
 * `createHandler(deps)`; the handler is then built on first use. Until a build succeeds, each
 * request tries again and a configuration error answers a generic 500, logged with the variable
 * it names.
 */
export function lazyHandler(
  build: () => LambdaHttpHandler,
  env: Record<string, string | undefined> = process.env,
): LambdaHttpHandler {
  let built: LambdaHttpHandler | undefined;
  if (env.AWS_LAMBDA_FUNCTION_NAME !== undefined) {
    try {
      built = build();
    } catch (error) {
      logger.error('Handler initialisation failed', { error: errorMessage(error) });
    }
  }
  return async (event, context) => {
    if (!built) {
      try {
        built = build();
      } catch (error) {
        const requestId = requestIdOf(event, context);
        logger.error('Handler initialisation failed', { error: errorMessage(error), requestId });
        const { response } = mapError(error, requestId);
        return response;
      }
    }
    return await built(event, context);
  };
}
