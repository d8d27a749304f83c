import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Dispatch } from '../certificates/ports.ts';
import type { Config } from '../config.ts';
import { errorMessage, TransientError } from '../errors.ts';

export type InvokeConfig = Config<'invoke'>['invoke'];

/**
 * One Lambda client per container; locally it talks to serverless-offline's Invoke API. An
 * asynchronous invoke is queued by Lambda and answered at once: a connection silent for 10 s
 * has failed (the SDK's default would wait without limit, and a scan would sit in it until its
 * own 60 s timeout).
 */
export function createLambdaClient(config: InvokeConfig): LambdaClient {
  return new LambdaClient({
    region: config.AWS_REGION,
    ...(config.LAMBDA_ENDPOINT_URL ? { endpoint: config.LAMBDA_ENDPOINT_URL } : {}),
    maxAttempts: 3,
    requestHandler: { requestTimeout: 10_000, connectionTimeout: 5_000, throwOnRequestTimeout: true },
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
      throw new TransientError(`invoke of ${functionName} failed: ${errorMessage(error)}`, 'lambda');
    }
    if (status !== 202) throw new TransientError(`invoke of ${functionName} answered ${status}`, 'lambda');
  };
}
