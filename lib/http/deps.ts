import { createTokenVerifier, type TokenVerifier } from '../auth/verifier.ts';
import type { CertificateLinks } from '../certificates/read-model.ts';
import { loadConfig } from '../config.ts';
import { createSql, type Sql } from '../db/client.ts';

/**
 * Dependencies of the HTTP handlers, created once per container from the validated config.
 * Each getter parses only the config sections it needs (a function's environment holds just
 * those). Tests and the benchmark pass their own deps to `createHandler` instead. AWS SDK
 * clients live in separate modules (download-deps.ts) so read-only functions never load them.
 */

export interface PublicDeps {
  corsOrigins: readonly string[];
}

export interface DbDeps extends PublicDeps {
  sql: Sql;
}

export interface ReadDeps extends DbDeps {
  verifier: TokenVerifier;
}

/** The certificate read routes: their views carry the Add-to-LinkedIn link when `links` is set. */
export interface CertificateReadDeps extends ReadDeps {
  links?: CertificateLinks;
}

export function once<T>(create: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= create();
    return value;
  };
}

export const httpConfig = once(() => loadConfig(['http']).http);
const sql = once(() => createSql(loadConfig(['db']).db, { applicationName: 'course-certificates-http' }));
const verifier = once(() => createTokenVerifier(loadConfig(['auth']).auth));
export const publicDeps = (): PublicDeps => ({ corsOrigins: httpConfig().CORS_ALLOWED_ORIGINS });
export const dbDeps = (): DbDeps => ({ ...publicDeps(), sql: sql() });
export const readDeps = (): ReadDeps => ({ ...dbDeps(), verifier: verifier() });
const links = once((): CertificateLinks => {
  const render = loadConfig(['render']).render;
  return {
    verifyBaseUrl: render.VERIFY_BASE_URL,
    issuer: {
      organizationName: render.ISSUER_NAME,
      ...(render.LINKEDIN_ORGANIZATION_ID ? { organizationId: render.LINKEDIN_ORGANIZATION_ID } : {}),
    },
  };
});
export const certificateReadDeps = (): CertificateReadDeps => ({ ...readDeps(), links: links() });
