import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for SSM Parameter Store and Secrets Manager that speaks their real wire protocol
 * (AWS JSON 1.1: POST /, `X-Amz-Target: AmazonSSM.GetParameter` or
 * `secretsmanager.GetSecretValue`), so the AWS SDK clients inside Powertools Parameters run
 * unchanged against it. Neither service can run on this machine. It does not check SigV4.
 */
export interface SecretsStandIn {
  url: string;
  /** Values by ARN; change them to simulate a rotation. */
  values: Map<string, string>;
  /** Requests received, by target, to check caching. */
  calls: { target: string; id: string }[];
  close(): Promise<void>;
}

export async function startSecretsStandIn(values: Record<string, string> = {}): Promise<SecretsStandIn> {
  const store = new Map(Object.entries(values));
  const calls: { target: string; id: string }[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString('utf8');
    });
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const input = JSON.parse(body || '{}') as { Name?: string; SecretId?: string };
      const id = input.Name ?? input.SecretId ?? '';
      calls.push({ target, id });
      const value = store.get(id);
      const send = (status: number, payload: unknown) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify(payload));
      };
      if (target === 'AmazonSSM.GetParameter') {
        if (value === undefined) return send(400, { __type: 'ParameterNotFound', message: 'not found' });
        return send(200, {
          Parameter: { Name: id, ARN: id, Type: 'SecureString', Value: value, Version: 1 },
        });
      }
      if (target === 'secretsmanager.GetSecretValue') {
        if (value === undefined)
          return send(400, {
            __type: 'ResourceNotFoundException',
            Message: 'Secrets Manager cannot find it',
          });
        return send(200, { ARN: id, Name: id, SecretString: value, VersionId: 'v1' });
      }
      return send(400, { __type: 'UnknownOperationException', message: target });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    values: store,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
