import { randomUUID } from 'node:crypto';
import { link, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigurationError, errorMessage, ValidationError } from '../errors.ts';
import {
  generateSigningJwk,
  SIGNING_ALGORITHM,
  type SigningAlgorithm,
  type SigningKey,
  signingKeyFromJwk,
} from './keys.ts';

/** The variable (and, with `_ARN`, the secret) each key comes from: what its errors name. */
export const SIGNING_KEY_VARIABLE: Record<SigningAlgorithm, string> = {
  ES256: 'SIGNING_KEY',
  RS256: 'CREDENTIAL_SIGNING_KEY',
};

/**
 * A private key of the expected kind from its JSON text. ValidationError messages name the
 * problem, never the value.
 */
export async function parseSigningKey(text: string, alg: SigningAlgorithm): Promise<SigningKey> {
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new ValidationError(
      `the ${alg} signing key is not JSON (expected a private ${alg === 'ES256' ? 'P-256' : 'RSA'} JWK)`,
      'signing_key',
    );
  }
  return signingKeyFromJwk(jwk, alg);
}

/**
 * A private signing key from its secret (lib/secrets: SIGNING_KEY / CREDENTIAL_SIGNING_KEY
 * locally, their `_ARN` = an SSM SecureString on AWS, readable only by the functions that sign).
 * A malformed key, or a key of the other kind, is a ConfigurationError naming the variable
 * (retrying will not fix it, rotating will); a failed read of the store stays what it was.
 */
export async function signingKeyFromSecret(
  read: () => Promise<string>,
  alg: SigningAlgorithm = SIGNING_ALGORITHM,
): Promise<SigningKey> {
  const text = await read();
  try {
    return await parseSigningKey(text, alg);
  } catch (error) {
    throw new ConfigurationError(`${SIGNING_KEY_VARIABLE[alg]}: ${errorMessage(error)}`, 'signing-key');
  }
}

/**
 * `npm start`'s key: created once in the data folder (mode 0600) and reused, so certificates
 * printed yesterday still verify today. Returns the file's path. Written whole to a file of its
 * own and then linked into place: a process starting at the same moment (two test workers, two
 * `npm start`) finds either no key or a complete one, never the empty file that creating and
 * writing the path itself would show it in between, and the first key linked is the one kept.
 */
export async function ensureLocalSigningKey(
  path: string,
  alg: SigningAlgorithm = SIGNING_ALGORITHM,
): Promise<string> {
  await removeStaleStagedKeys(path);
  try {
    await signingKeyFromJwk(JSON.parse(await readFile(path, 'utf8')), alg);
    return path;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const jwk = await generateSigningJwk(alg);
  const staged = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(staged, `${JSON.stringify(jwk)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    // link() fails with EEXIST where rename() would replace: never overwrite a key another
    // process put there meanwhile.
    await link(staged, path).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
  } finally {
    await unlink(staged).catch(() => undefined);
  }
  return path;
}

/** How old a staged key must be before it is taken for one a killed process left behind. */
const STAGED_KEY_STALE_MS = 60_000;

/**
 * Staged keys that a process killed between writing and linking left beside the key: each is a
 * private key (of the key in use, if the link was made), and nothing else would remove it. One
 * younger than a minute may be another process's, still being linked, and is left alone.
 */
async function removeStaleStagedKeys(path: string): Promise<void> {
  const folder = dirname(path);
  const prefix = `${basename(path)}.`;
  const names = await readdir(folder).catch(() => []);
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const staged = join(folder, name);
    const info = await stat(staged).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > STAGED_KEY_STALE_MS) await unlink(staged).catch(() => undefined);
  }
}
