import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, documentedVariables, loadConfig, SECTION_NAMES } from '../../lib/config.ts';
import { REQUIRED_ENV } from '../support/required-env.ts';

// The README's configuration table is the operator's reference: it must list every variable
// the configuration module reads, and show the defaults the module really applies.

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

function configTable(): Map<string, string[]> {
  const start = README.indexOf('<!-- config-table:start');
  const end = README.indexOf('<!-- config-table:end -->');
  expect(start, 'config-table markers in README.md').toBeGreaterThan(-1);
  expect(end).toBeGreaterThan(start);
  const rows = new Map<string, string[]>();
  for (const line of README.slice(start, end).split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line.split(' | ').map((cell) => cell.replace(/^\|\s*|\s*\|$/g, '').trim());
    for (const name of (cells[0] ?? '').matchAll(/`([A-Z0-9_]+)`/g)) rows.set(name[1] as string, cells);
  }
  return rows;
}

/** Every variable the configuration reads, with the value it takes from the required ones alone. */
function configuredValues(): [string, unknown][] {
  const config = loadConfig(SECTION_NAMES, REQUIRED_ENV) as unknown as Record<
    string,
    Record<string, unknown>
  >;
  return Object.values(config).flatMap((section) => Object.entries(section));
}

describe('README configuration table', () => {
  it('has a row for every variable of lib/config.ts', () => {
    const rows = configTable();
    const missing = documentedVariables().filter((variable) => !rows.has(variable));
    expect(missing).toEqual([]);
  });

  it('documents no variable the configuration does not read, except the AWS credentials chain', () => {
    const known = new Set([...documentedVariables(), 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
    expect([...configTable().keys()].filter((variable) => !known.has(variable))).toEqual([]);
  });

  it('shows the default the configuration applies', () => {
    const rows = configTable();
    const wrong: string[] = [];
    for (const [variable, value] of configuredValues()) {
      if (variable in REQUIRED_ENV || value === undefined) continue;
      const shown = Array.isArray(value) ? value.join(',') : String(value);
      if (shown === '') continue;
      const defaultCell = rows.get(variable)?.[1] ?? '';
      if (!defaultCell.includes(`\`${shown}\``))
        wrong.push(`${variable}: README says "${defaultCell}", config ${shown}`);
    }
    expect(wrong).toEqual([]);
  });

  it('states the upper bound of every number the configuration refuses past one', () => {
    // A value past the bound stops the function at cold start; an operator raising a limit
    // should learn that from the table, not from a failed deploy.
    const rows = configTable();
    const unstated: string[] = [];
    for (const [variable, value] of configuredValues()) {
      if (typeof value !== 'number') continue;
      let refused = false;
      try {
        loadConfig(SECTION_NAMES, { ...REQUIRED_ENV, [variable]: '1000000000' });
      } catch (error) {
        refused = error instanceof ConfigError && error.variables.includes(variable);
      }
      if (refused && !/at most/i.test(rows.get(variable)?.[2] ?? '')) unstated.push(variable);
    }
    expect(unstated).toEqual([]);
  });

  it("names the seed guide's variable each one replaces", () => {
    const rows = configTable();
    const replaces = (variable: string) => rows.get(variable)?.[3] ?? '';
    expect(replaces('S3_ENDPOINT_URL')).toContain('MINIO_ENDPOINT_URL');
    expect(replaces('S3_REGION')).toContain('MINIO_REGION');
    expect(replaces('AWS_ACCESS_KEY_ID')).toContain('MINIO_ACCESS_KEY');
    expect(replaces('AWS_ACCESS_KEY_ID')).toContain('MINIO_SECRET_KEY');
    expect(replaces('KEYCLOAK_URL')).toContain('KEYCLOAK_SERVER_URL');
    expect(replaces('KEYCLOAK_CLIENT_ID')).toContain('KEYCLOAK_ADMIN_USERNAME');
    expect(replaces('KEYCLOAK_CLIENT_SECRET')).toContain('KEYCLOAK_ADMIN_PASSWORD');
    // The worker intervals became the scan's schedule (read by serverless.yml, its own table).
    expect(README).toMatch(
      /\|\s*`SCAN_SCHEDULE`\s*\|[^\n]*STATS_WORKER_FETCH_INTERVAL[^\n]*STATS_WORKER_PROCESS_INTERVAL/,
    );
  });
});
