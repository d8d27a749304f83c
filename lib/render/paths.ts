import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder that holds `templates/` and the font packages (`node_modules/@fontsource/...`).
 * From source (tests, tsx scripts) it is the repository root, found from this file. In the
 * Lambda bundle esbuild emits CommonJS, where `import.meta.url` is empty, so it is the task root
 * (/var/task), where serverless.yml's package patterns put `templates/**` and the font files.
 */
function candidates(): string[] {
  const roots: string[] = [];
  if (process.env.CERTIFICATE_ASSETS_ROOT) roots.push(process.env.CERTIFICATE_ASSETS_ROOT);
  const here = import.meta.url;
  if (typeof here === 'string' && here.startsWith('file:'))
    roots.push(fileURLToPath(new URL('../../', here)));
  if (process.env.LAMBDA_TASK_ROOT) roots.push(process.env.LAMBDA_TASK_ROOT);
  roots.push(process.cwd());
  return roots;
}

let cached: string | undefined;

export function assetsRoot(): string {
  if (cached) return cached;
  const roots = candidates();
  cached =
    roots.find((root) => existsSync(join(root, 'templates', 'default', 'template.liquid'))) ?? roots[0];
  return cached ?? process.cwd();
}

export function templatesDir(): string {
  return join(assetsRoot(), 'templates');
}
