import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

// The README promises commands, files and settings; these checks keep the promises true.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const README = read('README.md');

function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  expect(start, `README section "${title}"`).toBeGreaterThan(-1);
  const next = README.indexOf('\n## ', start + 1);
  return README.slice(start, next === -1 ? undefined : next);
}

/** Table rows with the padding a formatter adds collapsed: `| a | b |`. */
function normalisedTables(text: string): string {
  return text
    .split('\n')
    .map((line) => (line.startsWith('|') ? line.replace(/\s*\|\s*/g, ' | ').trim() : line))
    .join('\n');
}

function codeBlocks(text: string, language: string): string[] {
  return [...text.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map(
    (match) => match[1] ?? '',
  );
}

describe('README commands', () => {
  it('lists every section in its contents, in order, with working anchors', () => {
    const headings = [...README.matchAll(/^## (.+)$/gm)].map((match) => match[1] ?? '');
    const contents = README.slice(0, README.indexOf('\n## '));
    const links = [...contents.matchAll(/^- \[([^\]]+)\]\(#([^)]+)\)$/gm)].map((match) => [
      match[1],
      match[2],
    ]);
    // GitHub's anchors: lower case, punctuation other than - and _ dropped, spaces to -.
    const anchor = (title: string) =>
      title
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-');
    expect(links).toEqual(headings.map((title) => [title, anchor(title)]));
  });

  it('quick start is exactly two commands, and they exist', () => {
    const [quickStart] = codeBlocks(section('Quick start'), 'bash');
    expect(quickStart?.trim().split('\n')).toEqual(['npm install', 'npm start']);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    // exec: npm's SIGTERM (an IDE's stop button) reaches start.ts, not a shell that dies without passing it on.
    expect(scripts.start).toBe('exec tsx scripts/start.ts');
    expect(existsSync(join(ROOT, 'scripts/start.ts'))).toBe(true);
  });

  it('CI runs exactly the install and test commands the README gives', () => {
    const [testCommand] = codeBlocks(section('Tests'), 'bash');
    expect(testCommand?.trim()).toBe('npm test');
    const ci = read('.ci/run')
      .split('\n')
      .map((line) => line.trim())
      .filter(
        (line) => line !== '' && !line.startsWith('#') && !line.startsWith('set ') && !line.startsWith('cd '),
      );
    expect(ci).toEqual(['npm ci', 'npm test']);
    expect(section('Tests')).toContain('`npm ci`');
    expect(statSync(join(ROOT, '.ci/run')).mode & 0o111).not.toBe(0);
  });

  it('has a lock file npm ci accepts: every optional platform binary has an entry', () => {
    // A registry mirror that lacks other platforms' binaries makes `npm install` leave them out
    // of the lock, and `npm ci` then refuses the lock on every machine ("Missing: ... from lock file").
    const lock = JSON.parse(read('package-lock.json')) as {
      packages: Record<string, { optionalDependencies?: Record<string, string> }>;
    };
    const missing: string[] = [];
    for (const [key, entry] of Object.entries(lock.packages)) {
      for (const dependency of Object.keys(entry.optionalDependencies ?? {})) {
        const candidates: string[] = [];
        let base = key;
        for (;;) {
          candidates.push(`${base === '' ? '' : `${base}/`}node_modules/${dependency}`);
          const cut = base.lastIndexOf('node_modules/');
          if (cut <= 0) break;
          base = base.slice(0, cut - 1);
        }
        candidates.push(`node_modules/${dependency}`);
        if (!candidates.some((candidate) => candidate in lock.packages))
          missing.push(`${key} -> ${dependency}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("documents every setting of npm start's own", () => {
    const start = read('scripts/start.ts');
    const options = start.slice(
      start.indexOf('const startOptions = z.object({'),
      start.indexOf('});', start.indexOf('const startOptions')),
    );
    const names = [...options.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((match) => match[1]);
    expect(names.length).toBeGreaterThan(5);
    const quickStart = normalisedTables(section('Quick start'));
    expect(names.filter((name) => !quickStart.includes(`| \`${name}\` |`))).toEqual([]);
  });

  it('has an architecture diagram in Mermaid', () => {
    const [diagram] = codeBlocks(section('Architecture'), 'mermaid');
    expect(diagram).toMatch(/^flowchart /);
    for (const part of ['scan', 'generate', 'S3', 'PostgreSQL', 'Keycloak', 'EventBridge', 'API Gateway']) {
      expect(diagram).toContain(part);
    }
  });

  it('lists every HTTP route of serverless.yml with its function', () => {
    const yaml = load(read('serverless.yml')) as {
      functions: Record<string, { events?: { httpApi?: { method: string; path: string } }[] }>;
    };
    const routes = Object.entries(yaml.functions).flatMap(([name, fn]) =>
      (fn.events ?? []).flatMap((event) =>
        event.httpApi ? [`| \`${event.httpApi.method} ${event.httpApi.path}\` | \`${name}\` |`] : [],
      ),
    );
    expect(routes.length).toBeGreaterThan(5);
    const api = normalisedTables(section('HTTP API'));
    expect(routes.filter((row) => !api.includes(row))).toEqual([]);
  });

  it('links only to files that exist', () => {
    const links = [...README.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
      .map((match) => match[1] as string)
      .filter((target) => !/^[a-z]+:/.test(target));
    expect(links.length).toBeGreaterThan(3);
    expect(links.filter((target) => !existsSync(join(ROOT, target)))).toEqual([]);
  });
});

describe('Docker setups the README points to', () => {
  const composeFiles = ['localstack/localstack/docker-compose.yml', 'localstack/minio/docker-compose.yml'];

  it('are referenced by the README and are valid compose files creating the bucket npm start uses', () => {
    const stackDefault = read('localstack/embedded/stack.ts').match(/'([a-z0-9-]+-local)'/)?.[1];
    expect(stackDefault).toBe('certificates-local');
    for (const file of composeFiles) {
      expect(section('Using LocalStack or MinIO (Docker)')).toMatch(
        new RegExp(`docker compose -f ${file.replace(/[.]/g, '\\.')} (up|run --rm create-bucket)`),
      );
      const compose = load(read(file)) as { services: Record<string, { image: string }> };
      expect(Object.keys(compose.services).length).toBeGreaterThan(0);
      // Pinned images: a moving tag can break a setup nobody here can run.
      for (const service of Object.values(compose.services)) expect(service.image).toMatch(/:[^:]*\d/);
      expect(read(file)).toContain(`S3_BUCKET:-${stackDefault}`);
    }
  });

  it('init scripts are executable and create the bucket idempotently', () => {
    const localstack = 'localstack/localstack/init/ready.d/10-create-bucket.sh';
    const minio = 'localstack/minio/init/create-bucket.sh';
    for (const script of [localstack, minio]) {
      expect(statSync(join(ROOT, script)).mode & 0o111, script).not.toBe(0);
      expect(read(script)).toMatch(/^#!\/bin\/(ba)?sh\n/);
    }
    expect(read(localstack)).toMatch(/head-bucket[\s\S]*s3 mb/);
    expect(read(minio)).toContain('mc mb --ignore-existing');
    expect(read('localstack/localstack/docker-compose.yml')).toContain('/etc/localstack/init/ready.d');
    expect(read('localstack/minio/docker-compose.yml')).toContain('condition: service_healthy');
    // `up --wait` fails on the one-shot bucket container even when it succeeds (compose#10596):
    // the README runs that step in the foreground instead, which starts MinIO first.
    expect(section('Using LocalStack or MinIO (Docker)')).toContain(
      'docker compose -f localstack/minio/docker-compose.yml run --rm create-bucket',
    );
  });
});
