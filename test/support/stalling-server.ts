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
