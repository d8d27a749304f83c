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

export function templatesDir(): string {
  return join(assetsRoot(), 'templates');
}
