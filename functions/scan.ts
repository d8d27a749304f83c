import type { Context } from 'aws-lambda';
import { runScan } from '../lib/certificates/scan.ts';
import { loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { ConfigurationError, errorMessage } from '../lib/errors.ts';
import { createLambdaClient, createLambdaDispatch, SCAN_INVOKE } from '../lib/invoke/lambda-dispatch.ts';
import { logger } from '../lib/observability/logger.ts';
import { pipelineMetrics } from '../lib/observability/metrics.ts';

// Cold start: configuration and clients once per container.
const config = loadConfig(['db', 'pipeline', 'invoke']);
const sql = createSql(config.db, { applicationName: 'certificates-scan' });
const dispatch = createLambdaDispatch(
  createLambdaClient(config.invoke, SCAN_INVOKE),
  config.invoke.GENERATE_FUNCTION_NAME,
);
const metrics = pipelineMetrics();

/**
 * A tick that could invoke generate for none of the certificates it claimed (they are released
 * for the next tick). Thrown, so the function's Errors metric, which ScanErrorsAlarm watches (3
 * minutes of 5), sees a Lambda API that stays unusable: the scan's work is committed either way,
 * and nothing else would notice, since generate never runs.
 */
export class DispatchFailedError extends Error {
  override name = 'DispatchFailedError';
}

export interface ScanResponse {
  attemptsScanned: number;
  certificatesCreated: number;
  dispatched: number;
  dispatchFailed: number;
}

/** EventBridge schedule: the event carries nothing we need. */
export const handler = async (_event: unknown, context?: Context): Promise<ScanResponse> => {
  if (context) logger.addContext(context);
  // Read first: the enqueue and the later-pass rule spend some of it before any claim.
  const deadline = context ? Date.now() + context.getRemainingTimeInMillis() : undefined;
  const result = await runScan(
    { sql, dispatch, log: logger },
    {
      batchSize: config.pipeline.SCAN_BATCH_SIZE,
      enqueueLimit: config.pipeline.SCAN_ENQUEUE_LIMIT,
      ...(config.pipeline.SCAN_NOT_BEFORE ? { notBefore: config.pipeline.SCAN_NOT_BEFORE } : {}),
      dispatchLeaseSeconds: config.pipeline.DISPATCH_LEASE_SECONDS,
      dispatchConcurrency: config.pipeline.DISPATCH_CONCURRENCY,
      maxInFlight: config.pipeline.GENERATE_MAX_CONCURRENCY,
      fillSeconds: config.pipeline.SCAN_FILL_SECONDS,
      deadline,
    },
  );
  if (result.failed.length > 0 && result.dispatched.length === 0) {
    // Refused for how it is set up (IAM, the function's name, KMS): the alarm operators already
    // watch for configuration errors, at once rather than after three ticks.
    if (result.error instanceof ConfigurationError) metrics.configurationError?.('lambda');
    logger.error('No certificate could be handed to generate this tick; they wait for the next', {
      dispatch_failed: result.failed.length,
      error: errorMessage(result.error),
    });
    throw new DispatchFailedError(
      `invoking generate failed for all ${result.failed.length} certificate(s) claimed: ${errorMessage(result.error)}`,
    );
  }
  return {
    attemptsScanned: result.scanned,
    certificatesCreated: result.created,
    dispatched: result.dispatched.length,
    dispatchFailed: result.failed.length,
  };
};
