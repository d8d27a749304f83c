// Packaging (`serverless package` and `serverless deploy`) makes sure the render layer ships
// chromium.zst, the fast-extracting copy of Chromium (scripts/chromium-zstd.ts; skipped in a
// moment when it is up to date, ~10 s once per @sparticuz/chromium version). If it cannot be
// made (a Node without zstd), packaging goes on: the layer then has only the brotli archive,
// which lib/render/chromium-binary.ts falls back to, with a slower cold start.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

class ChromiumZstd {
  constructor(serverless) {
    const serviceDir = serverless.serviceDir ?? serverless.config?.servicePath ?? process.cwd();
    this.hooks = {
      'before:package:createDeploymentArtifacts': () => {
        try {
          execFileSync(process.execPath, ['--import', 'tsx', join(serviceDir, 'scripts/chromium-zstd.ts')], {
            cwd: serviceDir,
            stdio: ['ignore', 'inherit', 'inherit'],
          });
          // With the zstd copy made, the brotli one (67 MB) would only be a fallback that Lambda's
          // nodejs22.x (zstd in Node since 22.15) never takes: it stays out of the layer.
          const patterns = serverless.service.layers?.render?.package?.patterns;
          if (Array.isArray(patterns)) patterns.push('!@sparticuz/chromium/bin/chromium.br');
        } catch (error) {
          serverless.cli?.log?.(
            `chromium.zst not made (${error instanceof Error ? error.message : String(error)}); the layer ships the brotli archive only`,
          );
        }
      },
    };
  }
}

module.exports = ChromiumZstd;
