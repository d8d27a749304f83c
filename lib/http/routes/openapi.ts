import { z } from 'zod';
import { anyone } from '../../auth/policies.ts';
import { defineRoute, type RouteContract } from '../contract.ts';
import type { PublicDeps } from '../deps.ts';
import { buildOpenApiDocument } from '../openapi.ts';
import { ok } from '../response.ts';
import { ROUTES } from './catalog.ts';

export const openApiRoute = defineRoute({
  operationId: 'getOpenApiDocument',
  method: 'GET',
  path: '/api/v1/openapi.json',
  tags: ['public'],
  summary: 'This document',
  request: {},
  policy: anyone,
  responses: { 200: { description: 'OpenAPI 3.1 document', schema: z.record(z.string(), z.unknown()) } },
  handle: async (_deps: PublicDeps) => ok(apiDocument(), { 'Cache-Control': 'public, max-age=300' }),
});

/** Every route, this one included. */
export const API_ROUTES: readonly RouteContract[] = [...ROUTES, openApiRoute];

let document: Record<string, unknown> | undefined;
function apiDocument(): Record<string, unknown> {
  document ??= buildOpenApiDocument(API_ROUTES);
  return document;
}
