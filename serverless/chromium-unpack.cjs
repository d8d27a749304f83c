// Packaging (`serverless package` and `serverless deploy`) makes sure the render layer ships
// Chromium unpacked: the binary and SwiftShader in @sparticuz/chromium/bin/unpacked/
// (scripts/chromium-unpack.ts, which `npm install` has usually run already; ~2 s otherwise), so a
// cold `generate` container runs it from /opt instead of extracting 209 MB into /tmp. The layer
// then leaves out the two archives those files come from. If it cannot be made, packaging goes
// on with the archives, which lib/render/chromium-binary.ts extracts as before, more slowly.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

class ChromiumUnpack {
  constructor(serverless) {
    const serviceDir = serverless.serviceDir ?? serverless.config?.servicePath ?? process.cwd();
    this.hooks = {
      'before:package:createDeploymentArtifacts': () => {
        try {
          execFileSync(
            process.execPath,
            ['--import', 'tsx', join(serviceDir, 'scripts/chromium-unpack.ts')],
            {
              cwd: serviceDir,
              stdio: ['ignore', 'inherit', 'inherit'],
            },
          );
          const patterns = serverless.service.layers?.render?.package?.patterns;
          if (Array.isArray(patterns))
            patterns.push(
              '@sparticuz/chromium/bin/unpacked/**',
              '!@sparticuz/chromium/bin/unpacked/source.json',
              '!@sparticuz/chromium/bin/chromium.br',
              '!@sparticuz/chromium/bin/swiftshader.tar.br',
            );
        } catch (error) {
          serverless.cli?.log?.(
            `Chromium not unpacked (${error instanceof Error ? error.message : String(error)}); the layer ships the brotli archives`,
          );
        }
      },
    };
  }
}

module.exports = ChromiumUnpack;
