import { type ParseArgsConfig, parseArgs } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Every script's arguments, strictly: `--help` prints the usage and exits 0 before anything is
 * touched (an operator with a production DATABASE_URL exported who asks `npm run seed -- --help`
 * must not get demo data in production); an unknown option or a missing value prints the reason
 * and the usage and exits 2, without a stack trace.
 */
export function cliArgs<O extends Options>(usage: string, options: O, allowPositionals = false) {
  if (process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h')) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  try {
    return parseArgs({ options, allowPositionals, strict: true });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    process.exit(2);
  }
}
