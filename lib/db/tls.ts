import { readFileSync } from 'node:fs';
import {
  type ConnectionOptions,
  checkServerIdentity,
  createSecureContext,
  type SecureContext,
} from 'node:tls';
import { ConfigError, databaseHostProblem } from '../config.ts';

/**
 * TLS to PostgreSQL, decided once from DATABASE_URL for both clients: postgres.js (the functions,
 * lib/db/client.ts) and pg (node-pg-migrate, lib/db/migrate.ts). Left to themselves they read
 * `sslmode` differently: postgres.js takes `require` as "encrypt, do not verify" like libpq,
 * while pg-connection-string 2.x takes `require` and `verify-ca` as `verify-full`. The same URL
 * then worked in the functions and failed in `npm run migrate` (or the reverse), so both get
 * the explicit options built here and a URL from which the TLS parameters are removed: pg would
 * otherwise re-derive TLS from them, and postgres.js would send `sslrootcert` to the server as a
 * setting, which the server refuses.
 *
 * The modes follow libpq (https://www.postgresql.org/docs/current/libpq-ssl.html):
 * - no `sslmode`, or `disable`: no TLS (libpq's default `prefer` would try TLS and fall back to
 *   plaintext; the clients do not agree on that fallback, so it is not offered).
 * - `require`: encrypted, but the server's certificate is NOT verified, so an attacker on the
 *   network path can impersonate the server and read the password. As in libpq, adding
 *   `sslrootcert=<file>` makes it verify the chain (like `verify-ca`).
 * - `verify-ca`: the chain must lead to `sslrootcert=<file>` (required, as libpq requires a root
 *   certificate); the host name is not checked.
 * - `verify-full`: chain and host name. The chain is checked against `sslrootcert=<file>` if
 *   given (that file only, as libpq does), else against Node's trust store, which includes
 *   NODE_EXTRA_CA_CERTS (on Lambda, e.g. /var/runtime/ca-cert.pem with the Amazon RDS CAs).
 *   `sslrootcert=system` names Node's trust store explicitly (and, alone, implies verify-full).
 * Every other TLS parameter (`ssl`, `sslcert`, `sslnegotiation`, ...) is refused rather than
 * read by one client and ignored by the other.
 */
export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface DatabaseTls {
  /** DATABASE_URL without `sslmode` and `sslrootcert` (unchanged when it had neither). */
  url: string;
  /** The `ssl` option for both clients: false for plaintext, else Node's tls.connect options. */
  ssl: false | ConnectionOptions;
}

const CONSUMED = ['sslmode', 'sslrootcert'];

function invalid(message: string): ConfigError {
  return new ConfigError([{ variable: 'DATABASE_URL', message }]);
}

function isSslMode(value: string): value is SslMode {
  return (SSL_MODES as readonly string[]).includes(value);
}

export function databaseTls(databaseUrl: string): DatabaseTls {
  // Read by hand rather than with `new URL`, so that the URL goes on to the clients exactly as
  // given but for the parameters consumed here.
  const match = /^(postgres(?:ql)?:\/\/(?:[^@/?#]*@)?([^/?#]*)[^?#]*)(?:\?([^#]*))?$/.exec(databaseUrl);
  if (!match) throw invalid('must be a URL like postgres://user:password@host:5432/database');
  // Checked again here for URLs that did not come through lib/config.ts (the benchmark, tests):
  // several hosts, or a host the two clients would read differently, reach neither client.
  const hostProblem = databaseHostProblem(databaseUrl);
  if (hostProblem !== undefined) throw invalid(hostProblem);
  const [, base = '', authority = '', query = ''] = match;
  // '' for a socket (postgres://u@/db).
  const host = authority.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  const params = new URLSearchParams(query);
  for (const name of new Set(params.keys())) {
    if (CONSUMED.includes(name)) {
      if (params.getAll(name).length > 1) throw invalid(`has ${name} more than once`);
    } else if (name.startsWith('ssl') || name === 'requiressl' || name === 'uselibpqcompat') {
      throw invalid(`parameter ${name} is not supported (TLS is set with sslmode and sslrootcert only)`);
    }
  }

  const rootCert = params.get('sslrootcert');
  if (rootCert === '') throw invalid('sslrootcert is empty: give a file of PEM certificates, or system');
  // As in libpq, `sslrootcert=system` alone means verify-full.
  const given = params.get('sslmode') ?? (rootCert === 'system' ? 'verify-full' : 'disable');
  // pg's own name for libpq's `require` (encrypt, do not verify), which URLs written for it carry.
  const mode = given === 'no-verify' ? 'require' : given;
  if (!isSslMode(mode)) {
    throw invalid(`sslmode=${mode} is not supported: use ${SSL_MODES.join(', ')}`);
  }
  // libpq refuses `system` with any other mode: against the public roots, a chain-only check
  // would accept any holder of any publicly trusted certificate.
  if (rootCert === 'system' && mode !== 'verify-full') {
    throw invalid(`sslrootcert=system needs sslmode=verify-full (not ${mode})`);
  }
  // Parsed once into a context that every connection reuses: passing the PEM text as `ca` would
  // parse the whole bundle again on each connection (~30 ms for 150 certificates).
  const ca =
    mode === 'disable' || rootCert === null || rootCert === 'system'
      ? undefined
      : createSecureContext({ ca: readRootCert(rootCert) });

  const stripped = CONSUMED.some((name) => params.has(name));
  for (const name of CONSUMED) params.delete(name);
  const rest = params.toString();
  const cleanUrl = stripped ? `${base}${rest ? `?${rest}` : ''}` : databaseUrl;

  return { url: cleanUrl, ssl: tlsOptions(mode, ca, host) };
}

function readRootCert(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw invalid(
      `sslrootcert ${path} cannot be read (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  // Node skips what is not a certificate without a word, which would leave an empty trust list
  // and a "unable to get local issuer certificate" on every connection.
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw invalid(`sslrootcert ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return pem;
}

function tlsOptions(mode: SslMode, ca: SecureContext | undefined, host: string): false | ConnectionOptions {
  switch (mode) {
    case 'disable':
      return false;
    case 'require':
      // Encryption only: the certificate is accepted whoever signed it (see above), unless a
      // root certificate is given, which libpq then uses to check the chain.
      return ca === undefined ? { rejectUnauthorized: false } : chainOnly(ca);
    case 'verify-ca':
      if (ca === undefined) {
        throw invalid(
          'sslmode=verify-ca needs sslrootcert=<file of the CA certificates>; or use verify-full',
        );
      }
      return chainOnly(ca);
    case 'verify-full': {
      // The host is checked against the URL's host explicitly: postgres.js sets no `servername`
      // for an IP address, and Node then checks the certificate against "localhost".
      const identity: ConnectionOptions = {
        rejectUnauthorized: true,
        checkServerIdentity: (name, certificate) => checkServerIdentity(host || name, certificate),
      };
      return ca === undefined ? identity : { ...identity, secureContext: ca };
    }
  }
}

function chainOnly(ca: SecureContext): ConnectionOptions {
  return { rejectUnauthorized: true, secureContext: ca, checkServerIdentity: () => undefined };
}
