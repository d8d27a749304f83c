// `serverless package` with a layer asks CloudFormation for the deployed layer's hash
// (AwsCompileLayers.compareWithLastLayer), only to reuse an unchanged layer's upload on deploy.
// Packaging must work without AWS credentials or network (CI, the package test), so for the
// `package` command that lookup is skipped; `deploy` still runs it.
class PackageWithoutAws {
  constructor(serverless) {
    const command = serverless.processedInput?.commands?.[0];
    if (command !== 'package') return;
    for (const plugin of serverless.pluginManager.getPlugins()) {
      if (plugin.constructor?.name === 'AwsCompileLayers')
        plugin.compareWithLastLayer = async () => undefined;
    }
  }
}

module.exports = PackageWithoutAws;
