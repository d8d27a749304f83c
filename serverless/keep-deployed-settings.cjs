// A stage's settings live in the deploying shell (README, "Deploying": keep them in a file per
// stage and `source` it). A later `serverless deploy` from a shell without some of them packages
// their defaults instead, and for three of them that quietly breaks the running stage:
// - S3_BUCKET: another bucket name makes CloudFormation create a new, empty bucket and point the
//   functions at it; every stored PDF stays in the old one (kept, UpdateReplacePolicy) and every
//   download link of an existing certificate fails;
// - SCAN_NOT_BEFORE: without it the scan issues, and announces, all of the history a paced
//   backfill was draining;
// - VPC_SUBNET_IDS / VPC_SECURITY_GROUP_IDS: without them the functions leave the database's VPC;
// - what every issued certificate carries or relies on (PUBLISHED below): S3_KEY_PREFIX (the
//   download role reads only the new prefix, and each stored PDF's link fails), VERIFY_BASE_URL,
//   PUBLIC_API_BASE_URL and ISSUER_URL (printed in QR codes and credentials).
// So before deploying, the stack's deployed template is compared with the new one, and such a
// change is refused, naming the variable and the deployed value, unless ALLOW_SETTINGS_CHANGE
// (comma-separated variable names) says it is meant. A first deploy (no stack yet) is not checked;
// a deployed template that cannot be read (no permission, no network) is warned about.
const { LOCAL_STAGES } = require('./deployment.cjs');

const variables = (lambda) => lambda?.Properties?.Environment?.Variables ?? {};
const functionsOf = (template) =>
  Object.entries(template?.Resources ?? {}).filter(
    ([, resource]) => resource?.Type === 'AWS::Lambda::Function',
  );

/** What issued certificates carry or rely on, as generate's environment states it; and why a change breaks them. */
const PUBLISHED = [
  [
    'S3_KEY_PREFIX',
    (old) =>
      `the stored PDFs are under ${old || 'certificates'}/ and the download role would read only the new prefix, so the download link of every existing certificate fails`,
  ],
  ['VERIFY_BASE_URL', () => 'every printed QR code and issued credential names the deployed one'],
  [
    'PUBLIC_API_BASE_URL',
    () =>
      "every issued Open Badges credential names its status list and its key's URL under the deployed one",
  ],
  ['ISSUER_URL', () => 'every issued credential names its issuer by the deployed one'],
];
const generateEnvironment = (template) => variables(template?.Resources?.GenerateLambdaFunction);

/**
 * The changes of the deployed template (`deployed`) that `next` would make and that are refused:
 * one message per variable, unless `allowed` lists it.
 */
function settingChanges(deployed, next, allowed = []) {
  const problems = [];
  const allow = new Set(allowed);
  const hint = (name) => `, or set ALLOW_SETTINGS_CHANGE=${name} if this change is meant`;

  const bucketOf = (template) => template?.Resources?.CertificatesBucket?.Properties?.BucketName;
  const [oldBucket, newBucket] = [bucketOf(deployed), bucketOf(next)];
  if (!allow.has('S3_BUCKET') && typeof oldBucket === 'string' && oldBucket !== newBucket)
    problems.push(
      `S3_BUCKET: the stack's bucket is ${oldBucket}, and this deploy names ${newBucket}, which CloudFormation would create empty and serve instead (the stored PDFs stay in ${oldBucket}, and their download links fail). Deploy with S3_BUCKET=${oldBucket}${hint('S3_BUCKET')}`,
    );

  const scanNotBefore = (template) => variables(template?.Resources?.ScanLambdaFunction).SCAN_NOT_BEFORE;
  const [oldBoundary, newBoundary] = [scanNotBefore(deployed), scanNotBefore(next)];
  if (!allow.has('SCAN_NOT_BEFORE') && typeof oldBoundary === 'string' && oldBoundary !== '' && !newBoundary)
    problems.push(
      `SCAN_NOT_BEFORE: the deployed scan leaves passes before ${oldBoundary} to the backfill, and this deploy has none, so the scan would issue and announce all of them. Deploy with SCAN_NOT_BEFORE=${oldBoundary}${hint('SCAN_NOT_BEFORE')}`,
    );

  for (const [name, why] of PUBLISHED) {
    const [oldValue, newValue] = [generateEnvironment(deployed)[name], generateEnvironment(next)[name]];
    if (allow.has(name) || typeof oldValue !== 'string' || oldValue === (newValue ?? '')) continue;
    const shown = (value) => (value ? value : 'unset (its default)');
    problems.push(
      `${name}: the deployed stack has ${shown(oldValue)} and this deploy ${shown(newValue)}; ${why(oldValue)}. Deploy with ${oldValue ? `${name}=${oldValue}` : `${name} unset`}${hint(name)}`,
    );
  }

  const inVpc = (template) =>
    functionsOf(template)
      .filter(([, lambda]) => lambda.Properties?.VpcConfig)
      .map(([id]) => id);
  const nextInVpc = new Set(inVpc(next));
  const leaving = inVpc(deployed).filter((id) => next?.Resources?.[id] && !nextInVpc.has(id));
  if (!allow.has('VPC_SUBNET_IDS') && leaving.length > 0)
    problems.push(
      `VPC_SUBNET_IDS: the deployed functions run in a VPC, and this deploy has none (VPC_SUBNET_IDS and VPC_SECURITY_GROUP_IDS are unset), so ${leaving.length} of them would leave it and lose their way to the database. Deploy with the same VPC_SUBNET_IDS and VPC_SECURITY_GROUP_IDS${hint('VPC_SUBNET_IDS')}`,
    );
  return problems;
}

/** The deployed stack's template, or undefined when the stack does not exist yet. */
async function deployedTemplate(provider) {
  // The CloudFormation client osls itself uses (a dependency of it, not of this project).
  const { dirname } = require('node:path');
  const { GetTemplateCommand } = require(
    require.resolve('@aws-sdk/client-cloudformation', {
      paths: [dirname(require.resolve('serverless/package.json'))],
    }),
  );
  const client = await provider.getCloudFormationClient();
  try {
    const { TemplateBody } = await client.send(
      new GetTemplateCommand({ StackName: provider.naming.getStackName(), TemplateStage: 'Original' }),
    );
    return JSON.parse(TemplateBody ?? '{}');
  } catch (error) {
    if (/does not exist/.test(String(error?.message))) return undefined;
    throw error;
  }
}

class KeepDeployedSettings {
  constructor(serverless, _options, { log } = {}) {
    this.hooks = {};
    // `deploy` only: `deploy function` and `deploy list` do not replace the template.
    if ((serverless.processedInput?.commands ?? []).join(' ') !== 'deploy') return;
    // After the core's own hook, which loads a `--package` folder's template.
    this.hooks['before:deploy:deploy'] = async () => {
      const provider = serverless.getProvider('aws');
      if (LOCAL_STAGES.has(provider.getStage())) return;
      let deployed;
      try {
        deployed = await deployedTemplate(provider);
      } catch (error) {
        (log?.warning ?? console.warn)(
          `Could not read the deployed template of ${provider.naming.getStackName()} to compare S3_BUCKET, SCAN_NOT_BEFORE, the VPC and the published addresses with it (${error?.message ?? error}): deploying unchecked.`,
        );
        return;
      }
      if (deployed === undefined) return;
      const allowed = (process.env.ALLOW_SETTINGS_CHANGE ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean);
      const problems = settingChanges(
        deployed,
        serverless.service.provider.compiledCloudFormationTemplate,
        allowed,
      );
      if (problems.length > 0)
        throw new serverless.classes.Error(
          `Cannot deploy stage ${provider.getStage()}: it would change settings of the deployed stack (README, "Deploying"): ${problems.join('; ')}`,
        );
    };
  }
}

module.exports = KeepDeployedSettings;
module.exports.settingChanges = settingChanges;
module.exports.deployedTemplate = deployedTemplate;
