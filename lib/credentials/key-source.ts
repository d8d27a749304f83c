import { readFile, writeFile } from 'node:fs/promises';
import { TransientError } from '../errors.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from './keys.ts';

/**
 * Where the private signing key comes from: on AWS an SSM SecureString parameter (only the
 * generate function's role may read and decrypt it); locally a file in `npm start`'s data
 * folder. The key is never an environment variable, so it cannot end up in the packaged
 * template, and errors name the source, never the value.
 */
export type SigningKeySource = { kind: 'file'; path: string } | { kind: 'ssm'; parameter: string };

/** Reads a SecureString with decryption (the SSM client is injected; tests pass a stub). */
export type GetSecureParameter = (name: string) => Promise<string | undefined>;

export async function loadSigningKey(
  source: SigningKeySource,
  getParameter?: GetSecureParameter,
): Promise<SigningKey> {
  let text: string | undefined;
  try {
    if (source.kind === 'file') text = await readFile(source.path, 'utf8');
    else {
      if (!getParameter) throw new Error('no SSM client');
      text = await getParameter(source.parameter);
    }
  } catch (error) {
    const where = source.kind === 'file' ? `file ${source.path}` : `SSM parameter ${source.parameter}`;
    throw new TransientError(
      `signing key unavailable (${where}): ${error instanceof Error ? error.name : 'error'}`,
      'signing-key',
    );
  }
  if (!text) throw new TransientError('signing key is empty', 'signing-key');
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new TransientError('signing key is not JSON (expected a private JWK)', 'signing-key');
  }
  return signingKeyFromJwk(jwk);
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
