import { assertStaff } from '../../lib/auth/policy.ts';
import { parseRequeueInput, requeueAndDispatch } from '../../lib/certificates/requeue.ts';
import { type DispatchDeps, dispatchDeps } from '../../lib/http/dispatch-deps.ts';
import { jsonBody, uuidPathParam } from '../../lib/http/params.ts';
import { json } from '../../lib/http/response.ts';
import { authenticatedRoute, lazyHandler } from '../../lib/http/route.ts';
import { logger } from '../../lib/observability/logger.ts';

/**
 * POST /api/v1/certificates/{certificateId}/requeue: staff give a dead (or waiting failed)
 * certificate a fresh set of attempts and generation starts at once. The body is optional
 * (`{ "reason": "..." }` for the audit log).
 */
export const createHandler = (deps: DispatchDeps) =>
  authenticatedRoute(deps, async ({ event, principal }) => {
    assertStaff(principal, 'requeue certificates');
    const certificateId = uuidPathParam(event, 'certificateId');
    const input = parseRequeueInput(event.body ? jsonBody(event) : undefined);
    const result = await requeueAndDispatch(
      { sql: deps.sql, dispatch: deps.dispatch, log: logger },
      { dispatchLeaseSeconds: deps.dispatchLeaseSeconds, maxInFlight: deps.maxInFlight },
      certificateId,
      { requestedBy: principal.subject, ...input },
    );
    return json(200, { id: result.id, previousStatus: result.previousStatus, status: result.status });
  });

export const handler = lazyHandler(() => createHandler(dispatchDeps()));
