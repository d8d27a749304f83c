// Resolves CORS for the HTTP API from CORS_ALLOWED_ORIGINS (comma-separated) at package time.
// The local stages (npm start, the tests) default to the Vite dev server's origin; a deploy
// stage allows exactly the origins given, so a forgotten variable never opens the production
// API to a developer's localhost page. Each entry must be an origin (scheme, host, port: no
// path), or `*`.
const { LOCAL_STAGES } = require('./deployment.cjs');

const DEV_ORIGIN = 'http://localhost:5173';

function corsFor(stage, value) {
  const given = (value ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  const origins = given.length > 0 ? given : LOCAL_STAGES.has(stage) ? [DEV_ORIGIN] : [];
  for (const origin of origins) {
    if (origin === '*') continue;
    let parsed;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin)
      throw new Error(
        `Cannot package stage ${stage}: CORS_ALLOWED_ORIGINS: ${origin} is not an origin like https://learn.example.org`,
      );
  }
  return {
    allowedOrigins: origins,
    allowedHeaders: ['Authorization', 'Content-Type'],
    allowedMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    maxAge: 600,
  };
}

module.exports = async ({ options, resolveVariable }) => {
  const stage = options.stage ?? (await resolveVariable('sls:stage'));
  return corsFor(stage, process.env.CORS_ALLOWED_ORIGINS);
};
module.exports.corsFor = corsFor;
