// The stages `local` (the default, when no --stage is given) and `test` belong to `npm start`
// and the tests: their template takes plain secrets (SIGNING_KEY, KEYCLOAK_CLIENT_SECRET, a
// password in DATABASE_URL) from the shell and skips the checks that a deploy stage makes
// (serverless/deployment.cjs). A `serverless deploy` without --stage, run in a shell that still
// has `npm start`'s variables, would otherwise send the issuer's private key into Lambda's
// configuration. So deploying them is refused before anything is packaged. The same goes for
// deploying a package built earlier (`deploy --package DIR`): osls deploys its template as it is,
// whatever --stage says, so a package of a local stage, or of another stage than the one named,
// is refused too (its stage is in DIR/serverless-state.json).
const { existsSync, readFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { LOCAL_STAGES } = require('./deployment.cjs');

function packagedStage(serverless, directory) {
  const state = join(resolve(serverless.serviceDir ?? process.cwd(), directory), 'serverless-state.json');
  if (!existsSync(state)) return undefined;
  try {
    return JSON.parse(readFileSync(state, 'utf8'))?.service?.provider?.stage;
  } catch {
    return undefined;
  }
}

class RefuseLocalDeploy {
  constructor(serverless) {
    this.hooks = {};
    if (serverless.processedInput?.commands?.[0] !== 'deploy') return;
    this.hooks.initialize = () => {
      const stage = serverless.getProvider('aws').getStage();
      if (LOCAL_STAGES.has(stage)) {
        throw new serverless.classes.Error(
          `Cannot deploy stage ${stage}: ${[...LOCAL_STAGES].join(' and ')} are the stages of npm start and the tests, ` +
            'whose template may carry plain secrets. Deploy a stage of your own, e.g. --stage prod (README, "Deploying").',
        );
      }
      const directory = serverless.processedInput?.options?.package;
      if (typeof directory !== 'string') return;
      const packaged = packagedStage(serverless, directory);
      if (packaged === stage) return;
      throw new serverless.classes.Error(
        packaged === undefined
          ? `Cannot deploy ${directory}: it has no serverless-state.json saying which stage it was packaged for.`
          : `Cannot deploy ${directory} as stage ${stage}: it was packaged for stage ${packaged}` +
              (LOCAL_STAGES.has(packaged) ? ', whose template may carry plain secrets' : '') +
              `. Package it with --stage ${stage} (README, "Deploying").`,
      );
    };
  }
}

module.exports = RefuseLocalDeploy;
