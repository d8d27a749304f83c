import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Dispatch } from '../certificates/ports.ts';
import type { Config } from '../config.ts';
import { ConfigurationError, errorMessage, TransientError } from '../errors.ts';
import { requestTimeouts } from '../request-timeouts.ts';

export type InvokeConfig = Config<'invoke'>['invoke'];

/** How long one invoke may take, and how often the SDK tries it. */
export interface InvokePolicy {
  attempts: number;
  connectionTimeoutMs: number;
  /**
   * Until the answer's headers, then the longest silence while reading it (requestTimeouts): an
   * asynchronous invoke is queued and answered at once.
   */
  requestTimeoutMs: number;
}

/**
 * The scan: two tries. Its claim margin (scan.ts CLAIM_STOP_MARGIN_MS) must exceed
 * worstInvokeMs of this, so a batch claimed just before it is still invoked before the timeout.
 */
export const SCAN_INVOKE: InvokePolicy = { attempts: 2, connectionTimeoutMs: 2_000, requestTimeoutMs: 5_000 };

/**
 * Routes that start a generation at once (ingestion, requeue, reissue) run in 10 s: one try
 * that ends well inside it, so the caller hears that its change was committed. What could not
 * be invoked is dispatched by the next scan.
 */
export const ROUTE_INVOKE: InvokePolicy = {
  attempts: 1,
  connectionTimeoutMs: 2_000,
  requestTimeoutMs: 3_000,
};

/** The longest a dispatch can take under `policy`, with a second between tries for the SDK's backoff. */
export function worstInvokeMs(policy: InvokePolicy): number {
  return (
    policy.attempts * (policy.connectionTimeoutMs + policy.requestTimeoutMs) + (policy.attempts - 1) * 1_000
  );
}

/**
 * One Lambda client per container; locally it talks to serverless-offline's Invoke API. Without
 * timeouts the SDK would wait without limit on a silent connection, and a scan or a route would
 * sit in it until its own timeout cut it off after its change was committed.
 */
export function createLambdaClient(config: InvokeConfig, policy: InvokePolicy = SCAN_INVOKE): LambdaClient {
  return new LambdaClient({
    region: config.AWS_REGION,
    ...(config.LAMBDA_ENDPOINT_URL ? { endpoint: config.LAMBDA_ENDPOINT_URL } : {}),
    maxAttempts: policy.attempts,
    requestHandler: requestTimeouts({
      answerMs: policy.requestTimeoutMs,
      connectMs: policy.connectionTimeoutMs,
    }),
  });
}

/** The payload `generate` receives. */
export interface GenerateEvent {
  certificateId: string;
}

/**
 * Fire-and-forget invocation of `generate` (InvocationType Event): Lambda queues it and answers
 * 202, so the scan's fan-out does not wait for any rendering.
 */
export function createLambdaDispatch(client: LambdaClient, functionName: string): Dispatch {
  const encoder = new TextEncoder();
  return async (certificateId) => {
    const payload: GenerateEvent = { certificateId };
    let status: number | undefined;
    try {
      const response = await client.send(
        new InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'Event',
          Payload: encoder.encode(JSON.stringify(payload)),
        }),
      );
      status = response.StatusCode;
    } catch (error) {
      const message = `invoke of ${functionName} failed: ${errorMessage(error)}`;
      throw refusedForSetup(error)
        ? new ConfigurationError(message, 'lambda')
        : new TransientError(message, 'lambda');
    }
    if (status !== 202) throw new TransientError(`invoke of ${functionName} answered ${status}`, 'lambda');
  };
}

/**
 * Lambda's answers that say how the stack is set up, and stay so until someone changes it: the
 * role lacks lambda:InvokeFunction on generate, GENERATE_FUNCTION_NAME names no function, the
 * credentials are unknown or expired, the function's KMS key refuses. Named, as S3's and the
 * secret stores' are (lib/storage/s3.ts, lib/secrets/secret-store.ts): other client faults of
 * Invoke are momentary (ResourceConflictException while an update runs, SnapStartNotReady while
 * a new version initialises, a quota), as are throttles, 5xx and the network.
 */
const SETUP_REFUSALS = new Set([
  'AccessDeniedException',
  'ResourceNotFoundException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
]);

function refusedForSetup(error: unknown): boolean {
  return error instanceof Error && (SETUP_REFUSALS.has(error.name) || /^KMS\w*Exception$/.test(error.name));
}
