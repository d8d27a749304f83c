import { ConfigError, loadConfig, SECTION_NAMES } from '../lib/config.ts';
import { downloadPolicy } from '../lib/http/download-deps.ts';

/**
 * Run by serverless/check-function-config.cjs while packaging, with each function's resolved
 * environment on stdin as JSON ({ functionName: { VARIABLE: value } }): what each function would
 * refuse at cold start, said before anything is deployed. Each variable has its bound, but some
 * hold only together (LEASE_SECONDS beyond generate's timeout, a webhook round within
 * deliverWebhooks' timeout, the default download lifetime within its maximum): a package built
 * with values each in bounds could otherwise deploy functions that fail every invocation.
 *
 * Every section is parsed for every function. A section a function does not read lacks its
 * required variables ("is required", not reported here: deployment.cjs names the ones a stage
 * must set) and otherwise takes its defaults, which hold; so what is reported is a value given
 * that some function would refuse. Exits 1, printing one line per refusal, or 0.
 */

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, Record<string, string>>;
const refusals = new Set<string>();
for (const [name, env] of Object.entries(input)) {
  for (const section of SECTION_NAMES) {
    try {
      const config = loadConfig([section], env);
      if (section === 'http' && 'http' in config) downloadPolicy(config.http);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const problem of error.problems)
        if (!problem.message.startsWith('is required'))
          refusals.add(`${name}: ${problem.variable} ${problem.message}`);
    }
  }
}
for (const refusal of refusals) process.stdout.write(`${refusal}\n`);
process.exit(refusals.size > 0 ? 1 : 0);
