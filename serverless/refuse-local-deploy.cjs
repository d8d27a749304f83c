// The stages `local` (the default, when no --stage is given) and `test` belong to `npm start`
// and the tests: their template takes plain secrets (SIGNING_KEY, KEYCLOAK_CLIENT_SECRET, a
// password in DATABASE_URL) from the shell and skips the checks that a deploy stage makes
// (serverless/deployment.cjs). A `serverless deploy` without --stage, run in a shell that still
// has `npm start`'s variables, would otherwise send the issuer's private key into Lambda's
// configuration. So deploying them is refused before anything is packaged.
const { LOCAL_STAGES } = require('./deployment.cjs');

class RefuseLocalDeploy {
  constructor(serverless) {
    this.hooks = {};
    if (serverless.processedInput?.commands?.[0] !== 'deploy') return;
    this.hooks.initialize = () => {
      const stage = serverless.getProvider('aws').getStage();
      if (!LOCAL_STAGES.has(stage)) return;
      throw new serverless.classes.Error(
        `Cannot deploy stage ${stage}: ${[...LOCAL_STAGES].join(' and ')} are the stages of npm start and the tests, ` +
          'whose template may carry plain secrets. Deploy a stage of your own, e.g. --stage prod (README, "Deploying").',
      );
    };
  }
}

module.exports = RefuseLocalDeploy;
