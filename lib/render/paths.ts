import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The folder that holds `templates/` and the font packages (`node_modules/@fontsource/...`).
 * In Lambda it is the task root (/var/task), where serverless.yml's package patterns put
 * `templates/**` and the font files. Locally (tests, npm scripts, serverless offline) it is the
 * repository root: npm and vitest run from there, and we also look upwards from the working
 * directory. Not derived from import.meta.url on purpose: the Lambda bundle is CommonJS, where
 * esbuild leaves import.meta empty. CERTIFICATE_ASSETS_ROOT overrides all of this.
 */
function candidates(): string[] {
  const roots: string[] = [];
  if (process.env.CERTIFICATE_ASSETS_ROOT) roots.push(process.env.CERTIFICATE_ASSETS_ROOT);
  if (process.env.LAMBDA_TASK_ROOT) roots.push(process.env.LAMBDA_TASK_ROOT);
  for (let folder = process.cwd(); ; folder = dirname(folder)) {
    roots.push(folder);
    if (dirname(folder) === folder) break;
  }
  return roots;
}

let cached: string | undefined;

export function assetsRoot(): string {
  if (cached) return cached;
  const roots = candidates();
  cached =
    roots.find((root) => existsSync(join(root, 'templates', 'default', 'template.liquid'))) ?? process.cwd();
  return cached;
}

// Where the render layer is mounted on Lambda (serverless.yml `layers.render`): the layer is
// built from node_modules, so its packages sit directly under /opt. RENDER_LAYER_ROOT points
// elsewhere for the test that runs the packaged bundle against the unpacked layer.
const layerRoot = (): string => process.env.RENDER_LAYER_ROOT ?? '/opt';

function firstExisting(paths: string[], marker: string): string | undefined {
  return paths.find((path) => existsSync(join(path, marker)));
}

let fontsCached: string | undefined;

/**
 * The folder holding the font packages (`@fontsource/...`): the project's node_modules locally,
 * the render layer on Lambda. CERTIFICATE_FONTS_ROOT overrides both.
 */
export function fontPackagesRoot(): string {
  fontsCached ??=
    firstExisting(
      [
        ...(process.env.CERTIFICATE_FONTS_ROOT ? [process.env.CERTIFICATE_FONTS_ROOT] : []),
        join(assetsRoot(), 'node_modules'),
        layerRoot(),
      ],
      join('@fontsource', 'noto-sans', '400.css'),
    ) ?? join(assetsRoot(), 'node_modules');
  return fontsCached;
}

/**
 * The folder with @sparticuz/chromium's brotli archives, passed to `executablePath()` because
 * the bundled module cannot locate its own folder (esbuild's CommonJS output has no
 * import.meta.url): the package's bin/ locally, the render layer's on Lambda.
 */
export function chromiumArchivesDir(): string | undefined {
  const bin = join('@sparticuz', 'chromium', 'bin');
  // The layer ships Chromium unpacked instead of chromium.br when packaging could unpack it.
  const roots = [join(assetsRoot(), 'node_modules'), layerRoot()];
  const root =
    firstExisting(roots, join(bin, 'chromium.br')) ?? firstExisting(roots, join(bin, 'unpacked', 'chromium'));
  return root ? join(root, bin) : undefined;
}

export function templatesDir(): string {
  return join(assetsRoot(), 'templates');
}
