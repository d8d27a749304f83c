import { isAbsolute, resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError } from '../lib/config.ts';
import { DomainError, ValidationError } from '../lib/errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Every script's arguments, strictly: `--help` prints the usage and exits 0 before anything is
 * touched (an operator with a production DATABASE_URL exported who asks `npm run seed -- --help`
 * must not get demo data in production); an unknown option or a missing value prints the reason
 * and the usage and exits 2, without a stack trace. From here on, a failure the script lets
 * escape is presented as presentFailures says.
 */
export function cliArgs<O extends Options>(usage: string, options: O, allowPositionals = false) {
  presentFailures(/^usage: (npm (?:run )?[\w-]+)/.exec(usage)?.[1] ?? 'npm run', usage);
  if (process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h')) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  try {
    return parseArgs({
      args: joinDashValues(process.argv.slice(2), options),
      options,
      allowPositionals,
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    process.exit(2);
  }
}

/**
 * `--kid -Xy…` as `--kid=-Xy…`: the value of a string option may begin with a dash (a key id is
 * a base64url thumbprint, and one in 64 does), which parseArgs refuses as ambiguous, so an
 * operator copying the id from the JWK Set got a usage error. A following argument that is itself
 * one of the options (`--kid --yes`, a value forgotten) or `--` is left alone: still an error.
 */
export function joinDashValues(args: readonly string[], options: Options): string[] {
  const known = new Set(
    Object.entries(options).flatMap(([name, option]) => [
      `--${name}`,
      ...(option.short ? [`-${option.short}`] : []),
    ]),
  );
  const joined: string[] = [];
  for (let at = 0; at < args.length; at += 1) {
    const arg = args[at] ?? '';
    if (arg === '--') {
      joined.push(...args.slice(at));
      break;
    }
    const value = args[at + 1];
    const option = arg.startsWith('--') ? options[arg.slice(2)] : undefined;
    if (
      option?.type === 'string' &&
      value?.startsWith('-') &&
      value !== '--' &&
      !known.has(value.split('=')[0] ?? value)
    ) {
      joined.push(`${arg}=${value}`);
      at += 1;
    } else joined.push(arg);
  }
  return joined;
}

/** Bad input the parser cannot see (a missing or malformed value): the reason and the usage, exit 2. */
export function usageError(message: string, usage: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

/** The options of a command that changes what cannot be undone: preview it, or confirm it. */
export const CONFIRM_OPTIONS = {
  'dry-run': { type: 'boolean', default: false },
  yes: { type: 'boolean', default: false },
} as const;

/**
 * Whether this run is a dry run. Neither --dry-run nor --yes: nothing is done, `refusal` says
 * what and why, and the command exits 2.
 */
export function dryRunOrConfirmed(values: { 'dry-run'?: boolean; yes?: boolean }, refusal: string): boolean {
  const dryRun = values['dry-run'] === true;
  if (!dryRun && !values.yes) {
    process.stderr.write(`${refusal} Run it with --dry-run to see what it would do, then with --yes.\n`);
    process.exit(2);
  }
  return dryRun;
}

/**
 * A failure an operator can act on from its message alone: what they gave (a domain validation:
 * exit 2, as a usage error), the configuration, a dependency not answering or refusing (a
 * database, S3, SQS, the network, AWS credentials), a file that is not there (exit 1).
 */
export function expectedFailure(error: unknown): { message: string; exitCode: number } | undefined {
  if (!(error instanceof Error)) return undefined;
  // A refused connection to a name with several addresses (localhost: ::1 and 127.0.0.1) is an
  // AggregateError whose own message is empty.
  const message =
    error.message ||
    (error instanceof AggregateError
      ? error.errors
          .map((inner: unknown) => (inner instanceof Error ? inner.message : String(inner)))
          .join('; ')
      : '');
  if (error instanceof ValidationError) return { message, exitCode: 2 };
  if (error instanceof DomainError || error instanceof ConfigError) return { message, exitCode: 1 };
  const code = (error as { code?: unknown }).code;
  // System errors (ECONNREFUSED, ENOTFOUND, ETIMEDOUT, ENOENT...), postgres.js's own
  // (CONNECT_TIMEOUT, CONNECTION_CLOSED...) and PostgreSQL's SQLSTATEs (28P01 a wrong password,
  // 3D000 no such database).
  const known =
    typeof code === 'string' &&
    (/^E[A-Z]+$/.test(code) || /^CONNECT(ION)?_[A-Z]+$/.test(code) || /^[0-9A-Z]{5}$/.test(code));
  if (known || error.name === 'CredentialsProviderError')
    return { message: message || String(code), exitCode: 1 };
  // pg (the migrations' client) when the peer closes before answering: a tunnel whose far end
  // refuses, or something other than PostgreSQL at that port. Its error carries no code.
  if (message === 'Connection terminated unexpectedly')
    return {
      message: `${message}: the server at DATABASE_URL closed the connection before answering (is it PostgreSQL, and is a tunnel's far end up?)`,
      exitCode: 1,
    };
  return undefined;
}

let presenting = false;

/**
 * What a script's top level lets escape (its `finally` blocks have run by then): an expected
 * failure is one line, `npm run <name>: <message>` (bad input: then the usage), without a stack
 * trace; anything else, a bug, keeps its stack.
 */
function presentFailures(name: string, usage: string): void {
  if (presenting) return;
  presenting = true;
  process.on('uncaughtException', (error) => {
    const failure = expectedFailure(error);
    if (!failure) {
      process.stderr.write(`${error instanceof Error && error.stack ? error.stack : String(error)}\n`);
      process.exit(1);
    }
    const line = `${name}: ${failure.message.replace(/\s+/g, ' ').trim()}`;
    // Bad input, as an unknown option: the reason, then how to call it.
    process.stderr.write(failure.exitCode === 2 ? `${line}\n${usage}\n` : `${line}\n`);
    process.exit(failure.exitCode);
  });
}

/**
 * A path the user typed, as they meant it: `npm run` runs a script in the package's folder, so a
 * relative path is taken from where npm was called (INIT_CWD), when npm called this very script
 * (`script` is its file, e.g. 'scripts/verify.ts'); otherwise (run directly, or by a test's own
 * process) from the working directory.
 */
export function userPath(path: string, script: string): string {
  if (isAbsolute(path)) return path;
  const viaNpm = process.env.npm_lifecycle_script?.includes(script) === true;
  return resolve((viaNpm ? process.env.INIT_CWD : undefined) ?? process.cwd(), path);
}
