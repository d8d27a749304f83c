import type { Dispatch } from '../certificates/ports.ts';
import { loadConfig } from '../config.ts';
import { createLambdaClient, createLambdaDispatch, ROUTE_INVOKE } from '../invoke/lambda-dispatch.ts';
import { once, type ReadDeps, readDeps } from './deps.ts';

/**
 * Dependencies of the routes that start a generation at once (ingestion, requeue). Kept apart
 * from deps.ts so read-only functions never load the Lambda client.
 */
export interface DispatchDeps extends ReadDeps {
  dispatch: Dispatch;
  /** How long a dispatched certificate is left to its worker before the scan hands it out again. */
  dispatchLeaseSeconds: number;
  /** The concurrency budget shared with the scan (GENERATE_MAX_CONCURRENCY). */
  maxInFlight?: number;
}

const dispatcher = once(() => {
  const config = loadConfig(['pipeline', 'invoke']);
  return {
    dispatch: createLambdaDispatch(
      createLambdaClient(config.invoke, ROUTE_INVOKE),
      config.invoke.GENERATE_FUNCTION_NAME,
    ),
    dispatchLeaseSeconds: config.pipeline.DISPATCH_LEASE_SECONDS,
    maxInFlight: config.pipeline.GENERATE_MAX_CONCURRENCY,
  };
});

export const dispatchDeps = (): DispatchDeps => ({ ...readDeps(), ...dispatcher() });
