/**
 * The architecture rules of ../shared/DESIGN.md, checked on every `npm test` (npm run lint:deps).
 * A violation fails the run with the rule's name and the offending import.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-imports-no-adapter',
      comment:
        'lib/certificates is the domain: it declares the ports it needs (ports.ts) and never imports ' +
        'an adapter or the HTTP, auth or observability layers. Adapters import the domain, not the reverse.',
      severity: 'error',
      from: { path: '^lib/certificates/' },
      to: {
        path: '^lib/(auth|credentials|http|identity|invoke|observability|render|secrets|storage|webhooks)/',
      },
    },
    {
      name: 'domain-imports-no-platform',
      comment:
        'lib/certificates imports no AWS SDK, middy, Powertools, Lambda types, browser or HTTP client: ' +
        'those belong to adapters and handlers.',
      severity: 'error',
      from: { path: '^lib/certificates/' },
      to: {
        path: 'node_modules/(@aws-sdk|@smithy|@middy|@aws-lambda-powertools|@types/aws-lambda|aws-lambda|puppeteer-core|@sparticuz|jose|pdf-lib|liquidjs|qrcode)/',
      },
    },
    {
      name: 'webhooks-know-no-http-layer',
      comment:
        'lib/webhooks (outbox, delivery, endpoint use-cases) is called by handlers and routes; it never ' +
        'imports the HTTP API, auth or the logger (it takes a Log port), so its errors stay HTTP-free.',
      severity: 'error',
      from: { path: '^lib/webhooks/' },
      to: { path: '^lib/(auth|http|observability|invoke|render|storage|identity)/' },
    },
    {
      name: 'no-cycles-in-lib',
      comment: 'No module of lib/ imports another in a cycle (type-only imports count too).',
      severity: 'error',
      from: { path: '^lib/' },
      to: { circular: true },
    },
    {
      name: 'lib-ships-alone',
      comment: 'lib/ is what ships: it never imports handlers, tests, scripts or the local stand-ins.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(functions|test|scripts|localstack)/' },
    },
    {
      name: 'handlers-use-lib-only',
      comment: 'functions/ are thin handlers over lib/: no test helpers, scripts or local stand-ins.',
      severity: 'error',
      from: { path: '^functions/' },
      to: { path: '^(test|scripts|localstack)/' },
    },
    {
      name: 'shipped-code-no-dev-dependencies',
      comment:
        'lib/ and functions/ run on Lambda: a devDependency is not packaged (type-only imports excepted).',
      severity: 'error',
      // migrate.ts runs from a checkout (npm run migrate, the local stack), never inside a function.
      from: { path: '^(lib|functions)/', pathNot: '^lib/db/migrate\\.ts$' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
