import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { z } from 'zod';
import type { Policy } from '../auth/policies.ts';
import type { Principal } from '../auth/principal.ts';
import type { TokenVerifier } from '../auth/verifier.ts';
import { parseWith } from '../validation.ts';
import { jsonBody } from './params.ts';
import type { HttpResponse } from './response.ts';
import {
  authenticatedRoute,
  type ErrorPage,
  type LambdaHttpHandler,
  lazyHandler,
  publicRoute,
  type RouteOptions,
} from './route.ts';

/**
 * The route contract: each HTTP route is declared once (lib/http/routes/*.ts) with its method,
 * path, zod schemas, policy and use-case. From that declaration come request validation (a 400
 * naming the parameter), authorisation, the OpenAPI document (lib/http/openapi.ts) and the
 * check that serverless.yml routes the same method and path to it (test/unit/openapi-document).
 */

export type Method = 'GET' | 'POST' | 'DELETE';

type AnyObject = z.ZodObject;

export interface RequestSchemas {
  path?: AnyObject;
  query?: AnyObject;
  body?: z.ZodType;
  /** Default true when a body schema is given; false: an empty body parses as `{}`. */
  bodyRequired?: boolean;
  /** The largest body accepted, in bytes (default params.ts MAX_BODY_BYTES, 16 KiB). */
  maxBodyBytes?: number;
}

type Parsed<S> = S extends z.ZodType ? z.output<S> : Record<string, never>;

/** The validated path and query: what a policy sees (it runs before the body is read). */
export interface RouteParams<R extends RequestSchemas> {
  path: Parsed<R['path']>;
  query: Parsed<R['query']>;
}

/** The validated request a use-case sees. */
export interface RouteInput<R extends RequestSchemas> extends RouteParams<R> {
  body: Parsed<R['body']>;
}

/** What every route's dependencies carry: CORS origins, and the verifier when it needs a token. */
export interface BaseDeps extends RouteOptions {
  verifier?: TokenVerifier;
}

export interface RouteCall<R extends RequestSchemas> extends RouteInput<R> {
  event: APIGatewayProxyEventV2;
  requestId: string;
  /** Set on every route whose policy is authenticated. */
  principal: Principal;
}

/** A documented response: a zod schema (JSON) or another media type such as text/html. */
export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  /** Default application/json. */
  contentType?: string;
  /** Response headers, e.g. z.object({ 'Retry-After': z.number().int() }). */
  headers?: z.ZodObject;
  /** Other media types served for the same status by content negotiation (Accept). */
  alternatives?: readonly { contentType: string; schema: z.ZodType }[];
}

export interface RouteDeclaration<R extends RequestSchemas, D> {
  operationId: string;
  method: Method;
  /** API Gateway path, e.g. /api/v1/certificates/{certificateId}; well-known URIs (RFC 8615) too. */
  path: `/api/${string}` | `/.well-known/${string}`;
  tags: readonly string[];
  summary: string;
  description?: string;
  request: R;
  policy: Policy<RouteParams<R>>;
  /**
   * `any`: a public resource that verifiers, wallets and their pages on any origin read (keys,
   * status lists, the public record of a certificate): every answer, errors included, carries
   * `Access-Control-Allow-Origin: *`. Otherwise only the origins in CORS_ALLOWED_ORIGINS are
   * answered. Only for public routes: a bearer token is never sent cross-origin to `*`.
   */
  crossOrigin?: 'any';
  /** A public route's answer to a failed request for callers it serves in another form (RouteOptions). */
  errorPage?: ErrorPage;
  /** Success and route-specific error responses; the common errors are added from the policy. */
  responses: Record<number, ResponseSpec>;
  /** Calls the use-case with the dependencies the handler wired in. */
  handle(deps: D, call: RouteCall<R>): Promise<HttpResponse>;
}

/** The declaration with its type parameters erased, for the catalogue and the OpenAPI document. */
export interface RouteContract {
  operationId: string;
  method: Method;
  path: string;
  tags: readonly string[];
  summary: string;
  description?: string;
  request: RequestSchemas;
  policy: Pick<Policy, 'authenticated' | 'description'>;
  crossOrigin?: 'any';
  responses: Record<number, ResponseSpec>;
}

export function defineRoute<R extends RequestSchemas, D>(
  declaration: RouteDeclaration<R, D>,
): RouteDeclaration<R, D> {
  return declaration;
}

/** API Gateway leaves absent parameters undefined; an empty query value counts as absent too. */
function present(values: Record<string, string | undefined> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values ?? {}).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '',
    ),
  );
}

function parseParams<R extends RequestSchemas>(request: R, event: APIGatewayProxyEventV2): RouteParams<R> {
  return {
    path: (request.path ? parseWith(request.path, present(event.pathParameters)) : {}) as Parsed<R['path']>,
    query: (request.query ? parseWith(request.query, present(event.queryStringParameters)) : {}) as Parsed<
      R['query']
    >,
  };
}

function parseBody<R extends RequestSchemas>(request: R, event: APIGatewayProxyEventV2): Parsed<R['body']> {
  if (!request.body) return {} as Parsed<R['body']>;
  const required = request.bodyRequired ?? true;
  const raw = !required && !event.body ? {} : jsonBody(event, request.maxBodyBytes);
  return parseWith(request.body, raw, 'body') as Parsed<R['body']>;
}

const ANY_ORIGIN: readonly string[] = ['*'];

/** Builds the middy handler of a route from its declaration and the dependencies given. */
export function routeHandler<R extends RequestSchemas, D extends BaseDeps>(
  route: RouteDeclaration<R, D>,
  deps: D,
): LambdaHttpHandler {
  if (!route.policy.authenticated) {
    const corsOrigins = route.crossOrigin === 'any' ? ANY_ORIGIN : deps.corsOrigins;
    return publicRoute({ corsOrigins, errorPage: route.errorPage }, async ({ event, requestId }) => {
      const params = parseParams(route.request, event);
      // A public route has no principal; its use-case must not ask for one.
      const call = { ...params, body: parseBody(route.request, event), event, requestId } as RouteCall<R>;
      return await route.handle(deps, call);
    });
  }
  if (route.crossOrigin === 'any')
    throw new Error(`route ${route.operationId} is authenticated: not for any origin`);
  const { verifier } = deps;
  if (!verifier) throw new Error(`route ${route.operationId} needs a token verifier`);
  return authenticatedRoute({ ...deps, verifier }, async ({ event, requestId, principal }) => {
    // Path and query first (a policy may name the student in the path), then the policy,
    // then the body: a caller who may not act learns nothing from the body's 400s.
    const params = parseParams(route.request, event);
    route.policy.authorize(principal, params);
    const call = { ...params, body: parseBody(route.request, event), event, requestId, principal };
    return await route.handle(deps, call);
  });
}

/**
 * What a handler file exports: `handler` (the Lambda entry, wired from the validated config on
 * first use) and `createHandler` (the same route with dependencies given, for tests and the
 * benchmark). A handler file is one line: `export const { handler, createHandler, route } =
 * lambdaRoute(declaration, productionDeps);`
 */
export function lambdaRoute<R extends RequestSchemas, D extends BaseDeps>(
  route: RouteDeclaration<R, D>,
  productionDeps: () => D,
): { handler: LambdaHttpHandler; createHandler: (deps: D) => LambdaHttpHandler; route: RouteContract } {
  const createHandler = (deps: D) => routeHandler(route, deps);
  return {
    handler: lazyHandler(() => createHandler(productionDeps())),
    createHandler,
    route: route as unknown as RouteContract,
  };
}
