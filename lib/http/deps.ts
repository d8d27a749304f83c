import { postgresEventStore } from '../analytics/event-store.ts';
import { createTokenVerifier, type TokenVerifier } from '../auth/verifier.ts';
import type { RecordingDeps } from '../certificates/analytics.ts';
import type { CertificateLinks } from '../certificates/read-model.ts';
import { loadConfig } from '../config.ts';
import { createSql, type Sql } from '../db/client.ts';
import { logger } from '../observability/logger.ts';
import { analyticsMetrics } from '../observability/metrics.ts';

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
export const links = once((): CertificateLinks => {
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

/** Analytics recording on the same pool as the request's own queries (lib/http/analytics.ts). */
export const analyticsDeps = once(
  (): RecordingDeps => ({ store: postgresEventStore(sql()), log: logger, metrics: analyticsMetrics() }),
);
/** The public verification route: its database, recording of verification views, the LinkedIn link. */
export const verifyDeps = () => ({ ...dbDeps(), analytics: analyticsDeps(), links: links() });
