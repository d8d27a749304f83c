import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An SQS queue for tests, speaking the protocol the AWS SDK v3 SQS client uses (AWS JSON 1.0:
 * `POST /` with `x-amz-target: AmazonSQS.<Operation>`), with the two operations the
 * failed-invocations script calls: ReceiveMessage (visibility timeout honoured, MD5OfBody given,
 * as the SDK checks it), ChangeMessageVisibilityBatch and DeleteMessage. `msPerSecond` shortens the visibility timeout, so a
 * test sees a message come back without waiting 30 s. Signatures are not checked.
 */
export interface SqsStandIn {
  queueUrl: string;
  send(body: string): string;
  /** Bodies still in the queue (visible or not). */
  bodies(): string[];
  /** Bodies a receive would return now. */
  visible(): string[];
  stop(): Promise<void>;
}

interface StoredMessage {
  id: string;
  body: string;
  visibleAt: number;
  receipt: string;
}

export async function startSqsStandIn(options: { msPerSecond?: number } = {}): Promise<SqsStandIn> {
  const msPerSecond = options.msPerSecond ?? 1000;
  const messages: StoredMessage[] = [];
  const answer = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      raw += chunk;
    });
    req.on('end', () => {
      const operation = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
      const input = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
      if (operation === 'ReceiveMessage') {
        const now = Date.now();
        const max = Number(input.MaxNumberOfMessages ?? 1);
        const visibility = Number(input.VisibilityTimeout ?? 30) * msPerSecond;
        const picked = messages.filter((message) => message.visibleAt <= now).slice(0, max);
        for (const message of picked) {
          message.visibleAt = now + visibility;
          message.receipt = randomUUID();
        }
        return answer(res, 200, {
          Messages: picked.map((message) => ({
            MessageId: message.id,
            ReceiptHandle: message.receipt,
            MD5OfBody: createHash('md5').update(message.body).digest('hex'),
            Body: message.body,
          })),
        });
      }
      if (operation === 'ChangeMessageVisibilityBatch') {
        const entries = (input.Entries ?? []) as {
          Id: string;
          ReceiptHandle: string;
          VisibilityTimeout: number;
        }[];
        for (const entry of entries) {
          const message = messages.find((candidate) => candidate.receipt === entry.ReceiptHandle);
          if (message) message.visibleAt = Date.now() + entry.VisibilityTimeout * msPerSecond;
        }
        return answer(res, 200, { Successful: entries.map((entry) => ({ Id: entry.Id })), Failed: [] });
      }
      if (operation === 'DeleteMessage') {
        const index = messages.findIndex((message) => message.receipt === input.ReceiptHandle);
        if (index >= 0) messages.splice(index, 1);
        return answer(res, 200, {});
      }
      return answer(res, 400, {
        __type: 'com.amazonaws.sqs#InvalidAction',
        message: `not in the stand-in: ${operation}`,
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    queueUrl: `http://127.0.0.1:${port}/000000000000/generate-failures`,
    send(body) {
      const id = randomUUID();
      messages.push({ id, body, visibleAt: 0, receipt: '' });
      return id;
    },
    bodies: () => messages.map((message) => message.body),
    visible: () =>
      messages.filter((message) => message.visibleAt <= Date.now()).map((message) => message.body),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
