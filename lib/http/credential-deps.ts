import { loadConfig } from '../config.ts';
import { type CredentialSettings, credentialSettingsFromConfig } from '../credentials/credential-service.ts';
import { signingKeyFromSecret } from '../credentials/key-source.ts';
import { CREDENTIAL_SIGNING_ALGORITHM } from '../credentials/keys.ts';
import { createIssuerKey, createJwtSigner } from '../credentials/signer.ts';
import type { JwtSigner } from '../credentials/status-list.ts';
import { defaultSecretStore, prefetch, secretSource } from '../secrets/secret-store.ts';
import type { AnalyticsAware } from './analytics.ts';
import { analyticsDeps, type DbDeps, dbDeps, once, type ReadDeps, readDeps } from './deps.ts';
import type { KeyDeps } from './routes/jwks.ts';

/**
 * The routes that serve signed credentials (status lists, Open Badges): the issuer's credentials
 * key (RS256; read from the secret store at cold start, kept as a non-extractable CryptoKey) and the settings
 * that say where the credentials live. Separate from deps.ts so that no other function loads
 * the key or is given the permission to read it.
 */

export interface CredentialDeps extends DbDeps, AnalyticsAware {
  sign: JwtSigner;
  credentials: CredentialSettings;
}

export interface AuthenticatedCredentialDeps extends CredentialDeps, ReadDeps {}

const settings = once(() => credentialSettingsFromConfig(loadConfig(['render', 'credentials'])));

const signer = once(() => {
  const { credentialSigning: signing, secrets } = loadConfig(['credentialSigning', 'secrets']);
  const secret = prefetch(
    secretSource(defaultSecretStore, signing.CREDENTIAL_SIGNING_KEY, signing.CREDENTIAL_SIGNING_KEY_ARN),
  );
  return createJwtSigner(
    // Each reload asks the store itself (as functions/generate.ts does).
    createIssuerKey(
      dbDeps().sql,
      () => signingKeyFromSecret(() => secret({ fresh: true }), CREDENTIAL_SIGNING_ALGORITHM),
      { reloadAfterMs: secrets.SECRETS_CACHE_SECONDS * 1000 },
    ),
  );
});

/** GET /status/{listId}: public, no analytics (a status check says nothing about one certificate). */
export const statusListDeps = (): CredentialDeps => ({
  ...dbDeps(),
  sign: signer(),
  credentials: settings(),
});

/** GET /verify/{code}/credential: public, counted as a credential export. */
export const publicCredentialDeps = (): CredentialDeps => ({
  ...statusListDeps(),
  analytics: analyticsDeps(),
});

/** GET /certificates/{id}/credential: owner or staff, counted as a credential export. */
export const certificateCredentialDeps = (): AuthenticatedCredentialDeps => ({
  ...readDeps(),
  sign: signer(),
  credentials: settings(),
  analytics: analyticsDeps(),
});

/**
 * GET /.well-known/jwks.json and GET /keys/{kid}: no signing key, only where the credentials
 * key's URL `kid` points (the API's public base, as the credentials that carry it say).
 */
export const keyDeps = (): KeyDeps => ({ ...dbDeps(), apiBaseUrl: settings().apiBaseUrl });
