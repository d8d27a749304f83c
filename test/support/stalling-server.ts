import { createServer, type Socket } from 'node:net';

/**
 * A loopback server that answers each request with `head` (a status line, headers and part of a
 * body, or '' for nothing at all) and then stays silent, counting the requests: what a stalled
 * or black-holed endpoint looks like to an SDK client. Tests bound a client's timeouts with it.
 * With '' it is also a database behind a tunnel or proxy whose far end never answers.
 */
export async function stallingServer(head: string) {
  const sockets: Socket[] = [];
  let requests = 0;
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk) => {
      if (!/^(PUT|GET|POST) /.test(chunk.toString('latin1'))) return;
      requests++;
      if (head !== '') socket.write(head);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    requests: () => requests,
    /** Connections accepted so far, whatever was sent on them. */
    connections: () => sockets.length,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A loopback server that closes each connection as soon as it accepts it (a FIN, no byte sent),
 * counting them: what an ssh, SSM or kubectl port-forward looks like when its far end refuses.
 */
export async function closingServer() {
  let connections = 0;
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    connections++;
    sockets.push(socket);
    // Reading, so the client's own close is seen and the socket goes away as a real peer's does.
    socket.resume();
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    connections: () => connections,
    close: async () => {
      // A client that has not closed its side yet would keep close() waiting.
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
