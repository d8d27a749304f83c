import { isIP } from 'node:net';

/**
 * The host to put in the URLs npm start hands out (API, Lambda endpoint, verification links)
 * for the interface it listens on: a wildcard address names no machine a client can reach, so
 * those URLs name loopback (another device needs VERIFY_BASE_URL and PUBLIC_API_BASE_URL set to
 * this machine's address), and an IPv6 address is bracketed, as a URL requires.
 */
export function urlHost(listenHost: string): string {
  if (listenHost === '0.0.0.0') return '127.0.0.1';
  if (listenHost === '::' || listenHost === '[::]') return '[::1]';
  return isIP(listenHost) === 6 ? `[${listenHost}]` : listenHost;
}
