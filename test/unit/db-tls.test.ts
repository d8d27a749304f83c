import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/config.ts';
import { createSql } from '../../lib/db/client.ts';
import { migrateUp } from '../../lib/db/migrate.ts';
import { databaseTls } from '../../lib/db/tls.ts';

// The functions (createSql, postgres.js) and `npm run migrate` (migrateUp, node-pg-migrate on pg)
// must read DATABASE_URL's sslmode alike: one URL is documented for both. Each client connects to
// a stand-in PostgreSQL that answers SSLRequest, presents a certificate, records the startup
// message (plaintext or inside TLS) and then refuses the login, so each connection's TLS decision
// is observed from the server's side without a real database.

// Generated once with openssl (P-256, valid for 100 years): a test CA, a server certificate it
// signed for IP 127.0.0.1, one it signed for the name db.invalid (so connecting to 127.0.0.1
// with it fails the host-name check only), and an unrelated CA.
const TEST_CA = `-----BEGIN CERTIFICATE-----
MIIBmTCCAT+gAwIBAgIUZdth98Qstzmflih8SQY6WR4HNTwwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOZGItdGxzIHRlc3QgQ0EwIBcNMjYxMjA0MjAwOTI3WhgPMjEy
NjExMTAyMDA5MjdaMBkxFzAVBgNVBAMMDmRiLXRscyB0ZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEymdaIAHSsvhTvUj/CwIyYtXSM9DdnAqPjehQt0Il
R1G1Rz9+H3ej4IL3tp3briZ8IeLB5WvU3xG/886quALgO6NjMGEwHQYDVR0OBBYE
FEvm41Uekq7C+F70yvmjjnD45F6dMB8GA1UdIwQYMBaAFEvm41Uekq7C+F70yvmj
jnD45F6dMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIEMAoGCCqGSM49
BAMCA0gAMEUCIET7igo2lVd+dAoX21TAyEcmspmbDemi28JXvJbH0y1GAiEAjZJk
cQRww9c/+U1ezOvYMaWJLiwOEaTUhZbSvCNug1k=
-----END CERTIFICATE-----`;
const OTHER_CA = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUW7zchx60gX4D9tbI+CSR89wW+5MwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPZGItdGxzIG90aGVyIENBMCAXDTI2MTIwNDIwMDkyN1oYDzIx
MjYxMTEwMjAwOTI3WjAaMRgwFgYDVQQDDA9kYi10bHMgb3RoZXIgQ0EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQmpz6QhTE0mdwQMv63CpcPagv+e6C7hnSj4Jkv
lN7IRBuVwX16aORUQQtGDYU4RO0Qt506r3SLFWy807JLoiaho2MwYTAdBgNVHQ4E
FgQUJcsJj7rvc9Wy84N3y4mXldg7SNowHwYDVR0jBBgwFoAUJcsJj7rvc9Wy84N3
y4mXldg7SNowDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwCgYIKoZI
zj0EAwIDSAAwRQIgIVpTHKuyqgbBIl2lNFaW78AvZjlVEMKsZul3LlGCt3kCIQC/
GjNeukFYshJI/hOU7eS5mknLP6eoMEsxNQnzwr38Xw==
-----END CERTIFICATE-----`;
const SERVER_FOR_IP = {
  cert: `-----BEGIN CERTIFICATE-----
MIIBpDCCAUqgAwIBAgIUcFsZ71zNUsVgAVz/nvNJv34qHjowCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOZGItdGxzIHRlc3QgQ0EwIBcNMjYxMjA0MjAwOTI3WhgPMjEy
NjExMTAyMDA5MjdaMBQxEjAQBgNVBAMMCWRiLXRscyBpcDBZMBMGByqGSM49AgEG
CCqGSM49AwEHA0IABD8s6WF9tpSg/uMgLi9bka8TUcNXLIvYFJoGUZuvMgpVjHzW
WgXCHLYyVFJs1O7e9RNqVTbLtSz0G0nBDxNI9KqjczBxMA8GA1UdEQQIMAaHBH8A
AAEwCQYDVR0TBAIwADATBgNVHSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUyAW1
QIPThfGdSA5pEWgH+w44G6gwHwYDVR0jBBgwFoAUS+bjVR6SrsL4XvTK+aOOcPjk
Xp0wCgYIKoZIzj0EAwIDSAAwRQIhAJa1lJjdhPiPBeyJpF1pOw18HxzpsJc/HLG7
G2cV39tmAiAsoLWJpBN6unnelp/YVlsRieJB8sZKkALNDG3Mev5aQg==
-----END CERTIFICATE-----`,
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgzgSbgf5nPg99Mc/n
R9w5yYH7OBB35oB8wtHYF4qRL+KhRANCAAQ/LOlhfbaUoP7jIC4vW5GvE1HDVyyL
2BSaBlGbrzIKVYx81loFwhy2MlRSbNTu3vUTalU2y7Us9BtJwQ8TSPSq
-----END PRIVATE KEY-----`,
};
const SERVER_FOR_NAME = {
  cert: `-----BEGIN CERTIFICATE-----
MIIBrTCCAVKgAwIBAgIUcFsZ71zNUsVgAVz/nvNJv34qHjswCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOZGItdGxzIHRlc3QgQ0EwIBcNMjYxMjA0MjAwOTI3WhgPMjEy
NjExMTAyMDA5MjdaMBYxFDASBgNVBAMMC2RiLXRscyBuYW1lMFkwEwYHKoZIzj0C
AQYIKoZIzj0DAQcDQgAEjtCp9pEaHPCBfoVCUaMl0U3sbriUt+sDVy7dID3cGR3P
XB0A3A7PGfkScihm41mGKvOOoMD01NuGQCA3VNSeTaN5MHcwFQYDVR0RBA4wDIIK
ZGIuaW52YWxpZDAJBgNVHRMEAjAAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1Ud
DgQWBBQmUMFl587zagsjK4b0BR7eAfsnUDAfBgNVHSMEGDAWgBRL5uNVHpKuwvhe
9Mr5o45w+ORenTAKBggqhkjOPQQDAgNJADBGAiEAsTUN2OLXbtvgm556wzjCa1Un
k3CVL5r6MQMMiy0WkOkCIQDEhabFA/XbWe3z26J/sGi8noiOyC/trImYmGfetGmk
gw==
-----END CERTIFICATE-----`,
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfyYcxK6jjB8LcWoT
ElV2RDOr/49vehQT+fCCsTL2W2mhRANCAASO0Kn2kRoc8IF+hUJRoyXRTexuuJS3
6wNXLt0gPdwZHc9cHQDcDs8Z+RJyKGbjWYYq846gwPTU24ZAIDdU1J5N
-----END PRIVATE KEY-----`,
};
const SSL_REQUEST_CODE = 80877103;

type Outcome = 'plaintext' | 'tls' | 'certificate refused' | 'no connection';

interface Connection {
  tls: boolean;
  parameters: Record<string, string> | null;
}

/** Resolves with the next length-prefixed message (SSLRequest or StartupMessage), or null. */
function nextMessage(stream: Duplex): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    const done = (message: Buffer | null) => {
      stream.off('data', onData);
      stream.off('close', onClose);
      resolve(message);
    };
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length >= 4 && buffer.length >= buffer.readInt32BE(0)) done(buffer);
    };
    const onClose = () => done(null);
    stream.on('data', onData);
    stream.on('close', onClose);
  });
}

function startupParameters(message: Buffer): Record<string, string> {
  const fields = message.subarray(8).toString('utf8').split('\0');
  const parameters: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length && fields[i] !== ''; i += 2) {
    parameters[fields[i] as string] = fields[i + 1] as string;
  }
  return parameters;
}

/** A FATAL ErrorResponse: both clients give up on the connection and reject. */
function loginRefused(): Buffer {
  const fields = Buffer.from('SFATAL\0VFATAL\0C28000\0Mstand-in refuses every login\0\0');
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

async function answerStartup(stream: Duplex, connection: Connection): Promise<void> {
  const startup = await nextMessage(stream);
  if (startup === null) return;
  connection.parameters = startupParameters(startup);
  stream.end(loginRefused());
}

async function serve(socket: Socket, identity: { cert: string; key: string }, connection: Connection) {
  const first = await nextMessage(socket);
  if (first === null) return;
  if (first.length !== 8 || first.readInt32BE(4) !== SSL_REQUEST_CODE) {
    connection.parameters = startupParameters(first);
    socket.end(loginRefused());
    return;
  }
  connection.tls = true;
  socket.write('S');
  const secure = new TLSSocket(socket, { isServer: true, secureContext: createSecureContext(identity) });
  // A client that refuses the certificate aborts the handshake; that is an expected outcome here.
  secure.on('error', () => undefined);
  await answerStartup(secure, connection);
}

interface StandIn {
  port: number;
  connections: Connection[];
  server: Server;
}

async function standIn(identity: { cert: string; key: string }): Promise<StandIn> {
  const connections: Connection[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    const connection: Connection = { tls: false, parameters: null };
    connections.push(connection);
    void serve(socket, identity, connection);
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('stand-in has no port');
  return { port: address.port, connections, server };
}

const clients = {
  functions: async (url: string) => {
    const sql = createSql({ DATABASE_URL: url, DB_POOL_MAX: 1, DB_CONNECT_TIMEOUT_SECONDS: 10 });
    try {
      await sql`SELECT 1`;
    } finally {
      await sql.end({ timeout: 0 });
    }
  },
  migrate: async (url: string) => {
    await migrateUp({ DATABASE_URL: url, DB_CONNECT_TIMEOUT_SECONDS: 10 });
  },
};

let dir: string;
let forIp: StandIn;
let forName: StandIn;
const certFiles = { test: '', other: '', notPem: '' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'db-tls-'));
  certFiles.test = join(dir, 'test-ca.pem');
  certFiles.other = join(dir, 'other-ca.pem');
  await writeFile(certFiles.test, TEST_CA);
  await writeFile(certFiles.other, OTHER_CA);
  // A certificate in DER (binary), as some downloads come: not usable as sslrootcert.
  certFiles.notPem = join(dir, 'not-pem.der');
  await writeFile(certFiles.notPem, Buffer.from(TEST_CA.split('\n').slice(1, -1).join(''), 'base64'));
  forIp = await standIn(SERVER_FOR_IP);
  forName = await standIn(SERVER_FOR_NAME);
});

afterAll(async () => {
  for (const stand of [forIp, forName]) {
    await new Promise((resolve) => stand.server.close(resolve));
  }
  await rm(dir, { recursive: true, force: true });
});

/** Node's codes for a server certificate that fails verification (chain or host name). */
function isCertificateError(error: unknown): boolean {
  const code = error instanceof Error && 'code' in error ? String(error.code) : '';
  return /CERT|SIGNATURE|ISSUER/.test(code);
}

/** What the stand-in saw of one client's attempt (which always fails: it refuses the login). */
async function attempt(
  stand: StandIn,
  client: keyof typeof clients,
  query: string,
): Promise<{ outcome: Outcome | `failed: ${string}`; parameters: string[] }> {
  stand.connections.length = 0;
  const url = `postgres://certificates:secret@127.0.0.1:${stand.port}/certificates${query === '' ? '' : `?${query}`}`;
  const failure = await clients[client](url).then(
    () => new Error('connected'),
    (error: unknown) => error,
  );
  expect(stand.connections.length, `${client}: connections`).toBeLessThanOrEqual(1);
  const [connection] = stand.connections;
  if (connection === undefined) return { outcome: 'no connection', parameters: [] };
  if (connection.parameters === null) {
    const refused = connection.tls && isCertificateError(failure);
    return { outcome: refused ? 'certificate refused' : `failed: ${String(failure)}`, parameters: [] };
  }
  expect(String(failure)).toContain('stand-in refuses every login');
  return { outcome: connection.tls ? 'tls' : 'plaintext', parameters: Object.keys(connection.parameters) };
}

/** Both clients refuse `url` with a ConfigError naming DATABASE_URL, and none connects. */
async function expectBothRefuse(url: string, message: RegExp): Promise<void> {
  forIp.connections.length = 0;
  for (const client of Object.values(clients)) {
    const failure = await client(url).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as ConfigError).variables).toEqual(['DATABASE_URL']);
    expect((failure as ConfigError).message).toMatch(message);
  }
  expect(forIp.connections).toEqual([]);
}

describe('TLS to PostgreSQL from DATABASE_URL', () => {
  // [stand-in, query string (ROOT = the test CA's file, OTHER = an unrelated CA's), outcome]
  const cases: [string, 'ip' | 'name', string, Outcome][] = [
    ['no sslmode: no TLS', 'ip', '', 'plaintext'],
    ['disable: no TLS', 'ip', 'sslmode=disable', 'plaintext'],
    ['require: encrypted, certificate not verified', 'ip', 'sslmode=require', 'tls'],
    [
      'verify-full: a CA outside the trust store is refused',
      'ip',
      'sslmode=verify-full',
      'certificate refused',
    ],
    [
      'verify-full: sslrootcert=system is the trust store',
      'ip',
      'sslmode=verify-full&sslrootcert=system',
      'certificate refused',
    ],
    ['verify-full with the CA in sslrootcert', 'ip', 'sslmode=verify-full&sslrootcert=ROOT', 'tls'],
    [
      'verify-full trusts only the sslrootcert file',
      'ip',
      'sslmode=verify-full&sslrootcert=OTHER',
      'certificate refused',
    ],
    [
      'verify-full checks the host name',
      'name',
      'sslmode=verify-full&sslrootcert=ROOT',
      'certificate refused',
    ],
    ['verify-ca checks the chain, not the host name', 'name', 'sslmode=verify-ca&sslrootcert=ROOT', 'tls'],
    [
      'verify-ca refuses a chain to another CA',
      'name',
      'sslmode=verify-ca&sslrootcert=OTHER',
      'certificate refused',
    ],
    [
      'require with sslrootcert verifies the chain (libpq)',
      'name',
      'sslmode=require&sslrootcert=OTHER',
      'certificate refused',
    ],
  ];

  it.each(cases)(
    '%s, identically in the functions and in migrate',
    async (_name, server, query, expected) => {
      const stand = server === 'ip' ? forIp : forName;
      const resolved = query.replace('ROOT', certFiles.test).replace('OTHER', certFiles.other);
      const functions = await attempt(stand, 'functions', resolved);
      const migrate = await attempt(stand, 'migrate', resolved);
      expect({ functions: functions.outcome, migrate: migrate.outcome }).toEqual({
        functions: expected,
        migrate: expected,
      });
      // sslmode and sslrootcert are the clients' settings, never sent to the server as its own
      // (PostgreSQL refuses the login on an unknown parameter).
      for (const parameters of [functions.parameters, migrate.parameters]) {
        expect(parameters.filter((name) => name.startsWith('ssl'))).toEqual([]);
      }
    },
  );

  const refused: [string, RegExp][] = [
    ['sslmode=prefer', /sslmode=prefer is not supported: use disable, require, verify-ca, verify-full/],
    ['sslmode=verify-ca', /sslmode=verify-ca needs sslrootcert/],
    ['sslmode=require&sslrootcert=system', /sslrootcert=system needs sslmode=verify-full \(not require\)/],
    ['sslmode=verify-full&sslrootcert=MISSING', /sslrootcert .*missing\.pem cannot be read/],
    ['sslmode=verify-full&sslrootcert=NOTPEM', /sslrootcert .*not-pem\.der holds no PEM certificate/],
    ['sslmode=require&sslmode=disable', /has sslmode more than once/],
    ['ssl=true', /parameter ssl is not supported/],
    ['sslmode=require&sslcert=client.pem', /parameter sslcert is not supported/],
    // pg would connect to these instead of the URL's host; postgres.js would send them as settings.
    ['host=127.0.0.2', /must not carry a host= parameter/],
    ['hostaddr=127.0.0.1', /must not carry a hostaddr= parameter/],
    ['sslmode=disable&port=5432', /must not carry a port= parameter/],
  ];

  it.each(refused)('refuses %s in both, naming DATABASE_URL, before connecting', async (query, message) => {
    const resolved = query.replace('MISSING', join(dir, 'missing.pem')).replace('NOTPEM', certFiles.notPem);
    await expectBothRefuse(
      `postgres://certificates:secret@127.0.0.1:${forIp.port}/certificates?${resolved}`,
      message,
    );
  });
});

describe('the host in DATABASE_URL', () => {
  it('refuses several hosts in both clients, before connecting: pg could not take them', async () => {
    await expectBothRefuse(
      `postgres://certificates:secret@127.0.0.1:${forIp.port},127.0.0.1:${forIp.port}/certificates`,
      /must name one host, not several/,
    );
  });

  it('keeps the host and the other parameters, and drops only sslmode and sslrootcert', () => {
    const tls = databaseTls('postgres://u:p@h1.example:5432/db?sslmode=require&application_name=x');
    expect(tls.url).toBe('postgres://u:p@h1.example:5432/db?application_name=x');
    expect(tls.ssl).toEqual({ rejectUnauthorized: false });
    // pg's `no-verify` is libpq's `require`.
    expect(databaseTls('postgres://u@h/db?sslmode=no-verify').ssl).toEqual({ rejectUnauthorized: false });
  });

  it("verify-full checks the certificate against the URL's host, whatever name the socket used", () => {
    const tls = databaseTls('postgres://u@127.0.0.1:5432/db?sslmode=verify-full');
    if (tls.ssl === false || !tls.ssl.checkServerIdentity) throw new Error('expected a host check');
    const check = tls.ssl.checkServerIdentity;
    const certificateFor = (name: string) =>
      ({ subject: { CN: name }, subjectaltname: `DNS:${name}` }) as unknown as Parameters<typeof check>[1];
    const certificateForIp = (ip: string) =>
      ({ subject: { CN: 'db' }, subjectaltname: `IP Address:${ip}` }) as unknown as Parameters<
        typeof check
      >[1];
    // postgres.js gives Node no servername for an IP, which then checks "localhost".
    expect(check('localhost', certificateForIp('127.0.0.1'))).toBeUndefined();
    expect(check('localhost', certificateFor('localhost'))).toBeInstanceOf(Error);
    const named = databaseTls('postgres://u@db.example/db?sslmode=verify-full');
    if (named.ssl === false || !named.ssl.checkServerIdentity) throw new Error('expected a host check');
    expect(named.ssl.checkServerIdentity('db.example', certificateFor('evil.example'))).toBeInstanceOf(Error);
    // No host in the URL (a socket path): the name Node connected with is checked.
    const socket = databaseTls('postgres://u@/db?sslmode=verify-full');
    if (socket.ssl === false || !socket.ssl.checkServerIdentity) throw new Error('expected a host check');
    expect(socket.ssl.checkServerIdentity('db.example', certificateFor('evil.example'))).toBeInstanceOf(
      Error,
    );
    expect(socket.ssl.checkServerIdentity('db.example', certificateFor('db.example'))).toBeUndefined();
  });
});
