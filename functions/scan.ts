import type { Context } from 'aws-lambda';
import { runScan } from '../lib/certificates/scan.ts';
import { loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { createLambdaClient, createLambdaDispatch, SCAN_INVOKE } from '../lib/invoke/lambda-dispatch.ts';
import { logger } from '../lib/observability/logger.ts';

// Cold start: configuration and clients once per container.
const config = loadConfig(['db', 'pipeline', 'invoke']);
const sql = createSql(config.db, { applicationName: 'certificates-scan' });
const dispatch = createLambdaDispatch(
  createLambdaClient(config.invoke, SCAN_INVOKE),
  config.invoke.GENERATE_FUNCTION_NAME,
);

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
  return {
    attemptsScanned: result.scanned,
    certificatesCreated: result.created,
    dispatched: result.dispatched.length,
    dispatchFailed: result.failed.length,
  };
};
