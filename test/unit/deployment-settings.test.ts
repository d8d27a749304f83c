import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';

// serverless/deployment.cjs decides, at package time, what a stage gets: tested directly here;
// test/integration/serverless-package.test.ts checks the packaged template.

interface Settings {
  vpc?: { subnetIds: string[]; securityGroupIds: string[] };
  managedPolicies: string[];
  keycloakClientSecret: string;
  signingKey: string;
  generateMaxConcurrency: number;
}
const { settings } = createRequire(import.meta.url)('../../serverless/deployment.cjs') as {
  settings: (stage: string, region: string) => Settings;
};

const DEPLOY = {
  DATABASE_URL: 'postgres://certificates@db.internal:5432/certificates',
  DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-AbCdEf',
  KEYCLOAK_URL: 'https://sso.example.org',
  KEYCLOAK_CLIENT_SECRET_ARN: 'arn:aws:ssm:eu-central-1:123456789012:parameter/kc',
  SIGNING_KEY_ARN: 'arn:aws:ssm:eu-central-1:123456789012:parameter/signing-key',
  AUTH_ISSUER: 'https://sso.example.org/realms/student',
  AUTH_AUDIENCE: 'certificates-frontend',
  VERIFY_BASE_URL: 'https://certificates.example.org/verify',
};
const touched = [
  ...Object.keys(DEPLOY),
  'VPC_SUBNET_IDS',
  'VPC_SECURITY_GROUP_IDS',
  'KEYCLOAK_CLIENT_SECRET',
  'SIGNING_KEY',
];
const saved = Object.fromEntries(touched.map((name) => [name, process.env[name]]));

function withEnv(env: Record<string, string>): void {
  for (const name of touched) delete process.env[name];
  Object.assign(process.env, env);
}

afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
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
    expect(values.managedPolicies).toContain(
      'arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole',
    );
    expect(values.generateMaxConcurrency).toBe(50);
  });

  it('no VPC without subnets; and subnets without security groups are refused', () => {
    withEnv(DEPLOY);
    const values = settings('prod', 'eu-central-1');
    expect(values.vpc).toBeUndefined();
    expect(values.managedPolicies.some((arn) => arn.includes('VPCAccess'))).toBe(false);
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
    withEnv({ ...DEPLOY, KEYCLOAK_CLIENT_SECRET: 'leaked?', SIGNING_KEY: '{"d":"leaked?"}' });
    expect(settings('prod', 'eu-central-1')).toMatchObject({ keycloakClientSecret: '', signingKey: '' });
    const { SIGNING_KEY_ARN: _missing, ...withoutKey } = DEPLOY;
    withEnv(withoutKey);
    expect(() => settings('prod', 'eu-central-1')).toThrowError(/SIGNING_KEY_ARN is required/);
  });
});
