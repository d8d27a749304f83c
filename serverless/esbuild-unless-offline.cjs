// serverless-esbuild, except under `serverless offline` on a local stage. There serverless-offline
// runs the TypeScript handlers from source (it loads .ts handlers through tsx), so a start skips
// bundling ~30 functions (about 13 s of a 19 s start on 2 cores, once per start and per restart)
// and a code change needs no rebuild. What ships is still the esbuild bundle: `serverless
// package`/`deploy` on any stage, and `OFFLINE_BUNDLE=true` runs offline on the bundles too.
//
// The bundles are built by one esbuild call with every handler as an entry point, instead of
// serverless-esbuild's one build per handler: each of those builds parses the same ~3 MB of
// dependencies (AWS SDK, zod, powertools) again, so ~34 builds cost ~33 s of CPU where one
// build with 34 entry points costs ~16 s. The output is the same: one self-contained CommonJS
// bundle (and source map) per handler at the path serverless-esbuild would have written, which
// its own zip step then packages per function as before.
const esbuild = require('esbuild');
const EsbuildPlugin = require('serverless-esbuild');
const { LOCAL_STAGES } = require('./deployment.cjs');

// serverless-esbuild's own settings (1.57.2, bundle.js), which are not esbuild options.
const PLUGIN_SETTINGS = new Set([
  'concurrency',
  'zipConcurrency',
  'exclude',
  'nativeZip',
  'packager',
  'packagePath',
  'watch',
  'keepOutputDirectory',
  'packagerOptions',
  'installExtraArgs',
  'outputFileExtension',
  'outputBuildFolder',
  'outputWorkFolder',
  'nodeExternals',
  'skipBuild',
  'skipRebuild',
  'skipBuildExcludeFns',
  'stripEntryResolveExtensions',
  'disposeContext',
]);

/** serverless-esbuild's `bundle` step, as one esbuild build for all handlers. */
async function bundleAllAtOnce() {
  this.prepare();
  const settings = this.buildOptions;
  const extension = settings.outputFileExtension;
  const exclude = [settings.exclude ?? []].flat();
  const entries = [...new Set(this.functionEntries.map(({ entry }) => entry))];
  this.log.verbose(`Compiling ${entries.length} handlers in one esbuild build...`);
  await esbuild.build({
    ...Object.fromEntries(Object.entries(settings).filter(([name]) => !PLUGIN_SETTINGS.has(name))),
    external: [...[settings.external ?? []].flat(), ...(exclude.includes('*') ? [] : exclude)],
    plugins: this.plugins,
    entryPoints: entries,
    // Entries are paths relative to the service folder: keep that layout under the build folder.
    absWorkingDir: this.serviceDirPath,
    outbase: '.',
    outdir: this.buildDirPath,
    ...(extension === '.js' ? {} : { outExtension: { '.js': extension } }),
  });
  // Nothing to rebuild or dispose later: each packaging run builds afresh.
  this.buildCache = {};
  this.buildResults = this.functionEntries
    .filter(({ func }) => func !== null)
    .map(({ entry, func, functionAlias }) => ({
      bundlePath: entry.slice(0, entry.lastIndexOf('.')) + extension,
      func,
      functionAlias,
    }));
  this.log.verbose('Compiling completed.');
}

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
    const plugin = new EsbuildPlugin(serverless, options, logging);
    plugin.bundle = bundleAllAtOnce.bind(plugin);
    // biome-ignore lint/correctness/noConstructorReturn: the wrapped plugin is the plugin
    return plugin;
  }
}

module.exports = EsbuildUnlessOffline;
