import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

/** A real local HTTP receiver for webhook deliveries: records each request, answers as told. */

export interface ReceivedWebhook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** An answer with headers, e.g. a 429 with `retry-after`. */
export interface ReceiverReply {
  status: number;
  headers: Record<string, string>;
}

export interface WebhookReceiver {
  url: string;
  port: number;
  received: ReceivedWebhook[];
  /** Statuses (or statuses with headers) for the next requests, in order; 204 once they are used up. */
  answer(...replies: (number | ReceiverReply)[]): void;
  /** Forgets what it received and the answers not used yet: a failed test's leftovers stay there. */
  reset(): void;
  /** The headers of the n-th request as the `standardwebhooks` package expects them. */
  headersOf(index: number): SignedHeaders;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(path = '/hooks'): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const queue: (number | ReceiverReply)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const reply = queue.shift() ?? 204;
      if (typeof reply === 'number') res.writeHead(reply);
      else res.writeHead(reply.status, reply.headers);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('receiver has no port');
  return {
    url: `http://127.0.0.1:${address.port}${path}`,
    port: address.port,
    received,
    answer: (...replies) => {
      queue.push(...replies);
    },
    reset: () => {
      received.length = 0;
      queue.length = 0;
    },
    headersOf(index) {
      const headers = received[index]?.headers ?? {};
      return {
        'webhook-id': String(headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(headers['webhook-signature'] ?? ''),
      };
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
