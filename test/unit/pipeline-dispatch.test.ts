import type { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { TransientError } from '../../lib/errors.ts';
import { createLambdaDispatch } from '../../lib/invoke/lambda-dispatch.ts';

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
});
