import { randomUUID } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
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
 * printed yesterday still verify today. Returns the file's path. Written whole to a file of its
 * own and then linked into place: a process starting at the same moment (two test workers, two
 * `npm start`) finds either no key or a complete one, never the empty file that creating and
 * writing the path itself would show it in between, and the first key linked is the one kept.
 */
export async function ensureLocalSigningKey(path: string): Promise<string> {
  try {
    await signingKeyFromJwk(JSON.parse(await readFile(path, 'utf8')));
    return path;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const jwk = await generateSigningJwk();
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
