// Package-time settings that differ between local stages (serverless offline, tests) and deploy
// stages (anything else), referenced from serverless.yml as ${file(./serverless/deployment.cjs):name}.
//
// Local stages take everything from the environment with empty defaults, as before. A deploy
// stage:
// - never packages a secret value: the database password, the Keycloak client secret and the
//   issuer's signing key are
//   read at cold start from the ARNs below (lib/secrets/secret-store.ts), and the plain
//   variables are left out of the template even when they are set in the shell;
// - refuses to package when a required value is missing, a secret would leak, or
//   VERIFY_BASE_URL is one the functions refuse (lib/config.ts), naming it, instead of deploying
//   functions that fail at their first invocation;
// - refuses what would deploy without complaint and then fail, or quietly do less, on AWS: a
//   local server's endpoint left in the shell, a bucket or secret in another region, a stage
//   whose function names exceed Lambda's limit, and a missing ALARM_TOPIC_ARNS (`none` says
//   "no notifications" on purpose).
const LOCAL_STAGES = new Set(['local', 'test']);
/** GENERATE_MAX_CONCURRENCY's upper bound in lib/config.ts. */
const MAX_GENERATE_CONCURRENCY = 1000;

const ARN = {
  // lib/config.ts's SECRET_ARN, with the region captured (CommonJS cannot import it): a unit test
  // (deployment-settings.test.ts) holds the two to the same answers.
  secret: /^arn:aws[a-z-]*:(ssm|secretsmanager):([a-z0-9-]+):\d{12}:(parameter\/.+|secret:.+)$/,
  // What an alarm may notify: an SNS topic above all (any ARN CloudWatch takes as an action).
  alarmAction: /^arn:aws[a-z-]*:[a-z0-9-]+:/,
  subnet: /^subnet-[0-9a-f]+$/,
  securityGroup: /^sg-[0-9a-f]+$/,
};

/**
 * The IAM grant that reads one secret, from its ARN: each of the three may be an SSM parameter
 * or a Secrets Manager secret (lib/secrets/secret-store.ts reads either), and a role that
 * could only call the other store's action would fail at the first cold start with
 * AccessDenied. A Secrets Manager ARN may be given without the 6-character suffix AWS appends
 * to the secret's name (the API accepts it, an IAM resource does not match it), so the
 * documented `-??????` form is granted beside the ARN as given.
 */
function secretGrant(arn) {
  if (ARN.secret.exec(arn)?.[1] === 'ssm') return { action: 'ssm:GetParameter', resources: [arn] };
  return { action: 'secretsmanager:GetSecretValue', resources: [arn, `${arn}-??????`] };
}

// The Vite dev server: the browser origin of the local stages when CORS_ALLOWED_ORIGINS is unset.
const DEV_ORIGIN = 'http://localhost:5173';

/**
 * The browser origins the HTTP functions answer CORS for (each function's CORS_ALLOWED_ORIGINS;
 * the Lambdas answer CORS themselves, see lib/http/route.ts). The local stages default to the
 * dev server's origin; a deploy stage allows exactly the origins given, so a forgotten variable
 * never opens the production API to a developer's localhost page. Each entry must be an origin
 * (scheme, host, port: no path), or `*`. Returns [origins, problems].
 */
function corsFor(stage, value) {
  const given = (value ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  const origins = given.length > 0 ? given : LOCAL_STAGES.has(stage) ? [DEV_ORIGIN] : [];
  const problems = [];
  for (const origin of origins) {
    if (origin === '*') continue;
    let parsed;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    // A `*` inside an entry passes the URL check and would be a pattern to the CORS middleware.
    if (!parsed || parsed.origin !== origin || origin.includes('*'))
      problems.push(`CORS_ALLOWED_ORIGINS: ${origin} is not an origin like https://learn.example.org`);
  }
  return { origins, problems };
}

const naming = require('serverless/lib/plugins/aws/lib/naming.js');

/**
 * What lib/config.ts says at cold start of one variable alone in its section (whose others have
 * defaults), checked with the configuration's own rule rather than a copy of it. The TypeScript
 * module is loaded through tsx (a dev dependency, like the serverless CLI that runs this), and
 * only for deploy stages, so the plugins that only read LOCAL_STAGES do not pay for it.
 */
function configRuleProblem(section, name, value) {
  const { loadConfig } = require('tsx/cjs/api').require('../lib/config.ts', __filename);
  try {
    loadConfig([section], { [name]: value });
    return undefined;
  } catch (error) {
    return String(error?.message ?? error).replace(/^Invalid configuration: /, '');
  }
}

/**
 * A VERIFY_BASE_URL the functions refuse (too long for the QR code, not an http(s) URL) would
 * otherwise deploy, and generate and every route printing a verification link would fail at
 * initialisation.
 */
function verifyBaseUrlProblems(value) {
  const reason = configRuleProblem('render', 'VERIFY_BASE_URL', value);
  if (reason === undefined) return [];
  // The usual way to get here: the API's default address, always 68+ characters with the path.
  const hint =
    value.length > 64
      ? `: ${value.length} characters given; an API Gateway execute-api address never fits, give the HTTP API a custom domain and use https://<that domain>/api/v1/verify`
      : '';
  return [`${reason}${hint}`];
}

/**
 * The scan's fill window, when the deploying shell sets it: a value the scan refuses at cold start
 * (over 40 s since its claim margin became 20 s; 45 was the default before) would fail every
 * tick until someone read the scan's alarm.
 */
function scanFillProblems(value) {
  if (value === undefined || value === '') return [];
  const problem = configRuleProblem('pipeline', 'SCAN_FILL_SECONDS', value);
  return problem ? [problem] : [];
}

/**
 * The routes anyone may call without a token (policy `anyone` in lib/http/routes; a test keeps
 * the two lists equal), as API Gateway names them: each gets its own throttle.
 */
const PUBLIC_GET_ROUTE_KEYS = [
  'GET /api/v1/health',
  'GET /api/v1/verify/{verificationCode}',
  'GET /api/v1/verify/{verificationCode}/credential',
  'GET /api/v1/status/{listId}',
  'GET /.well-known/jwks.json',
  'GET /api/v1/keys/{kid}',
  'GET /api/v1/openapi.json',
];
// Each public GET has its HEAD route (serverless.yml): an HTTP API answers a method no route
// declares with its own 404, and link checkers and uptime probes ask with HEAD (RFC 9110 9.1:
// servers support GET and HEAD). Throttled as their GET.
const PUBLIC_ROUTE_KEYS = PUBLIC_GET_ROUTE_KEYS.flatMap((key) => [key, key.replace(/^GET /, 'HEAD ')]);

/**
 * The CORS preflight of every route (functions/http/preflight.ts). Not one of the public routes'
 * throttle: every call the browser frontend makes carries a token and is preflighted, so the
 * students' and the staff's browser traffic all passes this one route; held to the public
 * routes' limit, an anonymous OPTIONS flood (or the peak after results are released) would turn
 * every browser's calls into network errors (API Gateway's 429 has no CORS headers).
 */
const PREFLIGHT_ROUTE_KEY = 'OPTIONS /{proxy+}';

/**
 * Variables of serverless.yml that point the functions at a local server (`npm start`'s
 * serverless offline, s3rver, LocalStack, MinIO). A deploy stage's functions always talk to AWS S3
 * and AWS Lambda in the stack's own region, where the stack creates its bucket and `generate`:
 * left in the deploying shell, any of them would be packaged and every upload, download link or
 * dispatch would go to a server that is not there. (A test keeps every `*_ENDPOINT_URL` that
 * serverless.yml passes to a function in this list.)
 */
const LOCAL_ENDPOINT_VARIABLES = ['S3_ENDPOINT_URL', 'LAMBDA_ENDPOINT_URL'];

// Lambda's limit on a function's name (CloudFormation fails the stack's create on a longer one).
const FUNCTION_NAME_LIMIT = 64;

/**
 * The service's name and its functions' names as serverless.yml declares them, read from the
 * file itself (not resolved: no variable of it is needed), for the checks that depend on them.
 * Each function is `{ key, name }`; `name` the one Lambda gets, `<service>-<stage>-<key>` unless
 * the function names itself.
 */
function declaredService(stage, file = require('node:path').join(__dirname, '..', 'serverless.yml')) {
  const { load } = require('js-yaml');
  const yaml = load(require('node:fs').readFileSync(file, 'utf8'));
  const service = String(yaml.service);
  const functions = Object.entries(yaml.functions ?? {}).map(([key, fn]) => ({
    key,
    name:
      typeof fn?.name === 'string'
        ? fn.name.replace(/\$\{self:service\}/g, service).replace(/\$\{sls:stage\}/g, stage)
        : `${service}-${stage}-${key}`,
  }));
  return { service, functions };
}

const env = (name) => {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
};
const list = (name) =>
  (env(name) ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/**
 * The fixes in patches/ that npm install applies (patch-package): without them the functions ship
 * a database client that crashes, or records nothing, when a connection drops mid-transaction
 * (README, "Database, monitoring and logs"). Checked at packaging, since `npm install
 * --ignore-scripts` skips them without a word.
 */
function unpatchedDependencies(root = require('node:path').join(__dirname, '..')) {
  const { join } = require('node:path');
  const { readdirSync, readFileSync } = require('node:fs');
  const read = (...path) => {
    try {
      return readFileSync(join(root, ...path), 'utf8');
    } catch {
      return '';
    }
  };
  let patch;
  try {
    patch = readdirSync(join(root, 'patches')).find((file) => /^postgres\+.+\.patch$/.test(file));
  } catch {
    patch = undefined;
  }
  const wanted = patch?.slice('postgres+'.length, -'.patch'.length);
  let installed;
  try {
    installed = JSON.parse(read('node_modules', 'postgres', 'package.json')).version;
  } catch {
    installed = undefined;
  }
  // Each part of the patch leaves a line of its own: an install patched by an older version of
  // the patch (a git pull without npm ci) lacks the newer ones.
  const patched = ['src', 'cjs/src'].every(
    (dir) =>
      read('node_modules', 'postgres', dir, 'index.js').includes('if (closedError)') &&
      read('node_modules', 'postgres', dir, 'connection.js').includes('closed while connecting'),
  );
  if (wanted !== undefined && installed === wanted && patched) return [];
  return [
    `node_modules/postgres (${installed ?? 'missing'}) lacks patches/${patch ?? 'postgres+<version>.patch'}: run npm ci, which installs postgres ${wanted ?? ''} and applies it, not with --ignore-scripts`,
  ];
}

/**
 * An AWS-managed policy's ARN in the stack's partition (aws, aws-cn, aws-us-gov), as the stack's
 * other ARNs are built: `arn:aws:` names nothing in the other partitions.
 */
const managedPolicy = (name) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::aws:policy/${name}`]],
});

function settings(stage, region) {
  const local = LOCAL_STAGES.has(stage);
  const problems = [...unpatchedDependencies()];
  const required = (name) => {
    const value = env(name);
    if (value === undefined && !local) problems.push(`${name} is required for stage ${stage}`);
    return value ?? '';
  };
  const secretArn = (name) => {
    const value = required(name);
    const match = value === '' ? undefined : ARN.secret.exec(value);
    if (value !== '' && !match)
      problems.push(`${name} must be the ARN of an SSM parameter or a Secrets Manager secret`);
    // SSM and Secrets Manager are regional: the functions read with a client of their own region
    // (lib/secrets/secret-store.ts), which cannot see a secret stored in another.
    else if (match && match[2] !== region)
      problems.push(
        `${name} is in region ${match[2]}, not ${region} where stage ${stage} deploys: the functions read it from their own region (store it there, with --region ${region})`,
      );
    return value;
  };

  const declared = local ? undefined : declaredService(stage);
  if (declared) {
    // Lambda refuses a longer name, and CloudFormation only says so after the upload.
    const longest = declared.functions.reduce(
      (longest, fn) => (fn.name.length > longest.name.length ? fn : longest),
      { name: '' },
    );
    if (longest.name.length > FUNCTION_NAME_LIMIT)
      problems.push(
        `stage ${stage} is too long: its function ${longest.name} would be ${longest.name.length} characters, over Lambda's limit of ${FUNCTION_NAME_LIMIT} characters (stage names of at most ${FUNCTION_NAME_LIMIT - (longest.name.length - stage.length)} characters fit)`,
      );
  }

  if (!local) {
    for (const name of LOCAL_ENDPOINT_VARIABLES)
      if (env(name) !== undefined)
        problems.push(
          `${name} must not be set for stage ${stage}: it points the functions at a local server, while on AWS they use S3 and Lambda in ${region} (unset it in the deploying shell)`,
        );
    const s3Region = env('S3_REGION');
    if (s3Region !== undefined && s3Region !== region)
      problems.push(
        `S3_REGION is ${s3Region}, but stage ${stage} deploys to ${region}, where the stack creates its bucket: unset it (it defaults to the stack's region)`,
      );
  }

  // Who hears the alarms: required for a deploy stage, so a shell that forgot the variable does
  // not deploy alarms that notify nobody; `none` says so on purpose.
  const alarmTopics = list('ALARM_TOPIC_ARNS');
  const alarmNone = alarmTopics.length === 1 && alarmTopics[0]?.toLowerCase() === 'none';
  if (!local && alarmTopics.length === 0)
    problems.push(
      `ALARM_TOPIC_ARNS is required for stage ${stage}: the SNS topics the alarms notify (comma-separated), or none for alarms that notify nobody`,
    );
  if (!alarmNone)
    for (const arn of alarmTopics)
      if (!ARN.alarmAction.test(arn))
        problems.push(`ALARM_TOPIC_ARNS: ${arn} is not an ARN (give SNS topic ARNs, or none alone)`);

  const databaseUrl = required('DATABASE_URL');
  if (!local && databaseUrl !== '') {
    let password = '';
    try {
      password = new URL(databaseUrl).password;
    } catch {
      problems.push('DATABASE_URL must be a URL like postgres://user@host:5432/database');
    }
    if (password !== '')
      problems.push(
        `DATABASE_URL must not contain a password for stage ${stage}: put it in the secret named by DATABASE_SECRET_ARN`,
      );
  }
  const databaseSecretArn = local ? (env('DATABASE_SECRET_ARN') ?? '') : secretArn('DATABASE_SECRET_ARN');
  const keycloakClientSecretArn = local
    ? (env('KEYCLOAK_CLIENT_SECRET_ARN') ?? '')
    : secretArn('KEYCLOAK_CLIENT_SECRET_ARN');

  // The issuer's private signing keys: by ARN on deploy stages. The facts key (ES256) is read by
  // generate only; the credentials key (RS256) by generate and the routes that sign credentials.
  const signingKeyArn = local ? (env('SIGNING_KEY_ARN') ?? '') : secretArn('SIGNING_KEY_ARN');
  const credentialSigningKeyArn = local
    ? (env('CREDENTIAL_SIGNING_KEY_ARN') ?? '')
    : secretArn('CREDENTIAL_SIGNING_KEY_ARN');

  const concurrency = Number(env('GENERATE_MAX_CONCURRENCY') ?? (local ? '2' : '50'));
  // The functions' own bound (lib/config.ts, pipeline): a value they refuse at cold start must not
  // deploy, or every function that reads the budget fails (a test keeps the two in step).
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_GENERATE_CONCURRENCY)
    problems.push(`GENERATE_MAX_CONCURRENCY must be an integer from 1 to ${MAX_GENERATE_CONCURRENCY}`);

  // API Gateway's throttle of each public route (requests per second, and the burst above it).
  // They need no token and each request holds a database connection: without a cap, anyone
  // replaying a public URL scales the functions up until PostgreSQL runs out of connections and
  // issuing stops too. Per route, not the stage's default: an HTTP API cannot throttle per
  // client, so a stage-wide limit would let one anonymous client turn the LMS's ingestion, the
  // students' downloads and the staff routes into 429s.
  const throttle = (name, fallback) => {
    const value = Number(env(name) ?? fallback);
    if (!Number.isInteger(value) || value < 1) problems.push(`${name} must be a positive integer`);
    return value;
  };
  const publicRate = throttle('PUBLIC_THROTTLE_RATE_LIMIT', '100');
  const publicBurst = throttle('PUBLIC_THROTTLE_BURST_LIMIT', '200');
  // A HEAD does its GET's work (the database, the signing) and only drops the body: a tenth of
  // the GET's limit, so the HEAD routes add a tenth to what the public routes may cost, not as
  // much again. Link checkers and uptime probes ask seldom.
  const publicRouteSettings = Object.fromEntries(
    PUBLIC_ROUTE_KEYS.map((key) => [
      key,
      key.startsWith('HEAD ')
        ? {
            ThrottlingRateLimit: Math.max(1, Math.ceil(publicRate / 10)),
            ThrottlingBurstLimit: Math.max(1, Math.ceil(publicBurst / 10)),
          }
        : { ThrottlingRateLimit: publicRate, ThrottlingBurstLimit: publicBurst },
    ]),
  );
  // The preflight's own, ten times the public defaults: it holds no database connection (a
  // static answer from a 128 MB function), and it carries every browser's authenticated calls.
  // Still capped, so a flood of OPTIONS cannot scale the function without bound.
  const preflightRouteSetting = {
    ThrottlingRateLimit: throttle('PREFLIGHT_THROTTLE_RATE_LIMIT', '1000'),
    ThrottlingBurstLimit: throttle('PREFLIGHT_THROTTLE_BURST_LIMIT', '2000'),
  };
  // What the stage's RouteSettings get (serverless.yml): each public route and the preflight.
  const stageRouteSettings = { ...publicRouteSettings, [PREFLIGHT_ROUTE_KEY]: preflightRouteSetting };

  const verifyBaseUrl = required('VERIFY_BASE_URL');
  if (!local && verifyBaseUrl !== '') problems.push(...verifyBaseUrlProblems(verifyBaseUrl));
  if (!local) problems.push(...scanFillProblems(process.env.SCAN_FILL_SECONDS));

  const cors = corsFor(stage, process.env.CORS_ALLOWED_ORIGINS);
  problems.push(...cors.problems);

  const subnets = list('VPC_SUBNET_IDS');
  const securityGroups = list('VPC_SECURITY_GROUP_IDS');
  if (subnets.length > 0 !== securityGroups.length > 0)
    problems.push('VPC_SUBNET_IDS and VPC_SECURITY_GROUP_IDS must be set together');
  for (const id of subnets)
    if (!ARN.subnet.test(id)) problems.push(`VPC_SUBNET_IDS: ${id} is not a subnet id`);
  for (const id of securityGroups)
    if (!ARN.securityGroup.test(id))
      problems.push(`VPC_SECURITY_GROUP_IDS: ${id} is not a security group id`);

  const values = {
    databaseUrl,
    databaseSecretArn,
    // Only local stages pass the plain secret to the function.
    keycloakClientSecret: local ? (env('KEYCLOAK_CLIENT_SECRET') ?? '') : '',
    keycloakClientSecretArn,
    signingKey: local ? (env('SIGNING_KEY') ?? '') : '',
    signingKeyArn,
    credentialSigningKey: local ? (env('CREDENTIAL_SIGNING_KEY') ?? '') : '',
    credentialSigningKeyArn,
    keycloakUrl: required('KEYCLOAK_URL'),
    authIssuer: required('AUTH_ISSUER'),
    authAudience: required('AUTH_AUDIENCE'),
    verifyBaseUrl,
    generateMaxConcurrency: concurrency,
    publicRouteSettings,
    preflightRouteSetting,
    stageRouteSettings,
    // The stage's route settings name routes that must exist first: CloudFormation would create
    // the stage before them ("Unable to find Route by key"). Ids as the framework names routes.
    stageRouteIds: Object.keys(stageRouteSettings).map((key) => naming.getHttpApiRouteLogicalId(key)),
    corsAllowedOrigins: cors.origins.join(','),
    // IAM resources must be ARNs even where nothing is deployed: a placeholder no secret has.
    databaseSecret: secretGrant(
      databaseSecretArn || `arn:aws:secretsmanager:${region}:000000000000:secret:local-unused`,
    ),
    keycloakSecret: secretGrant(
      keycloakClientSecretArn || `arn:aws:ssm:${region}:000000000000:parameter/local-unused`,
    ),
    signingKeySecret: secretGrant(
      signingKeyArn || `arn:aws:ssm:${region}:000000000000:parameter/local-unused-signing-key`,
    ),
    credentialSigningKeySecret: secretGrant(
      credentialSigningKeyArn ||
        `arn:aws:ssm:${region}:000000000000:parameter/local-unused-credential-signing-key`,
    ),
    // SNS topics (comma-separated ARNs) notified when an alarm fires.
    alarmActions: alarmNone ? [] : alarmTopics,
    ...(subnets.length > 0 ? { vpc: { subnetIds: subnets, securityGroupIds: securityGroups } } : {}),
    // Logs: an inline policy per function on its own log group (serverless/role-per-function.cjs).
    managedPolicies: [
      managedPolicy('AWSXRayDaemonWriteAccess'),
      // The network interfaces of functions attached to the VPC: the ENI actions only, not
      // AWSLambdaVPCAccessExecutionRole, which also grants logs on every group of the account.
      ...(subnets.length > 0 ? [managedPolicy('service-role/AWSLambdaENIManagementAccess')] : []),
    ],
  };
  if (problems.length > 0) throw new Error(`Cannot package stage ${stage}: ${problems.join('; ')}`);
  return values;
}

module.exports = async ({ options, resolveVariable }) => {
  const stage = options.stage ?? (await resolveVariable('sls:stage'));
  const region = options.region ?? (await resolveVariable('aws:region'));
  return settings(stage, region);
};
module.exports.settings = settings;
module.exports.LOCAL_STAGES = LOCAL_STAGES;
module.exports.PUBLIC_ROUTE_KEYS = PUBLIC_ROUTE_KEYS;
module.exports.PUBLIC_GET_ROUTE_KEYS = PUBLIC_GET_ROUTE_KEYS;
module.exports.PREFLIGHT_ROUTE_KEY = PREFLIGHT_ROUTE_KEY;
module.exports.corsFor = corsFor;
module.exports.unpatchedDependencies = unpatchedDependencies;
module.exports.LOCAL_ENDPOINT_VARIABLES = LOCAL_ENDPOINT_VARIABLES;
module.exports.declaredService = declaredService;
module.exports.SECRET_ARN = ARN.secret;
