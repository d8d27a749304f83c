import { anyone } from '../../auth/policies.ts';
import type { Sql } from '../../db/client.ts';
import { defineRoute } from '../contract.ts';
import { checkHealth } from '../health.ts';
import { json } from '../response.ts';
import { healthSchema } from '../schemas.ts';

export const healthRoute = defineRoute({
  operationId: 'getHealth',
  method: 'GET',
  path: '/api/v1/health',
  tags: ['public'],
  summary: 'Liveness and database check',
  request: {},
  policy: anyone,
  responses: {
    200: { description: 'Healthy', schema: healthSchema },
    503: { description: 'The database does not answer', schema: healthSchema },
  },
  handle: async (deps: { sql: Sql; corsOrigins: readonly string[] }) => {
    const report = await checkHealth(deps.sql);
    return json(report.status === 'ok' ? 200 : 503, report);
  },
});
