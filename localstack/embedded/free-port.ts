import { createServer, type Server } from 'node:net';

/**
 * Asks the kernel for a free TCP port on loopback. Only for servers that cannot bind port 0
 * themselves and must be told their port up front (PostgreSQL, serverless offline): between
 * this probe and their bind another process may take the port, so their callers retry on
 * "address in use" (see startPostgres, startOffline). Everything that can bind port 0 does.
 */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Binds `server` on loopback (port 0: the kernel picks) and returns the port it got. */
export async function listenOnLoopback(
  server: Pick<Server, 'listen' | 'once' | 'address'>,
  port = 0,
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('server has no TCP address');
  return address.port;
}
