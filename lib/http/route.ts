import middy from '@middy/core';
import httpCors from '@middy/http-cors';
import httpSecurityHeaders from '@middy/http-security-headers';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type AuthenticatedContext, authenticate, principalOf } from '../auth/middleware.ts';
import type { Principal } from '../auth/principal.ts';
import type { TokenVerifier } from '../auth/verifier.ts';
import { ConfigurationError, errorMessage } from '../errors.ts';
import { logger } from '../observability/logger.ts';
import { recordConfigurationError } from '../observability/metrics.ts';
import { mapError } from './errors.ts';
import type { HttpResponse } from './response.ts';

/**
 * The middy stack every HTTP route shares, in order:
 *   request id + access log -> Vary: Origin -> CORS -> security headers -> error mapper ->
 *   authentication
 * (middy runs `after`/`onError` in reverse, so the error mapper's response still gets the
 * security and CORS headers, `Vary: Origin` and the request id).
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
  /**
   * The answer to a failed request in another form than the JSON error, for the callers a route
   * serves otherwise (the verification page's visitors): given the mapped response, one with the
   * same status, or undefined to keep it. The status is still decided here, in one place.
   */
  errorPage?: ErrorPage;
}

export type ErrorPage = (mapped: HttpResponse, event: APIGatewayProxyEventV2) => HttpResponse | undefined;

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
function errorMapping(errorPage?: ErrorPage) {
  return {
    name: 'error-mapping',
    onError: (request: {
      event: APIGatewayProxyEventV2;
      context: RouteContext;
      error: Error | null | undefined;
      response: HttpResponse | null | undefined;
    }) => {
      const requestId = request.context.requestId ?? 'unknown';
      const mapped = mapError(request.error, requestId);
      // The alarm generate and the scan feed: a route refused by IAM, a secret or the signing key
      // answers 503 to every caller until someone fixes it, whether or not anything is issuing.
      if (request.error instanceof ConfigurationError) recordConfigurationError(request.error.dependency);
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
      request.response = errorPage?.(mapped.response, request.event) ?? mapped.response;
    },
  };
}

/** Headers a route may set itself and that then win over the shared defaults. */
const ROUTE_OWNED_HEADERS = ['Content-Security-Policy', 'Cross-Origin-Resource-Policy'] as const;

/**
 * Every browser feature a page could ask for, refused: the verification page needs none. Only
 * names browsers know (the Permissions Policy registry's standardised features): middy's default
 * list adds experimental and retired ones (battery, monetization, web-share, ...) that Chromium
 * reports as console errors on every load of the public page.
 */
const PERMISSIONS_POLICY = [
  'accelerometer',
  'autoplay',
  'camera',
  'clipboard-read',
  'clipboard-write',
  'display-capture',
  'encrypted-media',
  'fullscreen',
  'gamepad',
  'geolocation',
  'gyroscope',
  'hid',
  'identity-credentials-get',
  'idle-detection',
  'local-fonts',
  'magnetometer',
  'microphone',
  'midi',
  'otp-credentials',
  'payment',
  'picture-in-picture',
  'publickey-credentials-create',
  'publickey-credentials-get',
  'screen-wake-lock',
  'serial',
  'storage-access',
  'sync-xhr',
  'usb',
  'xr-spatial-tracking',
]
  .map((feature) => `${feature}=()`)
  .join(', ');

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
      // Its list cannot be shortened (options merge into the defaults): written below instead.
      permissionsPolicy: false,
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
      if (request.response) {
        request.response.headers['Permissions-Policy'] = PERMISSIONS_POLICY;
        for (const [name, value] of own) request.response.headers[name] = value;
      }
    };
  return { after: keepRouteOwned(shared.after), onError: keepRouteOwned(shared.onError) };
}

/**
 * `Vary: Origin` on every answer whenever CORS_ALLOWED_ORIGINS lists origins to echo: the answer
 * to a listed origin carries its `Access-Control-Allow-Origin`, the same answer to another origin
 * (or to none) does not, so a cache must key on Origin even where no origin was echoed. http-cors
 * says so only when it echoes one or several origins are listed: with one, the publicly
 * cacheable OpenAPI document fetched without Origin was then served from a shared cache to the
 * frontend's CORS fetch, which the browser refused. Runs after http-cors, adding the token only
 * where it is missing. Not with `*` alone (no origin is echoed) nor with no CORS at all.
 */
function varyOnOrigin(corsOrigins: readonly string[]) {
  const echoes = corsOrigins.some((origin) => origin !== '*');
  const add = (request: { response: HttpResponse | null | undefined }) => {
    const response = request.response;
    if (!echoes || !response) return;
    const headers = response.headers ?? {};
    const name = Object.keys(headers).find((key) => key.toLowerCase() === 'vary') ?? 'Vary';
    const parts = (headers[name] ?? '')
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean);
    if (parts.some((part) => part === '*' || part.toLowerCase() === 'origin')) return;
    response.headers = { ...headers, [name]: [...parts, 'Origin'].join(', ') };
  };
  return { name: 'vary-origin', after: add, onError: add };
}

type CorsSettings = Pick<
  NonNullable<Parameters<typeof httpCors>[0]>,
  'methods' | 'headers' | 'exposeHeaders' | 'maxAge'
>;

/** What the API's own routes allow a browser page on a listed origin. */
const API_CORS: CorsSettings = {
  methods: 'GET,POST,DELETE,OPTIONS',
  headers: 'Authorization,Content-Type',
  // Content-Disposition: the file name the credential route gives its download, which a page
  // that fetches it with a token (it cannot be a plain link) saves the file under.
  exposeHeaders: 'X-Request-Id,Retry-After,WWW-Authenticate,Content-Disposition,Location',
  // How long a browser keeps a preflight's answer. Its cache is per URL, so each certificate,
  // download and list page the frontend calls is preflighted once per this long: 7200 s is the
  // most Chromium keeps (it caps any larger value at 2 h; Firefox caps at 24 h), so a larger
  // value would buy nothing there.
  maxAge: 7200,
};

function baseStack(options: RouteOptions, cors: CorsSettings = API_CORS) {
  const stack = middy<APIGatewayProxyEventV2, HttpResponse, Error, RouteContext>({ timeoutEarlyInMillis: 0 })
    .use(requestLogging())
    .use(varyOnOrigin(options.corsOrigins))
    .use(httpCors({ origins: [...options.corsOrigins], ...cors }))
    .use(securityHeaders())
    .use(errorMapping(options.errorPage));
  return stack;
}

/**
 * A HEAD request is answered as its GET, headers and status alike, without the content (RFC 9110
 * 9.3.2): the public GET routes are declared for HEAD too (serverless.yml), for link checkers
 * and uptime probes.
 */
function withoutContentForHead(event: APIGatewayProxyEventV2, response: HttpResponse): HttpResponse {
  if (event.requestContext?.http?.method !== 'HEAD') return response;
  return { ...response, body: '' };
}

/** A public route (health, openapi, verify). */
export function publicRoute(
  options: RouteOptions,
  route: (request: RouteRequest) => Promise<HttpResponse>,
  cors: CorsSettings = API_CORS,
): LambdaHttpHandler {
  const handler = baseStack(options, cors).handler(async (event, context: RouteContext) =>
    route({ event, requestId: context.requestId ?? requestIdOf(event, context) }),
  );
  return async (event, context) => withoutContentForHead(event, await handler(event, context));
}

export interface PreflightOptions extends RouteOptions {
  /**
   * The paths of the routes declared `crossOrigin: 'any'`, as declared (`{name}` stands for one
   * path segment): their preflights are answered for any origin.
   */
  anyOriginPaths: readonly string[];
}

/**
 * The preflight of a route that any origin may read: `*`, GET only, and any request header a
 * wallet or verifier page adds (`Cache-Control`, `If-None-Match`...). `*` does not cover
 * `Authorization` (Fetch), which is named so a frontend that sends its token everywhere is not
 * refused either: these routes read no token.
 */
const ANY_ORIGIN_PREFLIGHT: CorsSettings = {
  ...API_CORS,
  methods: 'GET,OPTIONS',
  headers: 'Authorization,*',
};

/** `/api/v1/keys/{kid}` -> `^/api/v1/keys/[^/]+$`: a parameter is one path segment, as API Gateway routes it. */
function routePathPattern(path: string): RegExp {
  const source = path
    .split(/(\{[^}/]+\})/)
    .map((part) => (/^\{[^}/]+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

/**
 * The path a preflight is for: `{proxy+}` is relative to the API (a custom domain's base path
 * left out, which rawPath keeps), so it is compared with the declared paths.
 */
function preflightPath(event: APIGatewayProxyEventV2): string {
  const proxy = event.pathParameters?.proxy;
  return proxy === undefined ? (event.rawPath ?? '') : `/${proxy}`;
}

/**
 * The CORS preflight (`OPTIONS /{proxy+}`) of every route. API Gateway is given no CORS
 * setting, because with one it would replace the headers of every response, the public
 * `Access-Control-Allow-Origin: *` of the JWK Set and the status lists included; so the
 * preflight reaches this function. For a path of a route declared `crossOrigin: 'any'`, any
 * origin is answered (ANY_ORIGIN_PREFLIGHT): those are plain GETs that need no preflight, until a
 * wallet or verifier adds a header of its own, and then the preflight must not refuse what the
 * GET itself answers with `*`. For every other path the shared stack answers:
 * `Access-Control-Allow-Origin` only for an origin in CORS_ALLOWED_ORIGINS (the browser refuses
 * any other; the methods, headers and max-age it also sends tell nobody anything).
 */
export function preflightRoute(options: PreflightOptions): LambdaHttpHandler {
  const noContent = async (): Promise<HttpResponse> => ({ statusCode: 204, headers: {}, body: '' });
  const listed = publicRoute(options, noContent);
  const anyOrigin = publicRoute({ corsOrigins: ['*'] }, noContent, ANY_ORIGIN_PREFLIGHT);
  const patterns = options.anyOriginPaths.map(routePathPattern);
  return (event, context) => {
    const path = preflightPath(event);
    return (patterns.some((pattern) => pattern.test(path)) ? anyOrigin : listed)(event, context);
  };
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
  return async (event, context) => withoutContentForHead(event, await handler(event, context));
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
        // The invocation itself succeeds (a 500 answered), so Lambda's Errors metric does not
        // see it: counted for ConfigurationErrorsAlarm, as a route refused by IAM is.
        recordConfigurationError('configuration');
        const { response } = mapError(error, requestId);
        return response;
      }
    }
    return await built(event, context);
  };
}
