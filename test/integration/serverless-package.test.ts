import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { load } from 'js-yaml';
import { beforeAll, describe, expect, inject, it } from 'vitest';

// `serverless package` as CI and a deployment run it: no AWS credentials, no network to AWS.
// It builds into temporary folders (ESBUILD_WORK_DIR, --package) so it never wipes the
// .esbuild folder of a developer's running `npm start`.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SERVERLESS_BIN = join(ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js');
const STAGE = 'ci';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}
interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
}
interface Template {
  Resources: Record<string, Resource>;
}

/** Names of the entries of a zip file, read from its central directory (no unzip tool needed). */
function zipEntries(zip: Buffer): string[] {
  const endSignature = 0x06054b50;
  let end = zip.length - 22;
  while (end >= 0 && zip.readUInt32LE(end) !== endSignature) end -= 1;
  if (end < 0) throw new Error('not a zip file');
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const names: string[] = [];
  for (let index = 0; index < count; index += 1) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error('corrupt central directory');
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    names.push(zip.toString('utf8', offset + 46, offset + 46 + nameLength));
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}

function declaredFunctions(): Record<string, { handler: string }> {
  const yaml = load(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as {
    functions: Record<string, { handler: string }>;
  };
  return yaml.functions;
}

let packageDir: string;
let template: Template;
let functions: Record<string, { handler: string }>;

beforeAll(async () => {
  functions = declaredFunctions();
  const root = inject('stack').root;
  packageDir = await mkdtemp(join(root, 'sls-package-'));
  const workDir = await mkdtemp(join(root, 'sls-esbuild-'));
  await promisify(execFile)(
    process.execPath,
    [SERVERLESS_BIN, 'package', '--stage', STAGE, '--package', packageDir],
    {
      cwd: ROOT,
      // serverless-esbuild joins the work folder onto the project folder: give it relative.
      env: { ...process.env, ESBUILD_WORK_DIR: relative(ROOT, workDir), SLS_TELEMETRY_DISABLED: '1' },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  template = JSON.parse(
    await readFile(join(packageDir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
});

function resourcesOfType(type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

function statementsOf(role: Resource): Statement[] {
  const policies = (role.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[];
  return policies.flatMap((policy) => policy.PolicyDocument.Statement);
}

describe('serverless package', () => {
  it('produces one zip per declared function, each containing its handler', async () => {
    const names = Object.keys(functions);
    expect(names).toEqual(expect.arrayContaining(['scan', 'generate', 'health', 'getCertificateDownload']));
    const zips = (await readdir(packageDir)).filter((file) => file.endsWith('.zip'));
    expect(zips.sort()).toEqual(names.map((name) => `${name}.zip`).sort());

    for (const [name, { handler }] of Object.entries(functions)) {
      const entries = zipEntries(await readFile(join(packageDir, `${name}.zip`)));
      const handlerFile = `${handler.slice(0, handler.lastIndexOf('.'))}.js`;
      expect(entries, `${name}.zip`).toContain(handlerFile);
      // Individually packaged: no other function's handler rides along.
      const otherHandlers = Object.entries(functions)
        .filter(([other]) => other !== name)
        .map(([, fn]) => `${fn.handler.slice(0, fn.handler.lastIndexOf('.'))}.js`)
        .filter((file) => file !== handlerFile);
      expect(
        entries.filter((entry) => otherHandlers.includes(entry)),
        `${name}.zip`,
      ).toEqual([]);
    }
    // Chromium ships binary archives: it must be installed into the generate zip, not bundled.
    const generate = zipEntries(await readFile(join(packageDir, 'generate.zip')));
    expect(generate.some((entry) => entry.startsWith('node_modules/@sparticuz/chromium/bin/'))).toBe(true);
    expect(generate.some((entry) => entry.startsWith('templates/'))).toBe(true);
    const health = zipEntries(await readFile(join(packageDir, 'health.zip')));
    expect(health.some((entry) => entry.includes('@sparticuz/chromium'))).toBe(false);
  });

  it('runs every function on nodejs22.x with its own scoped role and a log group with retention', () => {
    const lambdas = resourcesOfType('AWS::Lambda::Function');
    expect(lambdas).toHaveLength(Object.keys(functions).length);
    const roles = new Map(resourcesOfType('AWS::IAM::Role'));
    // The framework's shared catch-all role is not used.
    expect(roles.has('IamRoleLambdaExecution')).toBe(false);

    for (const [logicalId, lambda] of lambdas) {
      expect(lambda.Properties.Runtime, logicalId).toBe('nodejs22.x');
      const role = lambda.Properties.Role as { 'Fn::GetAtt': [string, string] };
      const roleId = role['Fn::GetAtt'][0];
      expect(roles.has(roleId), `${logicalId} role ${roleId}`).toBe(true);
    }
    const roleOf = (fn: string): string => {
      const lambda = template.Resources[`${fn.charAt(0).toUpperCase()}${fn.slice(1)}LambdaFunction`];
      if (!lambda) throw new Error(`no Lambda resource for ${fn}`);
      return (lambda.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    };
    // Different kinds of work get different roles.
    expect(roleOf('generate')).not.toBe(roleOf('scan'));
    expect(roleOf('getCertificateDownload')).not.toBe(roleOf('health'));
    expect(roleOf('scan')).not.toBe(roleOf('health'));

    for (const [roleId, role] of roles) {
      for (const statement of statementsOf(role)) {
        const actions = [statement.Action].flat();
        expect(actions, roleId).not.toContain('*');
        expect(
          actions.some((action) => action.endsWith(':*')),
          roleId,
        ).toBe(false);
        expect(statement.Resource, roleId).not.toBe('*');
        expect(JSON.stringify(statement.Resource), roleId).not.toMatch(/"\*"|:::\*|:s3:::[^/"]+"/);
      }
    }
    // Only generate writes PDFs, under the certificates prefix; only the scan, ingestion and requeue invoke generate.
    const writers = [...roles].filter(([, role]) =>
      statementsOf(role).some((statement) => [statement.Action].flat().includes('s3:PutObject')),
    );
    expect(writers.map(([id]) => id)).toEqual([roleOf('generate')]);
    const writeResource = JSON.stringify(
      statementsOf(roles.get(roleOf('generate')) as Resource).find((statement) =>
        [statement.Action].flat().includes('s3:PutObject'),
      )?.Resource,
    );
    expect(writeResource).toContain(`:s3:::course-certificates-${STAGE}-certificates/certificates/*`);
    const invokers = [...roles].filter(([, role]) =>
      statementsOf(role).some((statement) => [statement.Action].flat().includes('lambda:InvokeFunction')),
    );
    for (const [roleId, role] of invokers) {
      const invoke = statementsOf(role).find((statement) =>
        [statement.Action].flat().includes('lambda:InvokeFunction'),
      );
      expect(invoke?.Resource, roleId).toEqual({ 'Fn::GetAtt': ['GenerateLambdaFunction', 'Arn'] });
    }
    expect(invokers.map(([id]) => id).sort()).toEqual([roleOf('scan'), roleOf('createAttempt')].sort());
    // Only generate reads the issuer's private signing key, and only its SSM parameter.
    const keyReaders = [...roles].filter(([, role]) =>
      statementsOf(role).some((statement) => [statement.Action].flat().includes('ssm:GetParameter')),
    );
    expect(keyReaders.map(([id]) => id)).toEqual([roleOf('generate')]);
    expect(JSON.stringify(template)).toContain(`:parameter/course-certificates/${STAGE}/signing-key`);
    // The key itself is never in the template (no JWK private member anywhere).
    expect(JSON.stringify(template)).not.toMatch(/\\"d\\"\s*:/);

    const logGroups = resourcesOfType('AWS::Logs::LogGroup');
    expect(logGroups).toHaveLength(lambdas.length);
    for (const [logicalId, group] of logGroups) {
      expect(group.Properties.RetentionInDays, logicalId).toEqual(expect.any(Number));
      expect(group.Properties.RetentionInDays as number, logicalId).toBeGreaterThan(0);
    }
  });

  it('schedules the scan on EventBridge and keeps the bucket private', () => {
    const rules = resourcesOfType('AWS::Events::Rule');
    expect(rules).toHaveLength(1);
    expect(rules[0]?.[1].Properties.ScheduleExpression).toMatch(/^(rate|cron)\(/);
    const buckets = resourcesOfType('AWS::S3::Bucket').filter(([id]) => id !== 'ServerlessDeploymentBucket');
    expect(buckets).toHaveLength(1);
    expect(buckets[0]?.[1].Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });
});
