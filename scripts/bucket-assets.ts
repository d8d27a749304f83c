import { loadConfig } from '../lib/config.ts';
import type { AssetLoader } from '../lib/render/assets.ts';
import { createS3AssetLoader } from '../lib/storage/asset-loader.ts';
import { createS3Client } from '../lib/storage/s3.ts';
import { useLocalStandInCredentials } from './local-s3.ts';

/**
 * The certificates bucket's reader for a template's `s3://` assets, as generate reads them, when
 * `refs` name any: the S3 settings come from the environment (S3_BUCKET, S3_REGION or
 * S3_ENDPOINT_URL; a ConfigError naming what is missing). Undefined when no asset is in the
 * bucket. `close` lets the S3 client's connections go.
 */
export function bucketAssetReader(
  refs: Readonly<Record<string, string>>,
): { assetLoader: AssetLoader; close: () => void } | undefined {
  if (!Object.values(refs).some((ref) => ref.startsWith('s3://'))) return undefined;
  const { s3 } = loadConfig(['s3']);
  useLocalStandInCredentials(s3);
  const client = createS3Client(s3);
  return { assetLoader: createS3AssetLoader(client, s3.S3_BUCKET), close: () => client.destroy() };
}
