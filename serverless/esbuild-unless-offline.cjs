// serverless-esbuild, except under `serverless offline` on a local stage. There serverless-offline
// runs the TypeScript handlers from source (it loads .ts handlers through tsx), so a start skips
// bundling ~30 functions (about 13 s of a 19 s start on 2 cores, once per start and per restart)
// and a code change needs no rebuild. What ships is still the esbuild bundle: `serverless
// package`/`deploy` on any stage, and `OFFLINE_BUNDLE=true` runs offline on the bundles too.
const EsbuildPlugin = require('serverless-esbuild');
const { LOCAL_STAGES } = require('./deployment.cjs');

class EsbuildUnlessOffline {
  constructor(serverless, options, logging) {
    const command = serverless.processedInput?.commands?.[0];
    const stage = options?.stage ?? serverless.service?.provider?.stage ?? 'local';
    const fromSource =
      command === 'offline' && LOCAL_STAGES.has(stage) && process.env.OFFLINE_BUNDLE !== 'true';
    if (fromSource) {
      this.hooks = {};
      return;
    }
    // biome-ignore lint/correctness/noConstructorReturn: the wrapped plugin is the plugin
    return new EsbuildPlugin(serverless, options, logging);
  }
}

module.exports = EsbuildUnlessOffline;
