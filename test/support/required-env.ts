/**
 * Just enough for every section's required variables to parse (none of them reaches a real
 * service), so the configuration's other values come out as their defaults or as a test sets them.
 */
export const REQUIRED_ENV: Readonly<Record<string, string>> = {
  DATABASE_URL: 'postgres://u:p@localhost:5432/d',
  S3_BUCKET: 'bucket-name',
  KEYCLOAK_URL: 'http://keycloak.invalid',
  KEYCLOAK_REALM: 'student',
  KEYCLOAK_CLIENT_ID: 'client',
  KEYCLOAK_CLIENT_SECRET: 'secret',
  AUTH_ISSUER: 'http://keycloak.invalid/realms/student',
  AUTH_AUDIENCE: 'frontend',
  GENERATE_FUNCTION_NAME: 'generate',
  VERIFY_BASE_URL: 'http://verify.invalid',
  SIGNING_KEY: '{"kty":"EC"}',
  CREDENTIAL_SIGNING_KEY: '{"kty":"RSA"}',
};
