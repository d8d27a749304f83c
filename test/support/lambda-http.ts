import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LambdaHttpHandler } from '../../lib/http/route.ts';
import { apiEvent, lambdaContext } from '../e2e/http-fixtures.ts';

/**
 * Serves HTTP API handlers in-process on an ephemeral port (the OS picks it: no port race), so
 * a real browser can open a page served by the real handler. Routes are "GET /path/{param}".
 */
export interface LambdaHttpServer {
  baseUrl: string;
  close(): Promise<void>;
}

export async function serveHandlers(routes: Record<string, LambdaHttpHandler>): Promise<LambdaHttpServer> {
  const table = Object.entries(routes).map(([routeKey, handler]) => {
    const [method = 'GET', path = '/'] = routeKey.split(' ');
    const names: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/[.]/g, '\\.').replace(/\{(\w+)\}/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      })}$`,
    );
    return { method, path, pattern, names, handler };
  });
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const route = table.find((entry) => entry.method === request.method && entry.pattern.test(url.pathname));
    if (!route) {
      response.writeHead(404).end();
      return;
    }
    const match = route.pattern.exec(url.pathname) ?? [];
    const pathParameters = Object.fromEntries(
      route.names.map((name, index) => [name, decodeURIComponent(match[index + 1] ?? '')]),
    );
    const headers = Object.fromEntries(
      Object.entries(request.headers).flatMap(([name, value]) =>
        typeof value === 'string' ? [[name, value]] : [],
      ),
    );
    const event = apiEvent(route.method, route.path, { pathParameters, headers });
    route
      .handler(event, lambdaContext())
      .then((result) => response.writeHead(result.statusCode, result.headers).end(result.body))
      .catch(() => response.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
