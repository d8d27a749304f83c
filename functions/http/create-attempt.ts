import { assertStaff } from '../../lib/auth/policy.ts';
import { recordAttempt } from '../../lib/certificates/record-attempt.ts';
import { type DispatchDeps, dispatchDeps } from '../../lib/http/dispatch-deps.ts';
import { jsonBody } from '../../lib/http/params.ts';
import { json } from '../../lib/http/response.ts';
import { authenticatedRoute, lazyHandler } from '../../lib/http/route.ts';
import { logger } from '../../lib/observability/logger.ts';

/**
 * POST /api/v1/attempts: the testing system reports an attempt (the guide's process_raws).
 * Staff or a service account with a staff role only: a student must not post their own score.
 * 201 when recorded, 200 when the same externalRef was recorded before (idempotent replay).
 */
export const createHandler = (deps: DispatchDeps) =>
  authenticatedRoute(deps, async ({ event, principal }) => {
    assertStaff(principal, 'record test attempts');
    const result = await recordAttempt(
      { sql: deps.sql, dispatch: deps.dispatch, log: logger },
      { dispatchLeaseSeconds: deps.dispatchLeaseSeconds, maxInFlight: deps.maxInFlight },
      jsonBody(event),
    );
    return json(result.created ? 201 : 200, result);
  });

export const handler = lazyHandler(() => createHandler(dispatchDeps()));
