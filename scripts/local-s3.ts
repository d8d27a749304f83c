import type { S3Config } from '../lib/storage/s3.ts';

/**
 * The credentials of the local S3 stand-in (s3rver takes its own key only, S3RVER;
 * localstack/embedded/stack.ts gives the functions these), for a script pointed at a loopback S3_ENDPOINT_URL with no AWS
 * credentials of its own: `source .local/tokens.env` gives the shell the demo bucket and
 * endpoint but, on purpose, no AWS key, which would shadow the developer's real ones in that
 * shell. Set in the environment, where the SDK's default chain reads them; anything the
 * developer set (a key, a profile) is left as it is.
 */
export function useLocalStandInCredentials(config: Pick<S3Config, 'S3_ENDPOINT_URL'>): void {
  if (!config.S3_ENDPOINT_URL) return;
  const host = new URL(config.S3_ENDPOINT_URL).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) return;
  if (process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE) return;
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
}
