import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { anyone } from '../../lib/auth/policies.ts';
import { documentedVariables, loadConfig, SECRET_ARN } from '../../lib/config.ts';
import { ROUTES } from '../../lib/http/routes/catalog.ts';
import { openApiRoute } from '../../lib/http/routes/openapi.ts';

// serverless/deployment.cjs decides, at package time, what a stage gets: tested directly here;
// test/integration/serverless-package.test.ts checks the packaged template.

interface Settings {
  vpc?: { subnetIds: string[]; securityGroupIds: string[] };
  managedPolicies: { 'Fn::Join': [string, [string, { Ref: string }, string]] }[];
  alarmActions: string[];
  writeOwnLogs: Record<string, { PolicyDocument: { Statement: { Action: string[]; Resource: unknown }[] } }>;
  keycloakClientSecret: string;
  signingKey: string;
  generateMaxConcurrency: number;
  databaseSecret: { action: string; resources: string[] };
  keycloakSecret: { action: string; resources: string[] };
  signingKeySecret: { action: string; resources: string[] };
  credentialSigningKeySecret: { action: string; resources: string[] };
  corsAllowedOrigins: string;
  publicRouteSettings: Record<string, Throttle>;
  preflightRouteSetting: Throttle;
  stageRouteSettings: Record<string, Throttle>;
  stageRouteIds: string[];
}
interface Throttle {
  ThrottlingRateLimit: number;
  ThrottlingBurstLimit: number;
}
const {
  settings,
  corsFor,
  unpatchedDependencies,
  PUBLIC_ROUTE_KEYS,
  PREFLIGHT_ROUTE_KEY,
  LOCAL_ENDPOINT_VARIABLES,
  declaredService,
  SECRET_ARN: PACKAGED_SECRET_ARN,
} = createRequire(import.meta.url)('../../serverless/deployment.cjs') as {
  settings: (stage: string, region: string) => Settings;
  corsFor: (stage: string, value: string | undefined) => { origins: string[]; problems: string[] };
  unpatchedDependencies: (root?: string) => string[];
  PUBLIC_ROUTE_KEYS: readonly string[];
  PREFLIGHT_ROUTE_KEY: string;
  LOCAL_ENDPOINT_VARIABLES: readonly string[];
  declaredService: (
    stage: string,
    file?: string,
  ) => { service: string; functions: { key: string; role?: string; name: string }[] };
  SECRET_ARN: RegExp;
};

describe('the secret ARN pattern packaging checks', () => {
  it('takes and refuses what the functions take and refuse at cold start (lib/config.ts)', () => {
    const samples = [
      'arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-AbCdEf',
      'arn:aws:ssm:eu-central-1:123456789012:parameter/certificates/keycloak',
      'arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/x',
      'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:y',
      'arn:aws:ssm:eu-central-1:12345678901:parameter/short-account',
      'arn:aws:s3:eu-central-1:123456789012:secret:wrong-service',
      'arn:aws:ssm:EU-CENTRAL-1:123456789012:parameter/upper-region',
      'arn:aws:ssm:eu-central-1:123456789012:parameter/',
      'arn:aws:secretsmanager:eu-central-1:123456789012:secret:',
      'arn:aws:ssm:eu-central-1:123456789012:key/not-a-parameter',
      ' arn:aws:ssm:eu-central-1:123456789012:parameter/x',
    ];
    const answers = samples.map((arn) => [arn, SECRET_ARN.test(arn)]);
    expect(samples.map((arn) => [arn, PACKAGED_SECRET_ARN.test(arn)])).toEqual(answers);
    // Both ways answered: the samples are not all taken or all refused.
    expect(new Set(answers.map(([, taken]) => taken))).toEqual(new Set([true, false]));
  });
});

/** The name of an AWS-managed policy from its ARN, which must be built in the stack's partition. */
function policyName(arn: Settings['managedPolicies'][number]): string {
  const [, [prefix, partition, rest]] = arn['Fn::Join'];
  expect([prefix, partition]).toEqual(['arn:', { Ref: 'AWS::Partition' }]);
  return rest.replace(/^:iam::aws:policy\//, '');
}

const DEPLOY = {
  DATABASE_URL: 'postgres://certificates@db.internal:5432/certificates',
  DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-AbCdEf',
  KEYCLOAK_URL: 'https://sso.example.org',
  KEYCLOAK_CLIENT_SECRET_ARN: 'arn:aws:ssm:eu-central-1:123456789012:parameter/kc',
  SIGNING_KEY_ARN: 'arn:aws:ssm:eu-central-1:123456789012:parameter/signing-key',
  CREDENTIAL_SIGNING_KEY_ARN: 'arn:aws:ssm:eu-central-1:123456789012:parameter/credential-signing-key',
  AUTH_ISSUER: 'https://sso.example.org/realms/student',
  AUTH_AUDIENCE: 'certificates-frontend',
  VERIFY_BASE_URL: 'https://certificates.example.org/verify',
  ALARM_TOPIC_ARNS: 'arn:aws:sns:eu-central-1:123456789012:certificates-alarms',
};
const touched = [
  ...Object.keys(DEPLOY),
  'S3_ENDPOINT_URL',
  'LAMBDA_ENDPOINT_URL',
  'S3_REGION',
  'ALLOW_SETTINGS_CHANGE',
  'VPC_SUBNET_IDS',
  'VPC_SECURITY_GROUP_IDS',
  'KEYCLOAK_CLIENT_SECRET',
  'SIGNING_KEY',
  'CREDENTIAL_SIGNING_KEY',
  'CORS_ALLOWED_ORIGINS',
  'PUBLIC_THROTTLE_RATE_LIMIT',
  'PUBLIC_THROTTLE_BURST_LIMIT',
  'PREFLIGHT_THROTTLE_RATE_LIMIT',
  'PREFLIGHT_THROTTLE_BURST_LIMIT',
  'GENERATE_MAX_CONCURRENCY',
];
const saved = Object.fromEntries(touched.map((name) => [name, process.env[name]]));

function withEnv(env: Record<string, string>): void {
  for (const name of touched) delete process.env[name];
  Object.assign(process.env, env);
}

/**
 * Packages a deploy stage with `variable` set to `value` and expects it refused exactly when the
 * functions' cold start (`coldStart`, lib/config.ts) refuses it; answers which it was.
 */
function packagingAgreesWithColdStart(variable: string, value: string, coldStart: () => unknown): string {
  const outcome = (check: () => unknown) => {
    try {
      check();
      return 'accepted';
    } catch (error) {
      return String(error).includes(variable) ? 'refused' : `other: ${String(error)}`;
    }
  };
  withEnv({ ...DEPLOY, [variable]: value });
  const atColdStart = outcome(coldStart);
  expect(
    outcome(() => settings('prod', 'eu-central-1')),
    value,
  ).toBe(atColdStart);
  return atColdStart;
}

afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('offline on the bundles', () => {
  it('watches the sources only, never a node_modules inside the project', () => {
    const yaml = load(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as {
      custom: { esbuild: { watch?: { pattern?: string[]; ignore?: string[] } } };
    };
    const watch = yaml.custom.esbuild.watch;
    // serverless-esbuild's default, './**/*.(js|ts)' ignoring only ./node_modules, walked every
    // nested node_modules and slowed each certificate twentyfold.
    expect(watch?.pattern).toEqual(expect.arrayContaining(['functions/**/*.ts', 'lib/**/*.ts']));
    for (const pattern of watch?.pattern ?? []) expect(pattern).not.toMatch(/^\.?\/?\*\*/);
    expect(watch?.ignore).toContain('**/node_modules/**');
  });

  it('keeps idle workers, whose warm Chromium an ended worker would leave running', () => {
    const yaml = load(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as {
      custom: { 'serverless-offline': { terminateIdleLambdaTime?: number } };
    };
    const seconds = yaml.custom['serverless-offline'].terminateIdleLambdaTime ?? 60;
    // At least a working week of idling; under Node's timer limit (2^31 - 1 ms), past which
    // offline's cleanup timer would fire at once, over and over.
    expect(seconds).toBeGreaterThanOrEqual(7 * 86_400);
    expect(seconds * 1000).toBeLessThan(2 ** 31);
  });
});

describe('package-time settings', () => {
  it('attaches a deploy stage to the VPC given, with the VPC access policy', () => {
    withEnv({
      ...DEPLOY,
      VPC_SUBNET_IDS: 'subnet-0a1b2c, subnet-0d4e5f',
      VPC_SECURITY_GROUP_IDS: 'sg-0123abcd',
    });
    const values = settings('prod', 'eu-central-1');
    expect(values.vpc).toEqual({
      subnetIds: ['subnet-0a1b2c', 'subnet-0d4e5f'],
      securityGroupIds: ['sg-0123abcd'],
    });
    // The network-interface actions only: AWSLambdaVPCAccessExecutionRole would grant logs on
    // every group of the account, past the roles' own write-own-logs policy.
    expect(values.managedPolicies.map(policyName)).toContain('service-role/AWSLambdaENIManagementAccess');
    expect(values.managedPolicies.some((arn) => policyName(arn).includes('VPCAccess'))).toBe(false);
    expect(values.generateMaxConcurrency).toBe(50);
  });

  it('throttles each public route at 100 requests a second (burst 200) unless told otherwise; nonsense is refused by name', () => {
    withEnv(DEPLOY);
    const values = settings('prod', 'eu-central-1');
    // Exactly the routes that need no token (policy `anyone`), the OpenAPI document included:
    // the authenticated routes (the LMS's ingestion, downloads, staff) are not held to what an
    // anonymous flood may use up. Nor is the CORS preflight, which all their browser calls pass.
    const anyoneRoutes = [...ROUTES, openApiRoute]
      .filter((route) => route.policy === anyone)
      .map((route) => `${route.method} ${route.path}`);
    // And the HEAD of each, which serverless.yml routes to the same function.
    expect([...PUBLIC_ROUTE_KEYS].sort()).toEqual(
      [...anyoneRoutes, ...anyoneRoutes.map((key) => key.replace(/^GET /, 'HEAD '))].sort(),
    );
    expect(Object.keys(values.publicRouteSettings).sort()).toEqual([...PUBLIC_ROUTE_KEYS].sort());
    // A HEAD does its GET's work: a tenth of the GET's limit.
    for (const [key, limits] of Object.entries(values.publicRouteSettings))
      expect(limits, key).toEqual(
        key.startsWith('HEAD ')
          ? { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 }
          : { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      );
    withEnv({ ...DEPLOY, PUBLIC_THROTTLE_RATE_LIMIT: '20', PUBLIC_THROTTLE_BURST_LIMIT: '40' });
    expect(settings('prod', 'eu-central-1').publicRouteSettings['GET /api/v1/status/{listId}']).toEqual({
      ThrottlingRateLimit: 20,
      ThrottlingBurstLimit: 40,
    });
    expect(settings('prod', 'eu-central-1').publicRouteSettings['HEAD /api/v1/status/{listId}']).toEqual({
      ThrottlingRateLimit: 2,
      ThrottlingBurstLimit: 4,
    });
    withEnv({ ...DEPLOY, PUBLIC_THROTTLE_RATE_LIMIT: '0' });
    expect(() => settings('prod', 'eu-central-1')).toThrowError(
      /PUBLIC_THROTTLE_RATE_LIMIT must be a positive integer/,
    );
    withEnv({ ...DEPLOY, PUBLIC_THROTTLE_BURST_LIMIT: 'lots' });
    expect(() => settings('prod', 'eu-central-1')).toThrowError(
      /PUBLIC_THROTTLE_BURST_LIMIT must be a positive integer/,
    );
  });

  it('gives the CORS preflight its own throttle, ten times the public one unless told otherwise; nonsense is refused by name', () => {
    withEnv(DEPLOY);
    const values = settings('prod', 'eu-central-1');
    expect(PREFLIGHT_ROUTE_KEY).toBe('OPTIONS /{proxy+}');
    // Every browser call to an authenticated route is preflighted: not the public routes' limit.
    expect(values.publicRouteSettings[PREFLIGHT_ROUTE_KEY]).toBeUndefined();
    expect(values.preflightRouteSetting).toEqual({ ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 });
    // The stage binds both, and waits for each route it names.
    expect(values.stageRouteSettings).toEqual({
      ...values.publicRouteSettings,
      [PREFLIGHT_ROUTE_KEY]: values.preflightRouteSetting,
    });
    expect(values.stageRouteIds).toHaveLength(PUBLIC_ROUTE_KEYS.length + 1);
    expect(values.stageRouteIds).toContain('HttpApiRouteOptionsProxyVar');
    expect(new Set(values.stageRouteIds).size).toBe(values.stageRouteIds.length);
    // Set apart from the public limits, and the public limits do not move it.
    withEnv({
      ...DEPLOY,
      PUBLIC_THROTTLE_RATE_LIMIT: '20',
      PREFLIGHT_THROTTLE_RATE_LIMIT: '5000',
      PREFLIGHT_THROTTLE_BURST_LIMIT: '8000',
    });
    const tuned = settings('prod', 'eu-central-1');
    expect(tuned.stageRouteSettings[PREFLIGHT_ROUTE_KEY]).toEqual({
      ThrottlingRateLimit: 5000,
      ThrottlingBurstLimit: 8000,
    });
    expect(tuned.stageRouteSettings['GET /api/v1/health']?.ThrottlingRateLimit).toBe(20);
    withEnv({ ...DEPLOY, PREFLIGHT_THROTTLE_RATE_LIMIT: '1.5' });
    expect(() => settings('prod', 'eu-central-1')).toThrowError(
      /PREFLIGHT_THROTTLE_RATE_LIMIT must be a positive integer/,
    );
    withEnv({ ...DEPLOY, PREFLIGHT_THROTTLE_BURST_LIMIT: '-1' });
    expect(() => settings('prod', 'eu-central-1')).toThrowError(
      /PREFLIGHT_THROTTLE_BURST_LIMIT must be a positive integer/,
    );
  });

  it('no VPC without subnets; and subnets without security groups are refused', () => {
    withEnv(DEPLOY);
    const values = settings('prod', 'eu-central-1');
    expect(values.vpc).toBeUndefined();
    expect(values.managedPolicies.some((arn) => policyName(arn).includes('ENIManagement'))).toBe(false);
    withEnv({ ...DEPLOY, VPC_SUBNET_IDS: 'subnet-0a1b2c' });
    expect(() => settings('prod', 'eu-central-1')).toThrowError(/VPC_SUBNET_IDS and VPC_SECURITY_GROUP_IDS/);
    withEnv({ ...DEPLOY, VPC_SUBNET_IDS: 'vpc-123', VPC_SECURITY_GROUP_IDS: 'sg-1' });
    expect(() => settings('prod', 'eu-central-1')).toThrowError(/vpc-123 is not a subnet id/);
  });

  it('local stages take plain values and need nothing; deploy stages never package the plain secret', () => {
    withEnv({ KEYCLOAK_CLIENT_SECRET: 'local-secret' });
    expect(settings('local', 'eu-central-1')).toMatchObject({
      keycloakClientSecret: 'local-secret',
      generateMaxConcurrency: 2,
    });
    withEnv({
      ...DEPLOY,
      KEYCLOAK_CLIENT_SECRET: 'leaked?',
      SIGNING_KEY: '{"d":"leaked?"}',
      CREDENTIAL_SIGNING_KEY: '{"d":"leaked too?"}',
    });
    expect(settings('prod', 'eu-central-1')).toMatchObject({
      keycloakClientSecret: '',
      signingKey: '',
      credentialSigningKey: '',
    });
    const { SIGNING_KEY_ARN: _missing, ...withoutKey } = DEPLOY;
    withEnv(withoutKey);
    expect(() => settings('prod', 'eu-central-1')).toThrowError(/SIGNING_KEY_ARN is required/);
    const { CREDENTIAL_SIGNING_KEY_ARN: _missingToo, ...withoutCredentialKey } = DEPLOY;
    withEnv(withoutCredentialKey);
    expect(() => settings('prod', 'eu-central-1')).toThrowError(/CREDENTIAL_SIGNING_KEY_ARN is required/);
  });

  it('grants the read action of the store each secret ARN names, whichever store it is', () => {
    // Swapped against DEPLOY: the database password in SSM, the two others in Secrets Manager,
    // one of them given without the random suffix AWS appends to a secret's name.
    const swapped = {
      ...DEPLOY,
      DATABASE_SECRET_ARN: 'arn:aws:ssm:eu-central-1:123456789012:parameter/db-password',
      KEYCLOAK_CLIENT_SECRET_ARN: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:kc-Zx81Qw',
      SIGNING_KEY_ARN: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:signing-key',
      CREDENTIAL_SIGNING_KEY_ARN: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:vc-key-Ab12Cd',
    };
    withEnv(swapped);
    const granted = settings('prod', 'eu-central-1');
    expect(granted.databaseSecret).toEqual({
      action: 'ssm:GetParameter',
      resources: [swapped.DATABASE_SECRET_ARN],
    });
    expect(granted.keycloakSecret).toEqual({
      action: 'secretsmanager:GetSecretValue',
      resources: [swapped.KEYCLOAK_CLIENT_SECRET_ARN, `${swapped.KEYCLOAK_CLIENT_SECRET_ARN}-??????`],
    });
    expect(granted.signingKeySecret).toEqual({
      action: 'secretsmanager:GetSecretValue',
      resources: [swapped.SIGNING_KEY_ARN, `${swapped.SIGNING_KEY_ARN}-??????`],
    });
    expect(granted.credentialSigningKeySecret).toEqual({
      action: 'secretsmanager:GetSecretValue',
      resources: [swapped.CREDENTIAL_SIGNING_KEY_ARN, `${swapped.CREDENTIAL_SIGNING_KEY_ARN}-??????`],
    });
    withEnv(DEPLOY);
    expect(settings('prod', 'eu-central-1').credentialSigningKeySecret.action).toBe('ssm:GetParameter');
    expect(settings('prod', 'eu-central-1').databaseSecret.action).toBe('secretsmanager:GetSecretValue');
    expect(settings('prod', 'eu-central-1').signingKeySecret.action).toBe('ssm:GetParameter');
  });

  it('refuses a SCAN_FILL_SECONDS the scan would refuse at cold start (45 was the default before), and takes the ones it takes', () => {
    for (const value of ['45', '50', '-1', 'soon']) {
      withEnv({ ...DEPLOY, SCAN_FILL_SECONDS: value });
      expect(() => settings('prod', 'eu-central-1'), value).toThrowError(/SCAN_FILL_SECONDS/);
    }
    for (const value of ['40', '0', '']) {
      withEnv({ ...DEPLOY, SCAN_FILL_SECONDS: value });
      expect(() => settings('prod', 'eu-central-1'), value).not.toThrow();
    }
  });

  it('refuses a VERIFY_BASE_URL the functions would refuse at cold start, naming it and why (an execute-api address never fits)', () => {
    // The HTTP API's default address with the verification path: 71 characters in eu-central-1.
    const executeApi = 'https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/api/v1/verify';
    withEnv({ ...DEPLOY, VERIFY_BASE_URL: executeApi });
    expect(() => settings('prod', 'eu-central-1')).toThrowError(
      /VERIFY_BASE_URL must be at most 64 characters \(the QR code is sized for it\): 71 characters given; an API Gateway execute-api address never fits, give the HTTP API a custom domain/,
    );
    // Packaging and the functions' cold start (lib/config.ts) agree on every value: refused by
    // both or by neither, at the limit and around it (a trailing slash is dropped before counting).
    const base = 'https://certificates.example.org/';
    const values = [
      executeApi,
      `${base}${'v'.repeat(31)}`,
      `${base}${'v'.repeat(31)}/`,
      `${base}${'v'.repeat(32)}`,
      'https://certificates.example.org/api/v1/verify',
      'http://localhost:3000/api/v1/verify',
      'certificates.example.org/verify',
      'ftp://certificates.example.org/verify',
    ];
    const seen = values.map((value) =>
      packagingAgreesWithColdStart('VERIFY_BASE_URL', value, () =>
        loadConfig(['render'], { VERIFY_BASE_URL: value }),
      ),
    );
    // Both outcomes occur, so the comparison above means something.
    expect(seen).toEqual([
      'refused',
      'accepted',
      'accepted',
      'refused',
      'accepted',
      'accepted',
      'refused',
      'refused',
    ]);
  });

  it('GENERATE_MAX_CONCURRENCY: packaging refuses exactly what the functions refuse at cold start', () => {
    const seen = ['0', '1', '50', '1000', '1001', '2000', '2.5', 'many'].map((value) =>
      packagingAgreesWithColdStart('GENERATE_MAX_CONCURRENCY', value, () =>
        loadConfig(['pipeline'], { GENERATE_MAX_CONCURRENCY: value }),
      ),
    );
    expect(seen).toEqual([
      'refused',
      'accepted',
      'accepted',
      'accepted',
      'refused',
      'refused',
      'refused',
      'refused',
    ]);
  });

  it('CORS: the Vite dev origin only for local stages; a deploy stage allows exactly what it is given', () => {
    expect(corsFor('local', undefined).origins).toEqual(['http://localhost:5173']);
    expect(corsFor('test', '').origins).toEqual(['http://localhost:5173']);
    expect(corsFor('prod', undefined).origins).toEqual([]);
    expect(corsFor('prod', ' https://learn.example.org , https://admin.example.org:8443')).toEqual({
      origins: ['https://learn.example.org', 'https://admin.example.org:8443'],
      problems: [],
    });
    expect(corsFor('prod', '*').origins).toEqual(['*']);
    for (const bad of [
      'https://learn.example.org/',
      'learn.example.org',
      'https://learn.example.org/app',
      'https://*.example.org',
    ])
      expect(corsFor('prod', bad).problems, bad).toEqual([
        expect.stringMatching(/^CORS_ALLOWED_ORIGINS: .* is not an origin/),
      ]);
    // Packaging refuses it, naming it, with the other problems of the stage.
    withEnv({ ...DEPLOY, CORS_ALLOWED_ORIGINS: 'https://learn.example.org/' });
    expect(() => settings('prod', 'eu-central-1')).toThrowError(
      /CORS_ALLOWED_ORIGINS: https:\/\/learn.example.org\/ is not an origin/,
    );
    withEnv({ ...DEPLOY, CORS_ALLOWED_ORIGINS: 'https://learn.example.org, https://admin.example.org' });
    expect(settings('prod', 'eu-central-1').corsAllowedOrigins).toBe(
      'https://learn.example.org,https://admin.example.org',
    );
  });
});

describe('what a deploy stage refuses because AWS would take it and then fail or do less', () => {
  it('requires ALARM_TOPIC_ARNS, so a shell that forgot it cannot deploy alarms that notify nobody; `none` says so on purpose', () => {
    withEnv(DEPLOY);
    expect(settings('prod', 'eu-central-1').alarmActions).toEqual([DEPLOY.ALARM_TOPIC_ARNS]);
    const { ALARM_TOPIC_ARNS: _missing, ...withoutTopics } = DEPLOY;
    withEnv(withoutTopics);
    expect(() => settings('prod', 'eu-central-1')).toThrowError(
      /ALARM_TOPIC_ARNS is required for stage prod/,
    );
    withEnv({ ...DEPLOY, ALARM_TOPIC_ARNS: ' ' });
    expect(() => settings('prod', 'eu-central-1')).toThrowError(/ALARM_TOPIC_ARNS is required/);
    for (const none of ['none', 'NONE', ' none ']) {
      withEnv({ ...DEPLOY, ALARM_TOPIC_ARNS: none });
      expect(settings('prod', 'eu-central-1').alarmActions).toEqual([]);
    }
    for (const bad of ['certificates-alarms', `none,${DEPLOY.ALARM_TOPIC_ARNS}`]) {
      withEnv({ ...DEPLOY, ALARM_TOPIC_ARNS: bad });
      expect(() => settings('prod', 'eu-central-1'), bad).toThrowError(/ALARM_TOPIC_ARNS: .* is not an ARN/);
    }
    // The local stages alarm nobody and need nothing.
    withEnv({});
    expect(settings('local', 'eu-central-1').alarmActions).toEqual([]);
  });

  it("refuses a local server's endpoint left in the deploying shell, naming it; the local stages take it", () => {
    for (const name of LOCAL_ENDPOINT_VARIABLES) {
      withEnv({ ...DEPLOY, [name]: 'http://127.0.0.1:3002' });
      expect(() => settings('prod', 'eu-central-1'), name).toThrowError(
        new RegExp(`${name} must not be set for stage prod`),
      );
      withEnv({ [name]: 'http://127.0.0.1:3002' });
      expect(() => settings('local', 'eu-central-1'), name).not.toThrow();
    }
    // Every endpoint variable serverless.yml hands a function is in the list.
    const packaged = [
      ...readFileSync(join(ROOT, 'serverless.yml'), 'utf8').matchAll(/\$\{env:([A-Z0-9_]+_ENDPOINT_URL)\b/g),
    ].map((match) => match[1]);
    expect(packaged.length).toBeGreaterThan(0);
    expect([...new Set(packaged)].sort()).toEqual([...LOCAL_ENDPOINT_VARIABLES].sort());
  });

  it("refuses an S3_REGION other than the stack's region, where the stack creates its bucket", () => {
    withEnv({ ...DEPLOY, S3_REGION: 'us-east-1' });
    expect(() => settings('prod', 'eu-central-1')).toThrowError(
      /S3_REGION is us-east-1, but stage prod deploys to eu-central-1/,
    );
    withEnv({ ...DEPLOY, S3_REGION: 'eu-central-1' });
    expect(() => settings('prod', 'eu-central-1')).not.toThrow();
    withEnv({ S3_REGION: 'us-east-1' });
    expect(() => settings('local', 'eu-central-1')).not.toThrow();
  });

  it('refuses a secret ARN of another region than the deploy region, naming the variable', () => {
    for (const [name, arn] of [
      ['DATABASE_SECRET_ARN', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf'],
      ['KEYCLOAK_CLIENT_SECRET_ARN', 'arn:aws:ssm:us-west-2:123456789012:parameter/kc'],
      ['SIGNING_KEY_ARN', 'arn:aws:ssm:eu-west-1:123456789012:parameter/signing-key'],
      ['CREDENTIAL_SIGNING_KEY_ARN', 'arn:aws:ssm:eu-west-1:123456789012:parameter/credential-signing-key'],
    ] as const) {
      withEnv({ ...DEPLOY, [name]: arn });
      expect(() => settings('prod', 'eu-central-1'), name).toThrowError(
        new RegExp(`${name} is in region ${arn.split(':')[3]}, not eu-central-1 where stage prod deploys`),
      );
    }
    // The same ARNs are right for a stack in their region.
    withEnv({
      ...DEPLOY,
      DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf',
      KEYCLOAK_CLIENT_SECRET_ARN: 'arn:aws:ssm:us-east-1:123456789012:parameter/kc',
      SIGNING_KEY_ARN: 'arn:aws:ssm:us-east-1:123456789012:parameter/signing-key',
      CREDENTIAL_SIGNING_KEY_ARN: 'arn:aws:ssm:us-east-1:123456789012:parameter/credential-signing-key',
      ALARM_TOPIC_ARNS: 'none',
    });
    expect(() => settings('prod', 'us-east-1')).not.toThrow();
  });

  it("refuses a stage whose longest function name would exceed Lambda's 64 characters, from the functions serverless.yml declares", () => {
    const { service, functions } = declaredService('x');
    const longestKey = Math.max(...functions.map((fn) => fn.key.length));
    // `<service>-<stage>-<function>`: what is left for the stage (16 with getLatestStudentCertificate).
    const room = 64 - service.length - longestKey - 2;
    expect(room).toBeGreaterThan(3);
    withEnv(DEPLOY);
    expect(() => settings('s'.repeat(room), 'eu-central-1')).not.toThrow();
    expect(() => settings('s'.repeat(room + 1), 'eu-central-1')).toThrowError(
      new RegExp(
        `stage ${'s'.repeat(room + 1)} is too long: .* 65 characters, over Lambda's limit of 64 characters \\(stage names of at most ${room} characters fit\\)`,
      ),
    );
    if (room === 16)
      expect(() => settings('preproduction-eu1', 'eu-central-1')).toThrowError(
        /stage preproduction-eu1 is too long: its function course-certificates-preproduction-eu1-getLatestStudentCertificate/,
      );
    // Local stages are never deployed: their names are not checked.
    withEnv({});
    expect(() => settings('local', 'eu-central-1')).not.toThrow();
  });

  it('names the managed policies in the stack partition, as the rest of the stack does', () => {
    withEnv({ ...DEPLOY, VPC_SUBNET_IDS: 'subnet-0a1b2c', VPC_SECURITY_GROUP_IDS: 'sg-0123abcd' });
    const { managedPolicies } = settings('prod', 'eu-central-1');
    // policyName checks the partition: `arn:aws:` would name nothing in aws-cn or aws-us-gov.
    expect(managedPolicies.map(policyName).sort()).toEqual([
      'AWSXRayDaemonWriteAccess',
      'service-role/AWSLambdaENIManagementAccess',
    ]);
  });

  it('gives every function a role of its own, writing only to its own log group (serverless/role-per-function.cjs)', () => {
    const { rolePerFunction } = createRequire(import.meta.url)('../../serverless/role-per-function.cjs') as {
      rolePerFunction: (template: { Resources: Record<string, Record<string, unknown>> }) => {
        Resources: Record<string, Record<string, unknown>>;
      };
    };
    const readDb = { PolicyName: 'read-database-secret', PolicyDocument: { Statement: [] } };
    const kindRole = () => ({
      Type: 'AWS::IAM::Role',
      Properties: { ManagedPolicyArns: ['x-ray'], Policies: [readDb] },
    });
    const fn = (role: string, dependsOn?: string[]) => ({
      Type: 'AWS::Lambda::Function',
      Properties: { Role: { 'Fn::GetAtt': [role, 'Arn'] } },
      ...(dependsOn ? { DependsOn: dependsOn } : {}),
    });
    const group = { Type: 'AWS::Logs::LogGroup', Properties: {} };
    const template = {
      Resources: {
        HttpReadRole: kindRole(),
        HealthLambdaFunction: fn('HttpReadRole', ['HealthLogGroup', 'HttpReadRole']),
        HealthLogGroup: group,
        RevokeCertificateLambdaFunction: fn('HttpReadRole'),
        RevokeCertificateLogGroup: group,
      },
    };
    const { Resources } = rolePerFunction(structuredClone(template));
    // The kind role is gone; each function points at its own copy, and depends on it.
    expect(
      Object.keys(Resources)
        .filter((id) => Resources[id]?.Type === 'AWS::IAM::Role')
        .sort(),
    ).toEqual(['HealthIamRole', 'RevokeCertificateIamRole']);
    expect(Resources.HealthLambdaFunction).toMatchObject({
      Properties: { Role: { 'Fn::GetAtt': ['HealthIamRole', 'Arn'] } },
      DependsOn: ['HealthLogGroup', 'HealthIamRole'],
    });
    for (const name of ['Health', 'RevokeCertificate']) {
      const role = Resources[`${name}IamRole`] as { Properties: Record<string, unknown> };
      expect(role.Properties.ManagedPolicyArns).toEqual(['x-ray']);
      // Its kind's grants, and logs on its own group alone: public health cannot write the
      // lines of revokeCertificate's audit trail.
      expect(role.Properties.Policies).toEqual([
        {
          PolicyName: 'write-own-logs',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
                Resource: [{ 'Fn::GetAtt': [`${name}LogGroup`, 'Arn'] }],
              },
            ],
          },
        },
        readDb,
      ]);
    }
    // Copies, not one object shared: a change to one role cannot reach another.
    expect(Resources.HealthIamRole?.Properties).not.toBe(Resources.RevokeCertificateIamRole?.Properties);

    // A kind role something else names would vanish from under it: refused.
    const referenced = structuredClone(template) as typeof template & { Outputs?: unknown };
    referenced.Outputs = { ReadRole: { Value: { 'Fn::GetAtt': ['HttpReadRole', 'Arn'] } } };
    expect(() => rolePerFunction(referenced)).toThrow(/HttpReadRole is referenced outside/);
    const noGroup = structuredClone(template) as { Resources: Record<string, unknown> };
    delete noGroup.Resources.HealthLogGroup;
    expect(() => rolePerFunction(noGroup as typeof template)).toThrow(/no log group HealthLogGroup/);
    const foreignRole = structuredClone(template);
    foreignRole.Resources.HealthLambdaFunction = fn('NotARole');
    expect(() => rolePerFunction(foreignRole)).toThrow(
      /HealthLambdaFunction: its role must be one of serverless.yml's roles/,
    );
    // A function with no `role:` gets the framework's: stage-wide logs, a fixed RoleName. Refused.
    const frameworkRole = {
      Resources: {
        ...structuredClone(template.Resources),
        IamRoleLambdaExecution: kindRole(),
        HealthLambdaFunction: fn('IamRoleLambdaExecution'),
      },
    };
    expect(() => rolePerFunction(frameworkRole)).toThrow(/give the function a `role:`/);

    // No role of serverless.yml grants a stage-wide log-group pattern.
    const yaml = readFileSync(join(ROOT, 'serverless.yml'), 'utf8');
    expect(yaml).not.toMatch(/log-group:\/aws\/lambda\/[^"]*\*/);
  });
});

describe('a later deploy that would change what the deployed stack relies on (serverless/keep-deployed-settings.cjs)', () => {
  type Template = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  const plugin = createRequire(import.meta.url)('../../serverless/keep-deployed-settings.cjs') as {
    new (
      serverless: unknown,
      options: unknown,
      utils: { log: { warning: (message: string) => void } },
    ): { hooks: Record<string, () => Promise<void>> };
    settingChanges: (deployed: Template | undefined, next: Template, allowed?: string[]) => string[];
  };
  const stack = (bucket: string, scanNotBefore: string, vpc: boolean): Template => ({
    Resources: {
      CertificatesBucket: { Type: 'AWS::S3::Bucket', Properties: { BucketName: bucket } },
      ScanLambdaFunction: {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Environment: { Variables: { SCAN_NOT_BEFORE: scanNotBefore } },
          ...(vpc ? { VpcConfig: { SubnetIds: ['subnet-1'], SecurityGroupIds: ['sg-1'] } } : {}),
        },
      },
    },
  });
  const deployed = stack('certificates-123456789012-prod', '2025-12-02T00:00:00.000Z', true);

  it('refuses a new bucket name, a dropped SCAN_NOT_BEFORE or a dropped VPC, naming the variable and the deployed value', () => {
    expect(plugin.settingChanges(deployed, deployed)).toEqual([]);
    // A forgotten S3_BUCKET: the default name.
    expect(
      plugin.settingChanges(
        deployed,
        stack('course-certificates-prod-certificates', '2025-12-02T00:00:00.000Z', true),
      ),
    ).toEqual([
      expect.stringMatching(
        /^S3_BUCKET: the stack's bucket is certificates-123456789012-prod,.* Deploy with S3_BUCKET=certificates-123456789012-prod/,
      ),
    ]);
    expect(plugin.settingChanges(deployed, stack('certificates-123456789012-prod', '', false))).toEqual([
      expect.stringMatching(/^SCAN_NOT_BEFORE: .* Deploy with SCAN_NOT_BEFORE=2025-12-02T00:00:00.000Z/),
      expect.stringMatching(/^VPC_SUBNET_IDS: .* 1 of them would leave it/),
    ]);
    // Meant: another boundary, or these changes listed in ALLOW_SETTINGS_CHANGE.
    expect(
      plugin.settingChanges(
        deployed,
        stack('certificates-123456789012-prod', '2026-01-01T00:00:00.000Z', true),
      ),
    ).toEqual([]);
    expect(
      plugin.settingChanges(deployed, stack('other', '', false), [
        'S3_BUCKET',
        'SCAN_NOT_BEFORE',
        'VPC_SUBNET_IDS',
      ]),
    ).toEqual([]);
  });

  it("refuses a change of what issued certificates carry or rely on: the PDFs' key prefix and the published addresses", () => {
    const withGenerate = (variables: Record<string, string>): Template => ({
      Resources: {
        ...deployed.Resources,
        GenerateLambdaFunction: {
          Type: 'AWS::Lambda::Function',
          Properties: { Environment: { Variables: variables } },
        },
      },
    });
    const published = {
      S3_KEY_PREFIX: 'issued',
      VERIFY_BASE_URL: 'https://certificates.example.org/verify',
      PUBLIC_API_BASE_URL: '',
      ISSUER_URL: 'https://university.example.org',
    };
    const before = withGenerate(published);
    expect(plugin.settingChanges(before, withGenerate(published))).toEqual([]);
    // A shell without them: the defaults.
    const forgotten = withGenerate({
      S3_KEY_PREFIX: 'certificates',
      VERIFY_BASE_URL: 'https://certificates.example.org/verify',
      PUBLIC_API_BASE_URL: 'https://api.example.org/api/v1',
      ISSUER_URL: '',
    });
    expect(plugin.settingChanges(before, forgotten)).toEqual([
      expect.stringMatching(
        /^S3_KEY_PREFIX: the deployed stack has issued and this deploy certificates; the stored PDFs are under issued\/ .* Deploy with S3_KEY_PREFIX=issued/,
      ),
      expect.stringMatching(/^PUBLIC_API_BASE_URL: .* Deploy with PUBLIC_API_BASE_URL unset/),
      expect.stringMatching(
        /^ISSUER_URL: the deployed stack has https:\/\/university.example.org and this deploy unset \(its default\);.* Deploy with ISSUER_URL=https:\/\/university.example.org/,
      ),
    ]);
    expect(
      plugin.settingChanges(before, forgotten, ['S3_KEY_PREFIX', 'PUBLIC_API_BASE_URL', 'ISSUER_URL']),
    ).toEqual([]);
    // A stack deployed before generate had them (or without generate): nothing to compare.
    expect(plugin.settingChanges(deployed, forgotten)).toEqual([]);
  });

  it('compares with the stack on AWS before deploying: a first deploy passes, a changed bucket is refused, an unreadable stack is warned about', async () => {
    const next = stack('course-certificates-prod-certificates', '2025-12-02T00:00:00.000Z', true);
    const run = async (answer: () => unknown, command = ['deploy']) => {
      const requests: unknown[] = [];
      const warnings: string[] = [];
      const serverless = {
        processedInput: { commands: command },
        classes: { Error },
        service: { provider: { compiledCloudFormationTemplate: next } },
        getProvider: () => ({
          getStage: () => 'prod',
          naming: { getStackName: () => 'course-certificates-prod' },
          getCloudFormationClient: async () => ({
            send: async (request: { input: unknown }) => {
              requests.push(request.input);
              return answer();
            },
          }),
        }),
      };
      const hooks = new plugin(serverless, {}, { log: { warning: (message) => warnings.push(message) } })
        .hooks;
      const hook = hooks['before:deploy:deploy'];
      if (!hook) return { hooked: false, requests, warnings };
      const outcome = await hook().then(
        () => 'deployed',
        (error: unknown) => String(error),
      );
      return { hooked: true, outcome, requests, warnings };
    };
    const refused = await run(() => ({ TemplateBody: JSON.stringify(deployed) }));
    expect(refused.requests).toEqual([{ StackName: 'course-certificates-prod', TemplateStage: 'Original' }]);
    expect(refused.outcome).toMatch(
      /Cannot deploy stage prod: .*S3_BUCKET: the stack's bucket is certificates-123456789012-prod/,
    );
    process.env.ALLOW_SETTINGS_CHANGE = 'S3_BUCKET';
    expect((await run(() => ({ TemplateBody: JSON.stringify(deployed) }))).outcome).toBe('deployed');
    delete process.env.ALLOW_SETTINGS_CHANGE;
    const first = await run(() => {
      throw new Error('Stack with id course-certificates-prod does not exist');
    });
    expect(first).toMatchObject({ outcome: 'deployed', warnings: [] });
    const unreadable = await run(() => {
      throw new Error('User is not authorized to perform: cloudformation:GetTemplate');
    });
    expect(unreadable.outcome).toBe('deployed');
    expect(unreadable.warnings).toEqual([expect.stringContaining('not authorized')]);
    // `deploy function` replaces no template.
    expect((await run(() => ({}), ['deploy', 'function'])).hooked).toBe(false);
  });
});

// serverless.yml sets each function's environment by hand. A variable a function reads but is not
// given silently takes its default on AWS, whatever the operator set (CONFIGURATION_RETRY_SECONDS
// for generate, DISPATCH_LEASE_SECONDS for the ingestion route were). What a function reads is
// taken from its code: every configuration value read from a loaded section
// (`config.pipeline.LEASE_SECONDS`, `loadConfig(['pipeline']).pipeline.X`) in its handler or any
// module the handler imports. Section objects handed whole to an adapter (the database, token
// verifier, secret store clients) are not followed: those come from the shared blocks (dbEnv,
// authEnv...), and AWS_REGION from the Lambda runtime.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface DeclaredFunction {
  handler: string;
  environment?: Record<string, unknown>;
}

/** The handler's source file and every module it reaches through relative, non-type imports. */
function reachableSources(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(file, 'utf8');
  const imports =
    /^(?:import|export)\s+(?!type\b)[^;]*?from\s+'(\.{1,2}\/[^']+)'|^import\s+'(\.{1,2}\/[^']+)'/gms;
  for (const match of source.matchAll(imports)) {
    const target = resolve(dirname(file), (match[1] ?? match[2]) as string);
    if (existsSync(target)) reachableSources(target, seen);
  }
  return seen;
}

/** Configuration variables a source file reads from a loaded section; comments are not code. */
function sectionReads(file: string, known: ReadonlySet<string>): string[] {
  const code = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|\s)\/\/.*$/gm, '$1');
  const reads = /\b(?:config|loadConfig\(\[[^\]]*\]\))\.[a-z]+\.([A-Z][A-Z0-9_]+)\b/g;
  return [...code.matchAll(reads)].map((match) => match[1] as string).filter((name) => known.has(name));
}

/** What each function reads and is not given, as `function: VARIABLE (file)`. */
function unsetReads(serverlessYml: string): string[] {
  const yaml = load(serverlessYml) as {
    provider: { environment?: Record<string, unknown> };
    functions: Record<string, DeclaredFunction>;
  };
  const known = new Set(documentedVariables());
  const shared = Object.keys(yaml.provider.environment ?? {});
  // It builds its document from every route's declaration, importing their dependency builders,
  // but runs none of them: it reads no configuration at all.
  const staticDocument = new Set(['openapi']);
  const missing: string[] = [];
  for (const [name, fn] of Object.entries(yaml.functions)) {
    if (staticDocument.has(name)) continue;
    const given = new Set([...shared, ...Object.keys(fn.environment ?? {})]);
    const handlerFile = join(ROOT, `${fn.handler.slice(0, fn.handler.lastIndexOf('.'))}.ts`);
    for (const file of reachableSources(handlerFile)) {
      if (file === join(ROOT, 'lib/config.ts')) continue;
      for (const variable of new Set(sectionReads(file, known)))
        if (!given.has(variable)) missing.push(`${name}: ${variable} (${relative(ROOT, file)})`);
    }
  }
  return missing.sort();
}

describe('function environments', () => {
  it('give every function each configuration value its code reads', () => {
    expect(unsetReads(readFileSync(join(ROOT, 'serverless.yml'), 'utf8'))).toEqual([]);
  });

  it('the check finds a value a function reads and is not given', () => {
    // Guards the check itself (its import walk and pattern), against the two the audit found.
    const withoutThem = readFileSync(join(ROOT, 'serverless.yml'), 'utf8')
      .replace(/^ {6}CONFIGURATION_RETRY_SECONDS: .*\n/m, '')
      .replace(/(\n {2}createAttempt:[\s\S]*?)\n {6}DISPATCH_LEASE_SECONDS: [^\n]*/, '$1');
    expect(unsetReads(withoutThem)).toEqual([
      'createAttempt: DISPATCH_LEASE_SECONDS (lib/http/dispatch-deps.ts)',
      'generate: CONFIGURATION_RETRY_SECONDS (lib/certificates/generate.ts)',
    ]);
  });
});

describe('the patched database client', () => {
  it('is there in this install (npm ci applied patches/), and packaging refuses an install without it', async () => {
    expect(unpatchedDependencies()).toEqual([]);
    const root = await mkdtemp(join(tmpdir(), 'unpatched-'));
    /** A project folder with the patch for 3.4.10 and postgres `version` installed, its files as given. */
    const install = async (version: string, index: string, connection: string) => {
      await mkdir(join(root, 'patches'), { recursive: true });
      await writeFile(join(root, 'patches', 'postgres+3.4.10.patch'), '');
      for (const dir of ['src', 'cjs/src']) {
        await mkdir(join(root, 'node_modules', 'postgres', dir), { recursive: true });
        await writeFile(join(root, 'node_modules', 'postgres', dir, 'index.js'), index);
        await writeFile(join(root, 'node_modules', 'postgres', dir, 'connection.js'), connection);
      }
      await writeFile(join(root, 'node_modules', 'postgres', 'package.json'), JSON.stringify({ version }));
    };
    const fixed = ['if (closedError)', '// Patched: closed while connecting'] as const;
    try {
      await install('3.4.10', fixed[0], fixed[1]);
      expect(unpatchedDependencies(root)).toEqual([]);
      // Installed with --ignore-scripts: postgres.js as published.
      await install('3.4.10', 'function handler(q) {}', 'async function closed(hadError) {}');
      expect(unpatchedDependencies(root)).toEqual([expect.stringContaining('patches/postgres+3.4.10.patch')]);
      // A git pull without npm ci: the older version, patched by an older patch.
      await install('3.4.9', fixed[0], 'async function closed(hadError) {}');
      expect(unpatchedDependencies(root)).toEqual([expect.stringContaining('node_modules/postgres (3.4.9)')]);
      await install('3.4.9', fixed[0], fixed[1]);
      expect(unpatchedDependencies(root)).toHaveLength(1);
      expect(unpatchedDependencies(join(root, 'missing'))).toHaveLength(1);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
