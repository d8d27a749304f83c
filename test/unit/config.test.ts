import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { certificateKey } from '../../lib/certificates/generate.ts';
import { CLAIM_STOP_MARGIN_MS } from '../../lib/certificates/scan.ts';
import { ConfigError, loadConfig, type SectionName } from '../../lib/config.ts';
import { REQUIRED_ENV } from '../support/required-env.ts';

describe('loadConfig', () => {
  it('parses a valid database section with defaults', () => {
    const config = loadConfig(['db'], { DATABASE_URL: 'postgres://u:p@localhost:5432/db' });
    expect(config.db.DATABASE_URL).toBe('postgres://u:p@localhost:5432/db');
    expect(config.db.DB_POOL_MAX).toBe(2);
  });

  it("refuses webhook settings whose worst round cannot finish within deliverWebhooks' timeout", () => {
    const timeout = { WEBHOOK_FUNCTION_TIMEOUT_SECONDS: '180' };
    // The defaults: 7 rounds of at most 15 s, plus 10 s, is 115 s.
    expect(loadConfig(['webhooks'], timeout).webhooks.WEBHOOK_TIMEOUT_MS).toBe(15000);
    // The largest receiver timeout allowed, at the default batch and concurrency: 220 s.
    expect(() => loadConfig(['webhooks'], { ...timeout, WEBHOOK_TIMEOUT_MS: '30000' })).toThrowError(
      /WEBHOOK_TIMEOUT_MS with WEBHOOK_BATCH_SIZE=50 and WEBHOOK_CONCURRENCY=8, a round can take 220 s/,
    );
    // Fits again with more requests at once, or when the timeout is not known (local runs).
    expect(() =>
      loadConfig(['webhooks'], { ...timeout, WEBHOOK_TIMEOUT_MS: '30000', WEBHOOK_CONCURRENCY: '25' }),
    ).not.toThrow();
    expect(() => loadConfig(['webhooks'], { WEBHOOK_TIMEOUT_MS: '30000' })).not.toThrow();
  });

  it('names a malformed DATABASE_URL', () => {
    expect(() => loadConfig(['db'], { DATABASE_URL: 'not a url' })).toThrowError(
      /DATABASE_URL must be a URL/,
    );
  });

  it('refuses a DATABASE_URL with several hosts, in either form: npm run migrate (pg) cannot use one', () => {
    for (const url of [
      'postgres://u@h1:5432,h2:5432/db',
      'postgres://u@h1,h2/db',
      'postgres://u@h1,h2:5432/db',
    ]) {
      const failure = (() => {
        try {
          loadConfig(['db'], { DATABASE_URL: url });
        } catch (error) {
          return error;
        }
      })();
      expect(failure, url).toBeInstanceOf(ConfigError);
      expect((failure as ConfigError).variables).toEqual(['DATABASE_URL']);
      expect((failure as Error).message).toContain(
        'DATABASE_URL must name one host, not several: put the cluster endpoint or a proxy in front of them',
      );
    }
    // A comma in the password is not a second host.
    expect(loadConfig(['db'], { DATABASE_URL: 'postgres://u:p,w@h1:5432/db' }).db.DATABASE_URL).toBe(
      'postgres://u:p,w@h1:5432/db',
    );
  });

  it("refuses host, hostaddr and port parameters, which pg would connect to instead of the URL's host", () => {
    for (const name of ['host', 'hostaddr', 'port']) {
      const url = `postgres://u@localhost/db?sslmode=disable&${name}=db.example.org`;
      expect(() => loadConfig(['db'], { DATABASE_URL: url }), url).toThrowError(
        new RegExp(`^Invalid configuration: DATABASE_URL must not carry a ${name}= parameter: give the host`),
      );
    }
    expect(() =>
      loadConfig(['db'], {
        DATABASE_URL: 'postgresql://u@localhost/db?port=5433&HOST=x&host=db.example.org',
      }),
    ).toThrowError('DATABASE_URL must not carry a host= or a port= parameter');
    // Other parameters, and names that merely contain "host", still pass.
    const url =
      'postgres://u@localhost:5432/db?sslmode=require&application_name=hostel&target_session_attrs=any';
    expect(loadConfig(['db'], { DATABASE_URL: url }).db.DATABASE_URL).toBe(url);
  });

  it('names a missing variable', () => {
    try {
      loadConfig(['db', 'keycloak'], {
        DATABASE_URL: 'postgres://u:p@h/db',
        KEYCLOAK_URL: 'http://kc',
        KEYCLOAK_REALM: 'r',
        KEYCLOAK_CLIENT_ID: 'c',
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variables).toEqual(['KEYCLOAK_CLIENT_SECRET']);
      expect((error as Error).message).toContain('KEYCLOAK_CLIENT_SECRET is required');
    }
  });

  it('names a missing secret together with the other problems of its section, not a deploy later', () => {
    expect(() => loadConfig(['keycloak'], {})).toThrowError(
      expect.objectContaining({
        variables: ['KEYCLOAK_URL', 'KEYCLOAK_REALM', 'KEYCLOAK_CLIENT_ID', 'KEYCLOAK_CLIENT_SECRET'],
      }),
    );
    expect(() =>
      loadConfig(['keycloak'], { KEYCLOAK_URL: 'ftp://kc', KEYCLOAK_REALM: 'r', KEYCLOAK_CLIENT_ID: 'c' }),
    ).toThrowError(expect.objectContaining({ variables: ['KEYCLOAK_URL', 'KEYCLOAK_CLIENT_SECRET'] }));
  });

  it('rejects a non-numeric batch size and parses lists', () => {
    // Said as a person setting the variable reads it, not as the parser's "received NaN".
    expect(() => loadConfig(['pipeline'], { SCAN_BATCH_SIZE: 'ten' })).toThrowError(
      /SCAN_BATCH_SIZE must be a number/,
    );
    expect(() => loadConfig(['pipeline'], { SCAN_BATCH_SIZE: '2.5' })).toThrowError(
      /SCAN_BATCH_SIZE must be a whole number/,
    );
    expect(() => loadConfig(['pipeline'], { SCAN_BATCH_SIZE: '0' })).toThrowError(
      /SCAN_BATCH_SIZE must be at least 1/,
    );
    expect(() => loadConfig(['pipeline'], { SCAN_BATCH_SIZE: 'ten' })).not.toThrowError(/NaN|Invalid input/);
    const auth = loadConfig(['auth'], { AUTH_ISSUER: 'http://kc/realms/r/', AUTH_AUDIENCE: 'a, b' }).auth;
    expect(auth.AUTH_AUDIENCE).toEqual(['a', 'b']);
    expect(auth.AUTH_ISSUER).toBe('http://kc/realms/r');
    expect(auth.AUTH_ALGORITHMS).toEqual(['RS256']);
  });
});

describe('limits the README documents', () => {
  it("refuses a LEASE_SECONDS that does not exceed generate's timeout: a live worker would be taken over", () => {
    const pipeline = (env: Record<string, string>) => loadConfig(['pipeline'], env).pipeline;
    expect(() => pipeline({ LEASE_SECONDS: '120', GENERATE_TIMEOUT_SECONDS: '120' })).toThrowError(
      ConfigError,
    );
    expect(() => pipeline({ LEASE_SECONDS: '120', GENERATE_TIMEOUT_SECONDS: '120' })).toThrowError(
      /LEASE_SECONDS must exceed generate's timeout GENERATE_TIMEOUT_SECONDS=120/,
    );
    // The default lease (180 s) against a longer timeout.
    expect(() => pipeline({ GENERATE_TIMEOUT_SECONDS: '300' })).toThrowError(/LEASE_SECONDS must exceed/);
    expect(pipeline({ LEASE_SECONDS: '121', GENERATE_TIMEOUT_SECONDS: '120' }).LEASE_SECONDS).toBe(121);
    // Locally the timeout is not known: nothing to compare.
    expect(pipeline({ LEASE_SECONDS: '10' }).LEASE_SECONDS).toBe(10);
  });

  it("refuses a SCAN_FILL_SECONDS past the scan's claim stop (its timeout less CLAIM_STOP_MARGIN_MS), its default and serverless.yml's", () => {
    const yaml = load(
      readFileSync(fileURLToPath(new URL('../../serverless.yml', import.meta.url)), 'utf8'),
    ) as {
      functions: { scan: { timeout: number; environment: Record<string, unknown> } };
    };
    const scan = yaml.functions.scan;
    // Beyond it the scan stops claiming at the margin anyway: a larger value would only look longer.
    const bound = scan.timeout - CLAIM_STOP_MARGIN_MS / 1000;
    expect(bound).toBe(40);
    const pipeline = (env: Record<string, string>) => loadConfig(['pipeline'], env).pipeline;
    expect(pipeline({}).SCAN_FILL_SECONDS).toBe(bound);
    expect(pipeline({ SCAN_FILL_SECONDS: String(bound) }).SCAN_FILL_SECONDS).toBe(bound);
    for (const value of [String(bound + 1), '45']) {
      expect(() => pipeline({ SCAN_FILL_SECONDS: value })).toThrowError(ConfigError);
      expect(() => pipeline({ SCAN_FILL_SECONDS: value })).toThrowError(
        /SCAN_FILL_SECONDS must leave 20 s of the scan's 60 s timeout .*at most 40/,
      );
    }
    // What a deploy without the variable gets loads, and is the bound.
    const deployed = /^\$\{env:SCAN_FILL_SECONDS, '(\d+)'\}$/.exec(
      String(scan.environment.SCAN_FILL_SECONDS),
    );
    expect(deployed?.[1]).toBeDefined();
    expect(pipeline({ SCAN_FILL_SECONDS: deployed?.[1] ?? '' }).SCAN_FILL_SECONDS).toBe(bound);
  });

  it('refuses retry, lease and attempt settings past their bounds, naming the variable and the bound', () => {
    const pipeline = (env: Record<string, string>) => loadConfig(['pipeline'], env).pipeline;
    const bounds: Array<[keyof ReturnType<typeof pipeline>, number, string]> = [
      ['MAX_GENERATION_ATTEMPTS', 100, 'must be at most 100'],
      ['RETRY_MAX_SECONDS', 604800, 'must be at most 604800'],
      ['CONFIGURATION_RETRY_SECONDS', 604800, 'must be at most 604800'],
      ['LEASE_SECONDS', 3600, 'must be at most 3600'],
      ['DISPATCH_LEASE_SECONDS', 21600, 'must be at most 21600'],
    ];
    for (const [variable, bound, message] of bounds) {
      expect(pipeline({ [variable]: String(bound) })[variable]).toBe(bound);
      expect(() => pipeline({ [variable]: String(bound + 1) })).toThrowError(ConfigError);
      expect(() => pipeline({ [variable]: String(bound + 1) })).toThrowError(`${variable} ${message}`);
      // What a mistyped value looks like: still an integer, far past any sensible setting.
      expect(() => pipeline({ [variable]: '10000000000000' })).toThrowError(variable);
    }
    const longest = { RETRY_MAX_SECONDS: '604800' };
    expect(pipeline({ ...longest, RETRY_BASE_SECONDS: '604800' }).RETRY_BASE_SECONDS).toBe(604800);
    expect(() => pipeline({ ...longest, RETRY_BASE_SECONDS: '604801' })).toThrowError(
      'RETRY_BASE_SECONDS must be at most 604800',
    );
    // A first delay longer than the longest one is a setting that cannot mean what it says.
    expect(() => pipeline({ RETRY_BASE_SECONDS: '7200' })).toThrowError(
      'RETRY_BASE_SECONDS must not exceed RETRY_MAX_SECONDS=3600',
    );
    expect(pipeline({ RETRY_BASE_SECONDS: '3600' }).RETRY_BASE_SECONDS).toBe(3600);
  });

  it('refuses timeouts a timer or PostgreSQL cannot take, and a clock tolerance that would accept long-expired tokens', () => {
    const cases: Array<[SectionName, string, number, string]> = [
      ['render', 'RENDER_TIMEOUT_MS', 900000, 'must be at most 900000'],
      ['keycloak', 'KEYCLOAK_TIMEOUT_MS', 900000, 'must be at most 900000'],
      ['db', 'DB_STATEMENT_TIMEOUT_MS', 2147483647, "must be at most 2147483647 (PostgreSQL's limit)"],
      ['db', 'DB_IDLE_IN_TRANSACTION_TIMEOUT_MS', 2147483647, 'must be at most 2147483647'],
      ['auth', 'AUTH_CLOCK_TOLERANCE_SECONDS', 300, 'must be at most 300'],
    ];
    for (const [section, variable, bound, message] of cases) {
      const load = (value: number) =>
        (
          loadConfig([section], { ...REQUIRED_ENV, [variable]: String(value) }) as Record<
            string,
            Record<string, unknown>
          >
        )[section]?.[variable];
      expect(load(bound)).toBe(bound);
      expect(() => load(bound + 1)).toThrowError(ConfigError);
      expect(() => load(bound + 1)).toThrowError(`${variable} ${message}`);
    }
  });

  it('refuses a DOWNLOAD_URL_MAX_TTL_SECONDS beyond 7 days (the SigV4 limit)', () => {
    const http = (ttl: string) => loadConfig(['http'], { DOWNLOAD_URL_MAX_TTL_SECONDS: ttl }).http;
    expect(() => http('604801')).toThrowError(ConfigError);
    expect(() => http('604801')).toThrowError(/DOWNLOAD_URL_MAX_TTL_SECONDS must be at most 604800/);
    expect(http('604800').DOWNLOAD_URL_MAX_TTL_SECONDS).toBe(604800);
  });

  it('refuses a VERIFY_BASE_URL longer than 64 characters (the QR code is sized for it)', () => {
    const render = (url: string) => loadConfig(['render'], { VERIFY_BASE_URL: url }).render;
    const longest = 'https://certificates.verification.examples-university.edu/verify';
    expect(longest).toHaveLength(64);
    expect(render(longest).VERIFY_BASE_URL).toBe(longest);
    expect(() => render(`${longest}s`)).toThrowError(ConfigError);
    expect(() => render(`${longest}s`)).toThrowError(/VERIFY_BASE_URL must be at most 64 characters/);
    // The limit is on the URL as used: a trailing slash, stripped, does not count.
    expect(render(`${longest}/`).VERIFY_BASE_URL).toBe(longest);
  });

  it('takes ISSUER_NAME as it is printed, for every use of it; one that prints nothing or is too long is refused by name', () => {
    const issuer = (name: string) =>
      loadConfig(['render'], { VERIFY_BASE_URL: 'https://v.example.org/c', ISSUER_NAME: name }).render
        .ISSUER_NAME;
    // A stray space, a doubled one, a decomposed accent (as pasted from macOS), a bidi control.
    expect(issuer(' Universidad de  Ma\u0301laga\u202E ')).toBe('Universidad de M\u00E1laga');
    expect(issuer('Acme Academy')).toBe('Acme Academy');
    expect(() => issuer(' \u200B ')).toThrowError(/ISSUER_NAME must print something/);
    expect(() => issuer('x'.repeat(201))).toThrowError(/ISSUER_NAME must be at most 200 characters/);
    // Whatever the renderer refuses, the configuration refuses, naming the variable.
    expect(() => issuer(`Acme Z${'\u0301'.repeat(10)}`)).toThrowError(
      /ISSUER_NAME stacks more than 8 combining marks on one character/,
    );
    expect(loadConfig(['render'], { VERIFY_BASE_URL: 'https://v.example.org/c' }).render.ISSUER_NAME).toBe(
      'Course Certificates',
    );
  });

  it('refuses a SCAN_NOT_BEFORE outside years 0001-9999 UTC, which every scan query would fail on', () => {
    const scan = (value: string) =>
      loadConfig(['pipeline'], { SCAN_NOT_BEFORE: value }).pipeline.SCAN_NOT_BEFORE;
    expect(scan('2025-01-01T00:00:00Z')?.toISOString()).toBe('2025-01-01T00:00:00.000Z');
    for (const outside of ['0000-06-01T00:00:00Z', '0001-01-01T00:30:00+01:00', '9999-12-31T23:30:00-01:00'])
      expect(() => scan(outside), outside).toThrowError(
        /SCAN_NOT_BEFORE must be between 0001-01-01 and 9999-12-31/,
      );
  });

  it('refuses an S3_KEY_PREFIX whose keys would not fit the column that records them (s3_key varchar(500))', () => {
    const s3 = (prefix: string) =>
      loadConfig(['s3'], { S3_BUCKET: 'certificates', S3_KEY_PREFIX: prefix }).s3;
    const uuid = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
    const keyOf = (prefix: string) =>
      certificateKey(s3(prefix).S3_KEY_PREFIX, { courseId: uuid, studentId: uuid, certificateId: uuid });
    const column = Number(
      /s3_key\s+varchar\((\d+)\)/.exec(
        readFileSync(
          fileURLToPath(new URL('../../lib/db/migrations/1732400000000_initial-schema.sql', import.meta.url)),
          'utf8',
        ),
      )?.[1],
    );
    expect(column).toBe(500);
    const longest = 'p'.repeat(385);
    expect(keyOf(longest)).toHaveLength(column);
    expect(() => s3(`${longest}p`)).toThrowError(ConfigError);
    expect(() => s3(`${longest}p`)).toThrowError(/S3_KEY_PREFIX must be at most 385 characters/);
  });

  it('refuses a STATUS_LIST_TTL_SECONDS beyond a day: the longest a revocation may stay unseen', () => {
    const credentials = (ttl: string) =>
      loadConfig(['credentials'], { STATUS_LIST_TTL_SECONDS: ttl }).credentials;
    expect(() => credentials('86401')).toThrowError(ConfigError);
    expect(() => credentials('86401')).toThrowError(/STATUS_LIST_TTL_SECONDS .*<=86400/);
    expect(credentials('86400').STATUS_LIST_TTL_SECONDS).toBe(86400);
  });
});

describe('AUTH_JWKS_COOLDOWN_SECONDS', () => {
  const auth = (cooldown: string) =>
    loadConfig(['auth'], {
      AUTH_ISSUER: 'http://kc/realms/r',
      AUTH_AUDIENCE: 'a',
      AUTH_JWKS_COOLDOWN_SECONDS: cooldown,
    }).auth;

  it('refuses 0 at parse time, naming the variable: it would let any request force a JWKS fetch', () => {
    expect(() => auth('0')).toThrowError(ConfigError);
    expect(() => auth('0')).toThrowError(/AUTH_JWKS_COOLDOWN_SECONDS must be at least 1/);
    expect(() => auth('-3')).toThrowError(/AUTH_JWKS_COOLDOWN_SECONDS/);
    expect(auth('1').AUTH_JWKS_COOLDOWN_SECONDS).toBe(1);
  });
});

describe('LOG_LEVEL', () => {
  // The logger is created at import, so each case is a fresh process.
  const logWith = async (level: string) => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "import('./lib/observability/logger.ts').then(({ logger }) => { logger.debug('debug line'); logger.info('info line'); })",
      ],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)), env: { ...process.env, LOG_LEVEL: level } },
    );
    return `${stdout}${stderr}`;
  };

  it('an unknown level is said once, naming the variable, and INFO is used; a known one in any case is taken', async () => {
    const unknown = await logWith('verbose');
    expect(unknown).toContain(
      'LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR, SILENT, CRITICAL; logging at INFO',
    );
    expect(unknown).toContain('"LOG_LEVEL":"VERBOSE"');
    expect(unknown).toContain('info line');
    expect(unknown).not.toContain('debug line');
    const debug = await logWith('debug');
    expect(debug).toContain('debug line');
    expect(debug).not.toContain('LOG_LEVEL must be');
  });
});

describe('CORS_ALLOWED_ORIGINS', () => {
  const origins = (value: string) =>
    loadConfig(['http'], { CORS_ALLOWED_ORIGINS: value }).http.CORS_ALLOWED_ORIGINS;

  it('takes origins and *, and refuses anything the Origin header could never equal, naming the variable', () => {
    expect(origins(' https://learn.example.org , http://localhost:5173,*')).toEqual([
      'https://learn.example.org',
      'http://localhost:5173',
      '*',
    ]);
    expect(origins('')).toEqual([]);
    for (const bad of [
      'https://learn.example.org/',
      'learn.example.org',
      'https://learn.example.org/app',
      // Patterns: the entries are compared as written, only `*` alone allows any origin.
      'https://*',
      'https://*.example.org',
    ]) {
      expect(() => origins(bad), bad).toThrowError(ConfigError);
      expect(() => origins(bad), bad).toThrowError(/CORS_ALLOWED_ORIGINS.*must be an origin/);
    }
  });
});
