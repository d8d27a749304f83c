// Packaging refuses what a function would refuse at cold start (scripts/check-function-config.ts):
// each variable is checked against its own bound where it is resolved (deployment.cjs), but some
// hold only together (LEASE_SECONDS beyond generate's timeout, a webhook round within
// deliverWebhooks' timeout, the default download lifetime within its maximum), and a package
// with values each in bounds deployed functions that failed every invocation. The check is
// lib/config.ts itself, run on each function's environment as packaged; values CloudFormation
// resolves at deploy time (a Ref, a GetAtt) are left out, as are the local stages' (npm start
// and the tests check their own environment).
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');
const { LOCAL_STAGES } = require('./deployment.cjs');

/** Each function's environment as packaged: the provider's, then its own; strings only. */
function environments(service) {
  const strings = (variables) =>
    Object.fromEntries(Object.entries(variables ?? {}).filter(([, value]) => typeof value === 'string'));
  const shared = strings(service.provider?.environment);
  return Object.fromEntries(
    Object.entries(service.functions ?? {}).map(([name, definition]) => [
      name,
      { ...shared, ...strings(definition?.environment) },
    ]),
  );
}

class CheckFunctionConfig {
  constructor(serverless) {
    this.hooks = {
      'before:package:createDeploymentArtifacts': () => {
        if (LOCAL_STAGES.has(serverless.getProvider('aws').getStage())) return;
        const checked = spawnSync(
          process.execPath,
          ['--import', 'tsx', join(__dirname, '..', 'scripts', 'check-function-config.ts')],
          {
            cwd: join(__dirname, '..'),
            input: JSON.stringify(environments(serverless.service)),
            encoding: 'utf8',
          },
        );
        if (checked.status === 0) return;
        throw new serverless.classes.Error(
          `Cannot package: a function would refuse its configuration at cold start: ${(
            checked.stdout ||
            checked.stderr ||
            String(checked.error)
          )
            .trim()
            .split('\n')
            .join('; ')}`,
        );
      },
    };
  }
}

module.exports = CheckFunctionConfig;
module.exports.environments = environments;
