import { lambdaRoute } from '../../lib/http/contract.ts';
import { dispatchDeps } from '../../lib/http/dispatch-deps.ts';
import { createAttemptRoute } from '../../lib/http/routes/create-attempt.ts';

export const { handler, createHandler, route } = lambdaRoute(createAttemptRoute, dispatchDeps);
