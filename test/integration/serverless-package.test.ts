import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { load } from 'js-yaml';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';

// `serverless package` as CI and a deployment run it: no AWS credentials, no network to AWS.
// It builds into temporary folders (ESBUILD_WORK_DIR, --package) so it never wipes the
// .esbuild folder of a developer's running `npm start`.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SERVERLESS_BIN = join(ROOT, 'node_modules', 'serverless', 'bin', 'serverless.js');
const STAGE = 'ci';
const ACCOUNT = '123456789012';
const DB_SECRET_ARN = `arn:aws:secretsmanager:eu-central-1:${ACCOUNT}:secret:certificates/ci/db-Ab12Cd`;
const KEYCLOAK_SECRET_ARN = `arn:aws:ssm:eu-central-1:${ACCOUNT}:parameter/certificates/ci/keycloak-client-secret`;
const SIGNING_KEY_ARN = `arn:aws:ssm:eu-central-1:${ACCOUNT}:parameter/certificates/ci/signing-key`;
const CREDENTIAL_SIGNING_KEY_ARN = `arn:aws:ssm:eu-central-1:${ACCOUNT}:parameter/certificates/ci/credential-signing-key`;
// Secret values set in the shell while packaging: none may reach the template or the state.
const CANARIES = {
  KEYCLOAK_CLIENT_SECRET: 'canary-keycloak-7f3a9c',
  DB_PASSWORD: 'canary-db-5e1b2d',
  SIGNING_KEY: '{"kty":"EC","crv":"P-256","d":"canary-signing-key-3c8e1f"}',
  CREDENTIAL_SIGNING_KEY: '{"kty":"RSA","d":"canary-credential-key-9d4a2b"}',
};

/** A deploy stage's environment: every required value, secrets by ARN only. */
const DEPLOY_ENV = {
  DATABASE_URL: 'postgres://certificates@db.example.internal:5432/certificates',
  DATABASE_SECRET_ARN: DB_SECRET_ARN,
  KEYCLOAK_URL: 'https://auth.example.org',
  KEYCLOAK_CLIENT_SECRET_ARN: KEYCLOAK_SECRET_ARN,
  KEYCLOAK_CLIENT_SECRET: CANARIES.KEYCLOAK_CLIENT_SECRET,
  SIGNING_KEY_ARN,
  SIGNING_KEY: CANARIES.SIGNING_KEY,
  CREDENTIAL_SIGNING_KEY_ARN,
  CREDENTIAL_SIGNING_KEY: CANARIES.CREDENTIAL_SIGNING_KEY,
  AUTH_ISSUER: 'https://auth.example.org/realms/student',
  AUTH_AUDIENCE: 'certificates-frontend',
  VERIFY_BASE_URL: 'https://certificates.example.org/verify',
  GENERATE_MAX_CONCURRENCY: '40',
  CORS_ALLOWED_ORIGINS: 'https://learn.example.org',
  PUBLIC_THROTTLE_RATE_LIMIT: '75',
  PREFLIGHT_THROTTLE_BURST_LIMIT: '3000',
  ALARM_TOPIC_ARNS: `arn:aws:sns:eu-central-1:${ACCOUNT}:certificates-alarms`,
};

/** What a packaged bundle needs to load (nothing is reached: ports 1 answer nobody). */
const RUNTIME_ENV = {
  DATABASE_URL: 'postgres://certificates@127.0.0.1:1/certificates',
  S3_BUCKET: 'certificates-bucket',
  KEYCLOAK_URL: 'http://127.0.0.1:1',
  KEYCLOAK_REALM: 'student',
  KEYCLOAK_CLIENT_ID: 'certificate-service',
  KEYCLOAK_CLIENT_SECRET: 'unused',
  SIGNING_KEY: 'unused',
  CREDENTIAL_SIGNING_KEY: 'unused',
  GENERATE_FUNCTION_NAME: 'course-certificates-ci-generate',
  VERIFY_BASE_URL: 'https://certificates.example.org/verify',
  AUTH_ISSUER: 'https://auth.example.org/realms/student',
  AUTH_AUDIENCE: 'certificates-frontend',
  LOG_LEVEL: 'ERROR',
};

function serverless(args: string[], env: Record<string, string>, workDir: string) {
  return promisify(execFile)(process.execPath, [SERVERLESS_BIN, ...args], {
    cwd: ROOT,
    // serverless-esbuild joins the work folder onto the project folder: give it relative.
    env: { ...cleanEnv(), ...env, ESBUILD_WORK_DIR: relative(ROOT, workDir), SLS_TELEMETRY_DISABLED: '1' },
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** The shell's environment without the settings a deploy stage reads, so the test decides them. */
function cleanEnv(): Record<string, string | undefined> {
  const env = { ...process.env };
  for (const name of [
    ...Object.keys(DEPLOY_ENV),
    'VPC_SUBNET_IDS',
    'VPC_SECURITY_GROUP_IDS',
    'ALARM_TOPIC_ARNS',
    // What other test files or a developer's shell may have set for the local servers, which a
    // deploy stage refuses (serverless/deployment.cjs).
    'S3_ENDPOINT_URL',
    'LAMBDA_ENDPOINT_URL',
    'S3_REGION',
    'S3_BUCKET',
  ])
    delete env[name];
  return env;
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}
interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}
interface Template {
  Resources: Record<string, Resource>;
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  /** Unix permission bits, from the entry's external attributes (serverless writes them). */
  mode: number;
  localHeader: number;
}

/** Names of the entries of a zip file, read from its central directory (no unzip tool needed). */
function zipEntries(zip: Buffer): string[] {
  return zipDirectory(zip).map((entry) => entry.name);
}

/**
 * Writes every file of a zip below `folder` (stored or deflated entries, as serverless writes
 * them), with its permission bits, as Lambda unpacks a layer: Chromium must stay executable.
 */
async function unzip(zip: Buffer, folder: string): Promise<void> {
  for (const entry of zipDirectory(zip)) {
    if (entry.name.endsWith('/')) continue;
    const nameLength = zip.readUInt16LE(entry.localHeader + 26);
    const extraLength = zip.readUInt16LE(entry.localHeader + 28);
    const start = entry.localHeader + 30 + nameLength + extraLength;
    const data = zip.subarray(start, start + entry.compressedSize);
    const target = join(folder, entry.name);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, entry.method === 8 ? inflateRawSync(data) : data, { mode: entry.mode || 0o644 });
  }
}

function zipDirectory(zip: Buffer): ZipEntry[] {
  const endSignature = 0x06054b50;
  let end = zip.length - 22;
  while (end >= 0 && zip.readUInt32LE(end) !== endSignature) end -= 1;
  if (end < 0) throw new Error('not a zip file');
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let index = 0; index < count; index += 1) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error('corrupt central directory');
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    entries.push({
      name: zip.toString('utf8', offset + 46, offset + 46 + nameLength),
      method: zip.readUInt16LE(offset + 10),
      compressedSize: zip.readUInt32LE(offset + 20),
      size: zip.readUInt32LE(offset + 24),
      mode: (zip.readUInt32LE(offset + 38) >>> 16) & 0o777,
      localHeader: zip.readUInt32LE(offset + 42),
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function declaredFunctions(): Record<string, { handler: string }> {
  const yaml = load(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as {
    functions: Record<string, { handler: string }>;
  };
  return yaml.functions;
}

let packageDir: string;
let packageTmp: string;
let template: Template;
let functions: Record<string, { handler: string }>;

beforeAll(async () => {
  functions = declaredFunctions();
  const root = inject('stack').root;
  packageDir = await mkdtemp(join(root, 'sls-package-'));
  const workDir = await mkdtemp(join(root, 'sls-esbuild-'));
  packageTmp = await mkdtemp(join(root, 'sls-tmp-'));
  await serverless(
    ['package', '--stage', STAGE, '--package', packageDir],
    { ...DEPLOY_ENV, TMPDIR: packageTmp },
    workDir,
  );
  template = JSON.parse(
    await readFile(join(packageDir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
});

/** The logical id of the role a function (serverless.yml's key) runs with. */
function roleOf(fn: string): string {
  const lambda = template.Resources[`${fn.charAt(0).toUpperCase()}${fn.slice(1)}LambdaFunction`];
  if (!lambda) throw new Error(`no Lambda resource for ${fn}`);
  return (lambda.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

function resourcesOfType(type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

function statementsOf(role: Resource): Statement[] {
  const policies = (role.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[];
  return policies.flatMap((policy) => policy.PolicyDocument.Statement);
}

describe('serverless package', () => {
  it('leaves nothing of its own in the temporary folder (serverless-esbuild staged each zip there and kept it)', async () => {
    // patches/serverless-esbuild+*.patch: its scoped staging folder was removed non-recursively,
    // which failed on a non-empty folder, silently: 37 folders, 174 MB in /tmp per package.
    // (tsx-<uid> is tsx's compile cache, one folder reused by every run.)
    expect((await readdir(packageTmp)).filter((name) => !/^tsx-\d+$/.test(name))).toEqual([]);
  });

  it('produces one zip per declared function, each containing its handler', async () => {
    const names = Object.keys(functions);
    expect(names).toEqual(expect.arrayContaining(['scan', 'generate', 'health', 'getCertificateDownload']));
    const zips = (await readdir(packageDir)).filter((file) => file.endsWith('.zip'));
    // One zip per function, plus the render layer shared by generate and previewTemplate.
    expect(zips.sort()).toEqual([...names.map((name) => `${name}.zip`), 'render.zip'].sort());

    for (const [name, { handler }] of Object.entries(functions)) {
      const entries = zipEntries(await readFile(join(packageDir, `${name}.zip`)));
      const handlerFile = `${handler.slice(0, handler.lastIndexOf('.'))}.cjs`;
      expect(entries, `${name}.zip`).toContain(handlerFile);
      // Individually packaged: no other function's handler rides along.
      const otherHandlers = Object.entries(functions)
        .filter(([other]) => other !== name)
        .map(([, fn]) => `${fn.handler.slice(0, fn.handler.lastIndexOf('.'))}.cjs`)
        .filter((file) => file !== handlerFile);
      expect(
        entries.filter((entry) => otherHandlers.includes(entry)),
        `${name}.zip`,
      ).toEqual([]);
    }
    // Chromium's archives and the fonts ship once, in the layer; the function zips hold the
    // bundle (AWS SDK included) and the templates, under 10 MB each.
    const generate = zipEntries(await readFile(join(packageDir, 'generate.zip')));
    expect(generate.some((entry) => entry.startsWith('templates/'))).toBe(true);
    expect(generate.filter((entry) => entry.startsWith('node_modules/'))).toEqual([]);
    const layer = zipEntries(await readFile(join(packageDir, 'render.zip')));
    // Unpacked while packaging (serverless/chromium-unpack.cjs): the binary and SwiftShader ready
    // to run, instead of the archives they come from (the fonts and AL2023 libraries stay brotli).
    expect(layer).toEqual(
      expect.arrayContaining([
        '@sparticuz/chromium/bin/unpacked/chromium',
        '@sparticuz/chromium/bin/unpacked/libGLESv2.so',
        '@sparticuz/chromium/bin/fonts.tar.br',
        '@sparticuz/chromium/bin/al2023.tar.br',
      ]),
    );
    expect(layer).not.toContain('@sparticuz/chromium/bin/chromium.br');
    expect(layer).not.toContain('@sparticuz/chromium/bin/swiftshader.tar.br');
    expect(layer).toContain('@fontsource/noto-sans/400.css');
    expect(layer.some((entry) => entry.startsWith('@fontsource/noto-sans-sc/files/'))).toBe(true);
    for (const zip of zips.filter((file) => file !== 'render.zip')) {
      expect((await stat(join(packageDir, zip))).size, zip).toBeLessThan(10 * 1024 * 1024);
    }
    for (const fn of ['GenerateLambdaFunction', 'PreviewTemplateLambdaFunction']) {
      expect(template.Resources[fn]?.Properties.Layers, fn).toEqual([{ Ref: 'RenderLambdaLayer' }]);
    }
    expect(template.Resources.RenderLambdaLayer?.Type).toBe('AWS::Lambda::LayerVersion');
    const withLayer = resourcesOfType('AWS::Lambda::Function').filter(([, fn]) => fn.Properties.Layers);
    expect(withLayer.map(([id]) => id).sort()).toEqual([
      'GenerateLambdaFunction',
      'PreviewTemplateLambdaFunction',
    ]);
    // The SDK clients are bundled, not taken from whatever version the runtime ships.
    const scanBundle = await readFile(join(packageDir, 'scan.zip'));
    expect(zipEntries(scanBundle)).toContain('functions/scan.cjs');
  });

  it('keeps the 128 MB preflight, which every browser call passes, free of the database client and the AWS SDK', async () => {
    const bundleOf = async (name: string) => {
      const task = await mkdtemp(join(inject('stack').root, `${name}-`));
      await unzip(await readFile(join(packageDir, `${name}.zip`)), task);
      return await readFile(join(task, 'functions', 'http', `${name}.cjs`), 'utf8');
    };
    // The secret stores' SDK commands and postgres.js (by its module path in the bundle's comments).
    const heavy = ['GetSecretValueCommand', 'GetParameterCommand', 'node_modules/postgres/'];
    const health = await bundleOf('health');
    for (const marker of heavy) expect(health.includes(marker), `health: ${marker}`).toBe(true);
    const preflight = await bundleOf('preflight');
    for (const marker of heavy) expect(preflight.includes(marker), `preflight: ${marker}`).toBe(false);
  });

  it('every packaged bundle loads and exports its handler (offline runs the sources, so only this checks the bundles)', async () => {
    const root = await mkdtemp(join(inject('stack').root, 'bundles-'));
    const handlers: { name: string; file: string; exported: string }[] = [];
    for (const [name, { handler }] of Object.entries(functions)) {
      const task = join(root, name);
      await unzip(await readFile(join(packageDir, `${name}.zip`)), task);
      const dot = handler.lastIndexOf('.');
      handlers.push({
        name,
        file: join(task, `${handler.slice(0, dot)}.cjs`),
        exported: handler.slice(dot + 1),
      });
    }
    // One child process loads them all, as Lambda's runtime would (require of the CommonJS
    // bundle); a bundle that throws at load (an ESM-only import, a missing file) names itself.
    const script = `
      const results = {};
      for (const { name, file, exported } of ${JSON.stringify(handlers)}) {
        try { results[name] = typeof require(file)[exported]; }
        catch (error) { results[name] = 'load failed: ' + (error && error.message); }
      }
      process.stdout.write(JSON.stringify(results));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        TMPDIR: root,
        ...RUNTIME_ENV,
      },
      maxBuffer: 1024 * 1024,
    });
    const loaded = JSON.parse(stdout) as Record<string, string>;
    expect(loaded).toEqual(Object.fromEntries(handlers.map(({ name }) => [name, 'function'])));
    // The database client is bundled with patches/postgres+3.4.10.patch applied (npm install runs
    // patch-package): without it, a connection lost mid-transaction can crash the function.
    // (The preflight has no database client at all: the test below.)
    for (const { name, file } of handlers) {
      if (name === 'preflight') continue;
      expect(await readFile(file, 'utf8'), name).toContain('if (closedError)');
    }
  });

  it('the packaged generate bundle prints a PDF with Chromium from the unpacked layer, as on Lambda', async () => {
    const root = await mkdtemp(join(inject('stack').root, 'lambda-'));
    const task = join(root, 'task');
    const layer = join(root, 'opt');
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    await unzip(await readFile(join(packageDir, 'generate.zip')), task);
    await unzip(await readFile(join(packageDir, 'render.zip')), layer);
    const script = `
      const { printer } = require(${JSON.stringify(join(task, 'functions', 'generate.cjs'))});
      printer.print('<html><body><h1>layer</h1></body></html>', { timeoutMs: 60000 })
        .then(async (pdf) => { process.stdout.write(Buffer.from(pdf).subarray(0, 5).toString('latin1')); await printer.close(); process.exit(0); })
        .catch((error) => { console.error(error); process.exit(1); });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
      cwd: task,
      env: {
        PATH: process.env.PATH,
        // A fresh temp folder, as a new container has.
        TMPDIR: tmp,
        LAMBDA_TASK_ROOT: task,
        RENDER_LAYER_ROOT: layer,
        // As on Lambda: the prestart at import, the browser warmed during init, --single-process.
        AWS_LAMBDA_FUNCTION_NAME: 'course-certificates-ci-generate',
        // The bundle logs (JSON, to stdout) that Chromium launched; only the PDF header is asserted.
        ...RUNTIME_ENV,
      },
      maxBuffer: 1024 * 1024,
    });
    expect(stdout).toBe('%PDF-');
    // Chromium ran from the layer: only the fonts archive was extracted into the temp folder
    // (and, on Amazon Linux 2023, the libraries), never the 209 MB binary.
    const extracted = await readdir(tmp);
    expect(extracted).toContain('fonts');
    expect(extracted).not.toContain('chromium');
  });

  it("fits Lambda's 250 MB for a function and its layers unzipped, with Chromium executable by any user", async () => {
    const layer = zipDirectory(await readFile(join(packageDir, 'render.zip')));
    const binary = layer.find((entry) => entry.name === '@sparticuz/chromium/bin/unpacked/chromium');
    // Lambda runs the function as a user that does not own the layer's files.
    expect(binary?.mode).toBe(0o755);
    const unzipped = (entries: ZipEntry[]) => entries.reduce((sum, entry) => sum + entry.size, 0);
    const layerBytes = unzipped(layer);
    for (const name of ['generate', 'previewTemplate']) {
      const total = layerBytes + unzipped(zipDirectory(await readFile(join(packageDir, `${name}.zip`))));
      // The limit AWS states in bytes for the unzipped deployment package, layers included.
      expect(total, `${name} + render layer`).toBeLessThan(262_144_000);
    }
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
    // Every function has a role of its own (serverless/role-per-function.cjs), and no other role is left.
    expect(
      new Set(
        lambdas.map(([, lambda]) => (lambda.Properties.Role as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]),
      ),
    ).toEqual(new Set(roles.keys()));
    expect(roles.size).toBe(lambdas.length);
    expect(roleOf('health')).toBe('HealthIamRole');
    // Functions of one kind get the same grants but their logs: the public health route has
    // exactly revokeCertificate's database access, and writes none of its log lines.
    const grantsBesideLogs = (fn: string) =>
      ((template.Resources[roleOf(fn)]?.Properties.Policies ?? []) as { PolicyName: string }[]).filter(
        (policy) => policy.PolicyName !== 'write-own-logs',
      );
    expect(grantsBesideLogs('health')).toEqual(grantsBesideLogs('revokeCertificate'));
    expect(grantsBesideLogs('generate')).not.toEqual(grantsBesideLogs('scan'));

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
    // Only generate writes PDFs, under the certificates prefix; only the scan, ingestion, requeue and reissue invoke generate.
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
    // It writes PDFs and reads only template assets: nothing under the certificates prefix.
    const generateReads = statementsOf(roles.get(roleOf('generate')) as Resource)
      .filter((statement) => [statement.Action].flat().includes('s3:GetObject'))
      .map((statement) => JSON.stringify(statement.Resource));
    expect(generateReads).toHaveLength(1);
    expect(generateReads[0]).toContain('/template-assets/*');
    const invokers = [...roles].filter(([, role]) =>
      statementsOf(role).some((statement) => [statement.Action].flat().includes('lambda:InvokeFunction')),
    );
    for (const [roleId, role] of invokers) {
      const invoke = statementsOf(role).find((statement) =>
        [statement.Action].flat().includes('lambda:InvokeFunction'),
      );
      expect(invoke?.Resource, roleId).toEqual({ 'Fn::GetAtt': ['GenerateLambdaFunction', 'Arn'] });
    }
    expect(invokers.map(([id]) => id).sort()).toEqual(
      ['scan', 'createAttempt', 'requeueCertificate', 'reissueCertificate'].map(roleOf).sort(),
    );

    // Logs: each role writes to its own function's log group, named exactly (a GetAtt of a
    // log group of this stack): not (AWSLambdaBasicExecutionRole) to any, nor to a
    // `course-certificates-<stage>-*` pattern that other stages' groups (`<stage>-eu`) match.
    for (const [roleId, role] of roles) {
      expect(JSON.stringify(role.Properties.ManagedPolicyArns ?? []), roleId).not.toContain(
        'AWSLambdaBasicExecutionRole',
      );
      const logs = statementsOf(role).filter((statement) =>
        [statement.Action].flat().some((action) => action.startsWith('logs:')),
      );
      expect(logs.flatMap((statement) => [statement.Action].flat()).sort(), roleId).toEqual([
        'logs:CreateLogStream',
        'logs:PutLogEvents',
      ]);
      const ownGroups = lambdas
        .filter(
          ([, lambda]) => (lambda.Properties.Role as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0] === roleId,
        )
        .map(([logicalId]) => logicalId.replace(/LambdaFunction$/, 'LogGroup'))
        .sort();
      const granted = [logs[0]?.Resource].flat().map((resource) => {
        const [groupId, attribute] = (resource as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'] ?? [];
        expect(attribute, `${roleId}: ${JSON.stringify(resource)}`).toBe('Arn');
        expect(template.Resources[groupId as string]?.Type, roleId).toBe('AWS::Logs::LogGroup');
        return groupId as string;
      });
      expect(granted.sort(), roleId).toEqual(ownGroups);
    }
    // Every function's own group is the one it logs to, and some role may write it.
    for (const [logicalId, lambda] of lambdas)
      expect(lambda.DependsOn, logicalId).toContain(logicalId.replace(/LambdaFunction$/, 'LogGroup'));

    // The AWS-managed policies are named in the stack's partition, as its other ARNs are.
    for (const [roleId, role] of roles)
      for (const arn of role.Properties.ManagedPolicyArns as unknown[])
        expect(arn, roleId).toEqual({
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, expect.stringMatching(/^:iam::aws:policy\//)]],
        });

    const logGroups = resourcesOfType('AWS::Logs::LogGroup');
    expect(logGroups).toHaveLength(lambdas.length);
    for (const [logicalId, group] of logGroups) {
      expect(group.Properties.RetentionInDays, logicalId).toEqual(expect.any(Number));
      expect(group.Properties.RetentionInDays as number, logicalId).toBeGreaterThan(0);
    }
  });

  it('schedules the scan and the webhook deliveries on EventBridge and keeps the bucket private', () => {
    const rules = resourcesOfType('AWS::Events::Rule');
    expect(rules).toHaveLength(2);
    const targets = rules.map(([, rule]) => {
      expect(rule.Properties.ScheduleExpression).toMatch(/^(rate|cron)\(/);
      return JSON.stringify(rule.Properties.Targets);
    });
    expect(targets.some((target) => target.includes('ScanLambdaFunction'))).toBe(true);
    expect(targets.some((target) => target.includes('DeliverWebhooksLambdaFunction'))).toBe(true);
    const buckets = resourcesOfType('AWS::S3::Bucket').filter(([id]) => id !== 'ServerlessDeploymentBucket');
    expect(buckets).toHaveLength(1);
    expect(buckets[0]?.[1].Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  it('publishes no function version a deploy would keep for ever (nothing invokes one)', () => {
    expect(resourcesOfType('AWS::Lambda::Version')).toEqual([]);
  });

  it('keeps the bucket when the stack is deleted and when an update would replace it', () => {
    const bucket = template.Resources.CertificatesBucket as Resource;
    expect(bucket.Type).toBe('AWS::S3::Bucket');
    // Without UpdateReplacePolicy a changed BucketName deletes the replaced bucket when empty.
    expect({
      DeletionPolicy: bucket.DeletionPolicy,
      UpdateReplacePolicy: bucket.UpdateReplacePolicy,
    }).toEqual({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('serves the bucket over HTTPS only: every plain-HTTP request is denied, on the bucket and its objects', () => {
    const policies = resourcesOfType('AWS::S3::BucketPolicy').filter(
      ([, policy]) =>
        JSON.stringify(policy.Properties.Bucket) === JSON.stringify({ Ref: 'CertificatesBucket' }),
    );
    expect(policies).toHaveLength(1);
    const document = policies[0]?.[1].Properties.PolicyDocument as
      | { Statement: Record<string, unknown>[] }
      | undefined;
    const statements = document?.Statement ?? [];
    const arn = { 'Fn::GetAtt': ['CertificatesBucket', 'Arn'] };
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [arn, { 'Fn::Join': ['', [arn, '/*']] }],
        Condition: { Bool: { 'aws:SecureTransport': false } },
      }),
    );
    // Nothing in it allows anything: the roles' own grants stay the only way in.
    expect(statements.filter((statement) => statement.Effect !== 'Deny')).toEqual([]);
  });

  it('leaves the deployed-settings check of a --package deploy the template it compares', async () => {
    // serverless/keep-deployed-settings.cjs compares the deployed bucket, SCAN_NOT_BEFORE and VPC
    // with the template being deployed: for `deploy --package DIR`, the one in its state file.
    const state = JSON.parse(await readFile(join(packageDir, 'serverless-state.json'), 'utf8')) as {
      service: { provider: { compiledCloudFormationTemplate: Template } };
    };
    const packaged = state.service.provider.compiledCloudFormationTemplate.Resources;
    expect(packaged.CertificatesBucket?.Properties.BucketName).toBe(
      `course-certificates-${STAGE}-certificates`,
    );
    expect(packaged.ScanLambdaFunction?.Type).toBe('AWS::Lambda::Function');
  });

  it('keeps an old version of a PDF for 30 days only: versioning undoes mistakes, it does not archive erased PDFs', () => {
    const buckets = resourcesOfType('AWS::S3::Bucket').filter(([id]) => id !== 'ServerlessDeploymentBucket');
    const bucket = buckets[0]?.[1].Properties;
    expect(bucket?.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket?.LifecycleConfiguration).toEqual({
      Rules: [
        {
          Id: expect.any(String),
          Status: 'Enabled',
          NoncurrentVersionExpiration: { NoncurrentDays: 30 },
          ExpiredObjectDeleteMarker: true,
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        },
      ],
    });
  });

  it('throttles each public route at the stage, as configured, after its route exists; not the authenticated ones', () => {
    const stages = resourcesOfType('AWS::ApiGatewayV2::Stage');
    expect(stages).toHaveLength(1);
    const [, stage] = stages[0] ?? [];
    // No stage-wide throttle (the framework sets only DetailedMetricsEnabled there).
    expect(stage?.Properties.DefaultRouteSettings).not.toHaveProperty('ThrottlingRateLimit');
    expect(stage?.Properties.DefaultRouteSettings).not.toHaveProperty('ThrottlingBurstLimit');
    const settings = stage?.Properties.RouteSettings as Record<string, unknown>;
    expect(settings['GET /api/v1/verify/{verificationCode}']).toEqual({
      ThrottlingRateLimit: 75,
      ThrottlingBurstLimit: 200,
    });
    expect(settings['POST /api/v1/attempts']).toBeUndefined();
    // The CORS preflight, which every browser call to an authenticated route passes, has its own
    // limit (PREFLIGHT_THROTTLE_*: the rate's default, the burst as configured), not the public one.
    expect(settings['OPTIONS /{proxy+}']).toEqual({ ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 3000 });
    // Every key names a route of this API, and the stage waits for those routes: created first,
    // it would fail with "Unable to find Route by key".
    const routes = new Map(
      resourcesOfType('AWS::ApiGatewayV2::Route').map(([id, route]) => [
        String(route.Properties.RouteKey),
        id,
      ]),
    );
    const dependsOn = [stage?.DependsOn ?? []].flat();
    for (const key of Object.keys(settings)) {
      expect(routes.has(key), key).toBe(true);
      expect(dependsOn, key).toContain(routes.get(key));
    }
  });

  it('packages no secret value: only the ARNs, each read by exactly the roles that need it', async () => {
    for (const file of ['cloudformation-template-update-stack.json', 'serverless-state.json']) {
      const text = await readFile(join(packageDir, file), 'utf8');
      expect(text, file).not.toContain(CANARIES.KEYCLOAK_CLIENT_SECRET);
      expect(text, file).not.toContain('canary-signing-key');
      expect(text, file).not.toContain('canary-credential-key');
    }
    const generate = template.Resources.GenerateLambdaFunction as Resource;
    const variables = (generate.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables.KEYCLOAK_CLIENT_SECRET).toBe('');
    expect(variables.KEYCLOAK_CLIENT_SECRET_ARN).toBe(KEYCLOAK_SECRET_ARN);
    expect(variables.DATABASE_SECRET_ARN).toBe(DB_SECRET_ARN);
    expect(variables.SIGNING_KEY).toBe('');
    expect(variables.SIGNING_KEY_ARN).toBe(SIGNING_KEY_ARN);
    expect(variables.CREDENTIAL_SIGNING_KEY).toBe('');
    expect(variables.CREDENTIAL_SIGNING_KEY_ARN).toBe(CREDENTIAL_SIGNING_KEY_ARN);
    expect(variables.DB_POOL_MAX).toBe('1');

    const roles = new Map(resourcesOfType('AWS::IAM::Role'));
    const grants = (action: string) =>
      [...roles].flatMap(([roleId, role]) =>
        statementsOf(role)
          .filter((statement) => [statement.Action].flat().includes(action))
          .map((statement) => ({ roleId, resource: statement.Resource })),
      );
    const ssm = grants('ssm:GetParameter');
    // Only generate reads the Keycloak secret and the facts key (ES256, the QR code); the
    // credentials key (RS256) is read by generate and by the routes that sign credentials on
    // request (status lists, Open Badges), which never get the facts key.
    expect(ssm).toEqual([
      { roleId: 'GenerateIamRole', resource: [KEYCLOAK_SECRET_ARN] },
      { roleId: 'GenerateIamRole', resource: [SIGNING_KEY_ARN] },
      { roleId: 'GenerateIamRole', resource: [CREDENTIAL_SIGNING_KEY_ARN] },
      ...['GetCertificateCredential', 'GetPublicCredential', 'GetStatusList'].map((name) => ({
        roleId: `${name}IamRole`,
        resource: [CREDENTIAL_SIGNING_KEY_ARN],
      })),
    ]);
    const secrets = grants('secretsmanager:GetSecretValue');
    // The ARN as given, and the same followed by Secrets Manager's random suffix.
    for (const grant of secrets) expect(grant.resource).toEqual([DB_SECRET_ARN, `${DB_SECRET_ARN}-??????`]);
    // Every function that connects to PostgreSQL, and no wildcard: all but the two that answer
    // from code alone (the OpenAPI document, the CORS preflight).
    expect(new Set(secrets.map((grant) => grant.roleId))).toEqual(
      new Set(
        Object.keys(functions)
          .filter((fn) => !['openapi', 'preflight'].includes(fn))
          .map(roleOf),
      ),
    );
    // The OpenAPI document needs no database and reads no secret.
    const openapi = template.Resources.OpenapiLambdaFunction as Resource;
    const openapiRole = (openapi.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    // It writes its logs, and may do nothing else.
    expect(
      statementsOf(roles.get(openapiRole) as Resource).flatMap((statement) => [statement.Action].flat()),
    ).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
  });

  it("leaves CORS to the functions: API Gateway's own setting would replace the public routes' `*`", () => {
    const [[, api] = [], ...others] = resourcesOfType('AWS::ApiGatewayV2::Api');
    expect(others).toEqual([]);
    expect(api?.Properties.CorsConfiguration).toBeUndefined();
    // The preflight reaches a function, with no authorizer in the way.
    const routes = resourcesOfType('AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties);
    const options = routes.filter((route) => String(route.RouteKey).startsWith('OPTIONS '));
    expect(options).toHaveLength(1);
    expect(options[0]?.RouteKey).toBe('OPTIONS /{proxy+}');
    expect(options[0]?.AuthorizationType ?? 'NONE').toBe('NONE');
    // Every HTTP function is told the origins given at package time.
    const httpFunctions = Object.entries(functions).filter(([, fn]) =>
      fn.handler.startsWith('functions/http/'),
    );
    expect(httpFunctions.length).toBeGreaterThan(20);
    for (const [name] of httpFunctions) {
      const id = `${name.charAt(0).toUpperCase()}${name.slice(1)}LambdaFunction`;
      const lambda = template.Resources[id] as Resource;
      expect(lambda, id).toBeDefined();
      const env = (lambda.Properties.Environment as { Variables: Record<string, unknown> } | undefined)
        ?.Variables;
      expect(env?.CORS_ALLOWED_ORIGINS, name).toBe('https://learn.example.org');
    }
  });

  it('bounds generate: reserved concurrency, event age, an on-failure queue kept 14 days, an alarm', () => {
    const generate = template.Resources.GenerateLambdaFunction as Resource;
    expect(generate.Properties.ReservedConcurrentExecutions).toBe(40);
    const invokeConfigOf = (functionId: string) =>
      resourcesOfType('AWS::Lambda::EventInvokeConfig').find(
        ([, config]) => (config.Properties.FunctionName as { Ref?: string } | undefined)?.Ref === functionId,
      )?.[1];
    const invokeConfig = invokeConfigOf('GenerateLambdaFunction');
    expect(invokeConfig?.Properties).toMatchObject({
      FunctionName: { Ref: 'GenerateLambdaFunction' },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: expect.any(Number),
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['GenerateFailureQueue', 'Arn'] } } },
    });
    const queue = template.Resources.GenerateFailureQueue as Resource;
    expect(queue.Type).toBe('AWS::SQS::Queue');
    expect(queue.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm');
    expect(alarms.map(([, alarm]) => alarm.Properties.Dimensions)).toContainEqual([
      { Name: 'QueueName', Value: { 'Fn::GetAtt': ['GenerateFailureQueue', 'QueueName'] } },
    ]);
    // The scheduled functions are not retried by Lambda, nor kept for hours when throttled and run
    // late beside the next ticks: the next minute's run carries on.
    for (const functionId of ['ScanLambdaFunction', 'DeliverWebhooksLambdaFunction'])
      expect(invokeConfigOf(functionId)?.Properties, functionId).toMatchObject({
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
      });
    // The scheduled functions' failures alarm too (their empty events are not worth a queue).
    for (const [alarmId, functionId] of [
      ['ScanErrorsAlarm', 'ScanLambdaFunction'],
      ['DeliverWebhooksErrorsAlarm', 'DeliverWebhooksLambdaFunction'],
    ] as const) {
      const alarm = template.Resources[alarmId] as Resource;
      expect(alarm?.Type, alarmId).toBe('AWS::CloudWatch::Alarm');
      expect(alarm.Properties, alarmId).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      expect(template.Resources[functionId], functionId).toBeDefined();
    }
    // The scan and the ingestion route share the same budget.
    for (const fn of ['ScanLambdaFunction', 'CreateAttemptLambdaFunction']) {
      const lambda = template.Resources[fn] as Resource;
      const env = (lambda.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env.GENERATE_MAX_CONCURRENCY, fn).toBe('40');
    }
  });

  it("keeps each stage's metrics apart: the dead-certificates alarm watches its own stage's service only", () => {
    const service = `course-certificates-${STAGE}`;
    for (const [name, lambda] of resourcesOfType('AWS::Lambda::Function')) {
      const env = (lambda.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env.POWERTOOLS_SERVICE_NAME, name).toBe(service);
    }
    const alarm = template.Resources.CertificatesDeadAlarm as Resource;
    expect(alarm.Properties).toMatchObject({
      Namespace: 'CourseCertificates',
      MetricName: 'CertificatesDead',
      Dimensions: [{ Name: 'service', Value: service }],
    });
  });

  it("alarms on any configuration error of its own stage's service, whatever the dependency, notifying the same topics", () => {
    const service = `course-certificates-${STAGE}`;
    const alarm = template.Resources.ConfigurationErrorsAlarm as Resource;
    expect(alarm?.Type).toBe('AWS::CloudWatch::Alarm');
    // The dependency-less series lib/observability/metrics.ts writes beside the per-dependency one:
    // CloudWatch matches an alarm's dimensions exactly, so no `dependency` here.
    expect(alarm.Properties).toMatchObject({
      AlarmName: `${service}-configuration-errors`,
      Namespace: 'CourseCertificates',
      MetricName: 'ConfigurationErrors',
      Dimensions: [{ Name: 'service', Value: service }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarm.Properties.AlarmDescription).toMatch(/last_error/);
    // The topics the other alarms notify (ALARM_TOPIC_ARNS).
    expect(alarm.Properties.AlarmActions).toEqual([DEPLOY_ENV.ALARM_TOPIC_ARNS]);
    expect((template.Resources.CertificatesDeadAlarm as Resource).Properties.AlarmActions).toEqual([
      DEPLOY_ENV.ALARM_TOPIC_ARNS,
    ]);
  });

  it('gives every function with a database waits that end inside its own timeout, so a route answers its own 503', () => {
    const withDatabase = resourcesOfType('AWS::Lambda::Function').filter(([, lambda]) => {
      const env = (lambda.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
        ?.Variables;
      return env?.DATABASE_URL !== undefined;
    });
    expect(withDatabase.length).toBeGreaterThan(30);
    const waits = new Map<string, { connectMs: number; statementMs: number; timeoutMs: number }>();
    for (const [name, lambda] of withDatabase) {
      const env = (lambda.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      // As the function reads them at cold start: the configuration's defaults for what is unset,
      // and its bounds for what is set (a value it refused would stop the function instead).
      const { db } = loadConfig(
        ['db'],
        Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value)])),
      );
      const wait = {
        connectMs: db.DB_CONNECT_TIMEOUT_SECONDS * 1000,
        statementMs: db.DB_STATEMENT_TIMEOUT_MS,
        timeoutMs: Number(lambda.Properties.Timeout) * 1000,
      };
      waits.set(name, wait);
      // A connect and a statement that each run out leave the handler time to answer 503
      // (lib/http/errors.ts) before Lambda ends it and API Gateway answers a bare 500.
      expect(wait.connectMs + wait.statementMs, name).toBeLessThan(wait.timeoutMs);
    }
    // The HTTP functions' 10 s hold 3 s and 6 s; the long-running ones keep their longer waits.
    expect(waits.get('HealthLambdaFunction')).toEqual({
      connectMs: 3000,
      statementMs: 6000,
      timeoutMs: 10_000,
    });
    for (const name of ['ScanLambdaFunction', 'GenerateLambdaFunction', 'DeliverWebhooksLambdaFunction'])
      expect(waits.get(name), name).toMatchObject({ connectMs: 10_000, statementMs: 15_000 });
  });

  it('gives every function that renders a render time limit it can reach within its own timeout', () => {
    const renderers = resourcesOfType('AWS::Lambda::Function').filter(([, lambda]) => {
      const env = (lambda.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)
        ?.Variables;
      return env?.RENDER_TIMEOUT_MS !== undefined;
    });
    expect(renderers.map(([name]) => name).sort()).toEqual([
      'GenerateLambdaFunction',
      'PreviewTemplateLambdaFunction',
    ]);
    for (const [name, lambda] of renderers) {
      const env = (lambda.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      // A cold launch of Chromium (~1 s) and the rest of the request must fit beside the render.
      expect(Number(env.RENDER_TIMEOUT_MS) + 5000, name).toBeLessThanOrEqual(
        Number(lambda.Properties.Timeout) * 1000,
      );
    }
  });

  it('refuses to deploy the local and test stages, before packaging anything', async () => {
    const workDir = await mkdtemp(join(inject('stack').root, 'sls-esbuild-'));
    // A shell where `npm start` ran: plain secrets set, no --stage. Fake credentials keep a
    // deploy that got past the check away from any real account.
    const shell = {
      SIGNING_KEY: CANARIES.SIGNING_KEY,
      CREDENTIAL_SIGNING_KEY: CANARIES.CREDENTIAL_SIGNING_KEY,
      KEYCLOAK_CLIENT_SECRET: CANARIES.KEYCLOAK_CLIENT_SECRET,
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEONLY',
      AWS_SECRET_ACCESS_KEY: 'not-a-key',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    for (const args of [['deploy'], ['deploy', 'function', '--function', 'generate', '--stage', 'test']]) {
      const failure = (await serverless(args, shell, workDir).then(
        () => undefined,
        (error: unknown) => error,
      )) as { stdout: string; stderr: string } | undefined;
      expect(failure, `${args.join(' ')} should fail`).toBeDefined();
      const output = `${failure?.stdout ?? ''}${failure?.stderr ?? ''}`;
      expect(output).toContain(
        `Cannot deploy stage ${args.includes('test') ? 'test' : 'local'}: local and test are`,
      );
      expect(output).not.toContain(CANARIES.SIGNING_KEY);
      expect(output).not.toContain(CANARIES.CREDENTIAL_SIGNING_KEY);
    }
    // Refused at initialisation: nothing was bundled.
    expect(await readdir(workDir)).toEqual([]);
  });

  it('refuses to deploy a package built for another stage, a local one above all, whatever --stage says', async () => {
    const workDir = await mkdtemp(join(inject('stack').root, 'sls-esbuild-'));
    const shell = {
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEONLY',
      AWS_SECRET_ACCESS_KEY: 'not-a-key',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    // The state of a package as `npm run package` (no --stage) writes it: stage local.
    const local = await mkdtemp(join(inject('stack').root, 'sls-local-package-'));
    const state = JSON.parse(await readFile(join(packageDir, 'serverless-state.json'), 'utf8')) as {
      service: { provider: { stage: string } };
    };
    expect(state.service.provider.stage).toBe(STAGE);
    state.service.provider.stage = 'local';
    await writeFile(join(local, 'serverless-state.json'), JSON.stringify(state));
    for (const [directory, expected] of [
      [local, `it was packaged for stage local, whose template may carry plain secrets`],
      [packageDir, `it was packaged for stage ${STAGE}. Package it with --stage prod`],
    ] as const) {
      const failure = (await serverless(
        ['deploy', '--stage', 'prod', '--package', directory],
        { ...DEPLOY_ENV, ...shell },
        workDir,
      ).then(
        () => undefined,
        (error: unknown) => error,
      )) as { stdout: string; stderr: string } | undefined;
      expect(failure, directory).toBeDefined();
      expect(`${failure?.stdout ?? ''}${failure?.stderr ?? ''}`).toContain(expected);
    }
    expect(await readdir(workDir)).toEqual([]);
  });

  it('refuses to package values each in its bounds that a function would refuse together at cold start, naming the function and the rule', async () => {
    const workDir = await mkdtemp(join(inject('stack').root, 'sls-esbuild-'));
    const failure = (await serverless(
      ['package', '--stage', 'prod', '--package', await mkdtemp(join(inject('stack').root, 'sls-refused-'))],
      {
        ...DEPLOY_ENV,
        // The documented maximum, with the default batch and concurrency: a round of 220 s.
        WEBHOOK_TIMEOUT_MS: '30000',
        // Not beyond generate's 120 s timeout: a live worker would be taken over.
        LEASE_SECONDS: '120',
        // Beyond the default maximum lifetime of a download link.
        DOWNLOAD_URL_TTL_SECONDS: '100000',
      },
      workDir,
    ).then(
      () => undefined,
      (error: unknown) => error,
    )) as { stdout: string; stderr: string } | undefined;
    expect(failure, 'packaging should fail').toBeDefined();
    const output = `${failure?.stdout ?? ''}${failure?.stderr ?? ''}`;
    expect(output).toContain('Cannot package: a function would refuse its configuration at cold start');
    expect(output).toMatch(
      /deliverWebhooks: WEBHOOK_TIMEOUT_MS with WEBHOOK_BATCH_SIZE=50 and WEBHOOK_CONCURRENCY=8, a round can take 220 s/,
    );
    expect(output).toMatch(
      /generate: LEASE_SECONDS must exceed generate's timeout GENERATE_TIMEOUT_SECONDS=120/,
    );
    expect(output).toMatch(
      /getCertificateDownload: DOWNLOAD_URL_TTL_SECONDS must not exceed DOWNLOAD_URL_MAX_TTL_SECONDS/,
    );
  });

  it('refuses to package a deploy stage with a missing value, a password in DATABASE_URL or a VERIFY_BASE_URL the functions refuse, naming them', async () => {
    const workDir = await mkdtemp(join(inject('stack').root, 'sls-esbuild-'));
    const { KEYCLOAK_CLIENT_SECRET_ARN: _missing, ALARM_TOPIC_ARNS: _forgotten, ...incomplete } = DEPLOY_ENV;
    const attempt = serverless(
      [
        'package',
        '--stage',
        'preproduction-eu1',
        '--region',
        'eu-central-1',
        '--package',
        await mkdtemp(join(inject('stack').root, 'sls-refused-')),
      ],
      {
        ...incomplete,
        DATABASE_URL: `postgres://certificates:${CANARIES.DB_PASSWORD}@db.example.internal/certificates`,
        // The HTTP API's own address: too long for the QR code (lib/config.ts, checked by the CLI too).
        VERIFY_BASE_URL: 'https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/api/v1/verify',
        // Left in the shell from a local run against MinIO and offline.
        S3_ENDPOINT_URL: 'http://localhost:9000',
        LAMBDA_ENDPOINT_URL: 'http://127.0.0.1:3002',
        // Created with a CLI profile of another region.
        SIGNING_KEY_ARN: SIGNING_KEY_ARN.replace(':eu-central-1:', ':us-east-1:'),
      },
      workDir,
    );
    const failure = (await attempt.then(
      () => undefined,
      (error: unknown) => error,
    )) as { stdout: string; stderr: string } | undefined;
    expect(failure, 'packaging should fail').toBeDefined();
    const output = `${failure?.stdout ?? ''}${failure?.stderr ?? ''}`;
    expect(output).toContain('KEYCLOAK_CLIENT_SECRET_ARN is required for stage preproduction-eu1');
    expect(output).toContain('ALARM_TOPIC_ARNS is required for stage preproduction-eu1');
    expect(output).toContain('S3_ENDPOINT_URL must not be set for stage preproduction-eu1');
    expect(output).toContain('LAMBDA_ENDPOINT_URL must not be set for stage preproduction-eu1');
    expect(output).toContain('SIGNING_KEY_ARN is in region us-east-1, not eu-central-1');
    // 17 characters: course-certificates-preproduction-eu1-getLatestStudentCertificate is 65.
    expect(output).toContain('stage preproduction-eu1 is too long');
    expect(output).toContain(
      "over Lambda's limit of 64 characters (stage names of at most 16 characters fit)",
    );
    expect(output).toContain('DATABASE_URL must not contain a password');
    expect(output).toContain('VERIFY_BASE_URL must be at most 64 characters (the QR code is sized for it)');
    expect(output).not.toContain(CANARIES.DB_PASSWORD);
  });
});
