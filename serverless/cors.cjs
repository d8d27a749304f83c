// Resolves CORS for the HTTP API from CORS_ALLOWED_ORIGINS (comma-separated) at package time.
module.exports = () => {
  const origins = (process.env.CORS_ALLOWED_ORIGINS || 'http://localhost:5173')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  return {
    allowedOrigins: origins,
    allowedHeaders: ['Authorization', 'Content-Type'],
    allowedMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    maxAge: 600,
  };
};
