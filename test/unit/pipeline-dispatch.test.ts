import { readFileSync } from 'node:fs';
import type { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { CLAIM_STOP_MARGIN_MS } from '../../lib/certificates/scan.ts';
import { TransientError } from '../../lib/errors.ts';
import { GENERATE_MAX_EVENT_AGE_SECONDS } from '../../lib/invoke/failure-queue.ts';
import {
  createLambdaClient,
  createLambdaDispatch,
  ROUTE_INVOKE,
  SCAN_INVOKE,
  worstInvokeMs,
} from '../../lib/invoke/lambda-dispatch.ts';
import { stallingServer } from '../support/stalling-server.ts';

// Lambda is an AWS-only service: a stub client stands in for it here; the end-to-end test
// goes through serverless-offline's real Invoke API.
function stubClient(answer: () => Promise<{ StatusCode?: number }>) {
  const sent: InvokeCommand[] = [];
  const client = {
    send: async (command: InvokeCommand) => {
      sent.push(command);
      return await answer();
    },
  } as unknown as LambdaClient;
  return { client, sent };
}

describe('Lambda dispatch', () => {
  it('invokes generate asynchronously with the certificate id as payload', async () => {
    const { client, sent } = stubClient(async () => ({ StatusCode: 202 }));
    await createLambdaDispatch(client, 'svc-stage-generate')('3f1c1d9e-0000-4000-8000-000000000001');
    expect(sent).toHaveLength(1);
    const input = sent[0]?.input;
    expect(input?.FunctionName).toBe('svc-stage-generate');
    expect(input?.InvocationType).toBe('Event');
    expect(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array))).toEqual({
      certificateId: '3f1c1d9e-0000-4000-8000-000000000001',
    });
  });

  it('turns a failed or non-202 invoke into a transient error the scan can release', async () => {
    const refused = stubClient(async () => {
      throw new Error('connect ECONNREFUSED');
    });
    await expect(createLambdaDispatch(refused.client, 'f')('id')).rejects.toThrow(TransientError);
    const odd = stubClient(async () => ({ StatusCode: 200 }));
    await expect(createLambdaDispatch(odd.client, 'f')('id')).rejects.toThrow(/answered 200/);
  });

  it('a dispatch ends inside the timeout of every function that makes one', () => {
    const yaml = load(readFileSync('serverless.yml', 'utf8')) as {
      provider: { timeout: number };
      functions: Record<string, { handler: string; timeout?: number }>;
    };
    const timeoutOf = (handler: string) => {
      const fn = Object.values(yaml.functions).find((f) => f.handler === handler);
      if (!fn) throw new Error(`no function ${handler}`);
      return (fn.timeout ?? yaml.provider.timeout) * 1000;
    };
    // The routes that dispatch at once (lib/http/dispatch-deps.ts): one try, with seconds to spare
    // for the database work before it and the answer after it.
    for (const route of ['create-attempt', 'requeue-certificate', 'reissue-certificate'])
      expect(worstInvokeMs(ROUTE_INVOKE) + 4_000, route).toBeLessThanOrEqual(
        timeoutOf(`functions/http/${route}.handler`),
      );
    // The scan stops claiming early enough to invoke its last batch with every try it has.
    expect(worstInvokeMs(SCAN_INVOKE)).toBeLessThan(CLAIM_STOP_MARGIN_MS);
    expect(CLAIM_STOP_MARGIN_MS).toBeLessThan(timeoutOf('functions/scan.handler'));
  });

  it("knows generate's maximum event age, which dates an event Lambda drops for its age", () => {
    const yaml = load(readFileSync('serverless.yml', 'utf8')) as {
      functions: Record<string, { handler: string; maximumEventAge?: number }>;
    };
    const generate = Object.values(yaml.functions).find((f) => f.handler === 'functions/generate.handler');
    expect(generate?.maximumEventAge).toBe(GENERATE_MAX_EVENT_AGE_SECONDS);
  });

  it.each([
    // Accepts connections and reads requests, never answers (a black-holed endpoint).
    ['never answers', ''],
    // Lambda's 429 headers and part of its JSON, then silence: the SDK's requestTimeout has ended
    // at the headers, so only the socket timeout bounds the body (aws/aws-sdk-js-v3#8098).
    [
      'stops answering half way',
      'HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"Type":"User","message":"Rate',
    ],
  ])(
    "a route's dispatch to a Lambda API that %s is one try, then a transient error, not a hang",
    async (_case, head) => {
      const stalled = await stallingServer(head);
      try {
        const client = createLambdaClient(
          { AWS_REGION: 'us-east-1', LAMBDA_ENDPOINT_URL: stalled.url, GENERATE_FUNCTION_NAME: 'g' },
          ROUTE_INVOKE,
        );
        client.config.credentials = async () => ({ accessKeyId: 'a', secretAccessKey: 'b' });
        await expect(
          createLambdaDispatch(client, 'g')('3f1c1d9e-0000-4000-8000-000000000001'),
        ).rejects.toThrow(TransientError);
        expect(stalled.requests()).toBe(ROUTE_INVOKE.attempts);
        client.destroy();
      } finally {
        await stalled.close();
      }
    },
  );
});
