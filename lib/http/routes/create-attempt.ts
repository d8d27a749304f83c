import { requires } from '../../auth/policies.ts';
import { recordAttempt } from '../../certificates/record-attempt.ts';
import { logger } from '../../observability/logger.ts';
import { defineRoute } from '../contract.ts';
import type { DispatchDeps } from '../dispatch-deps.ts';
import { json } from '../response.ts';
import { attemptInputSchema, attemptResultSchema } from '../schemas.ts';
import { errorResponse } from './common.ts';

export const createAttemptRoute = defineRoute({
  operationId: 'createAttempt',
  method: 'POST',
  path: '/api/v1/attempts',
  tags: ['ingestion'],
  summary: 'Record a test attempt (ingestion client or certificate admin)',
  description:
    "Guide: the stats worker's `process_raws`. Pass/fail is decided against the course's pass mark; " +
    'a passing attempt gets a pending certificate and generation starts at once when the concurrency budget ' +
    'has room (otherwise the scan starts it). Idempotent per `externalRef`.',
  request: { body: attemptInputSchema },
  // A student must not post their own score.
  policy: requires('attempts:record', 'record test attempts'),
  responses: {
    201: { description: 'Recorded', schema: attemptResultSchema },
    200: {
      description: 'This externalRef was recorded before; the earlier result',
      schema: attemptResultSchema,
    },
    409: errorResponse('externalRef was recorded with different values'),
  },
  handle: async (deps: DispatchDeps, { body, principal }) => {
    const result = await recordAttempt(
      { sql: deps.sql, dispatch: deps.dispatch, log: logger },
      {
        dispatchLeaseSeconds: deps.dispatchLeaseSeconds,
        maxInFlight: deps.maxInFlight,
        // A posted pass issues a certificate: who posted it stays on record with it.
        postedBy: {
          subject: principal.subject,
          ...(principal.clientId ? { clientId: principal.clientId } : {}),
        },
      },
      body,
    );
    return json(result.created ? 201 : 200, result);
  },
});
