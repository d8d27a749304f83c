import { readFile, writeFile } from 'node:fs/promises';
import { ConfigurationError, errorMessage } from '../errors.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from './keys.ts';

/**
 * The private signing key from its secret (lib/secrets: SIGNING_KEY locally, SIGNING_KEY_ARN =
 * an SSM SecureString on AWS, readable only by generate). Errors name the problem, never the
 * value; a malformed key is a ConfigurationError (retrying will not fix it, rotating will).
 */
export async function signingKeyFromSecret(read: () => Promise<string>): Promise<SigningKey> {
  const text = await read();
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new ConfigurationError('the signing key is not JSON (expected a private P-256 JWK)', 'signing-key');
  }
  try {
    return await signingKeyFromJwk(jwk);
  } catch (error) {
    throw new ConfigurationError(errorMessage(error), 'signing-key');
  }
}

/**
 * `npm start`'s key: created once in the data folder (mode 0600) and reused, so certificates
 * printed yesterday still verify today. Returns the file's path.
 */
export async function ensureLocalSigningKey(path: string): Promise<string> {
  try {
    await signingKeyFromJwk(JSON.parse(await readFile(path, 'utf8')));
    return path;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const jwk = await generateSigningJwk();
  // 'wx': never overwrite a key another process wrote meanwhile.
  await writeFile(path, `${JSON.stringify(jwk)}\n`, { mode: 0o600, flag: 'wx' }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  });
  return path;
}
