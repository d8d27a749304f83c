import type { Presigner } from '../certificates/ports.ts';
import type { DownloadPolicy } from '../certificates/read-model.ts';
import { ConfigError, loadConfig } from '../config.ts';
import { createCertificateStorage, createS3Client } from '../storage/s3.ts';
import type { AnalyticsAware } from './analytics.ts';
import { analyticsDeps, httpConfig, once, type ReadDeps, readDeps } from './deps.ts';

export interface DownloadDeps extends ReadDeps, AnalyticsAware {
  storage: Presigner;
  download: DownloadPolicy;
}

const storage = once(() => {
  const { s3 } = loadConfig(['s3']);
  return createCertificateStorage(createS3Client(s3), s3.S3_BUCKET);
});

export function downloadPolicy(config = httpConfig()): DownloadPolicy {
  if (config.DOWNLOAD_URL_TTL_SECONDS > config.DOWNLOAD_URL_MAX_TTL_SECONDS) {
    // Refused at cold start rather than silently capping every default download.
    throw new ConfigError([
      { variable: 'DOWNLOAD_URL_TTL_SECONDS', message: 'must not exceed DOWNLOAD_URL_MAX_TTL_SECONDS' },
    ]);
  }
  return {
    defaultTtlSeconds: config.DOWNLOAD_URL_TTL_SECONDS,
    maxTtlSeconds: config.DOWNLOAD_URL_MAX_TTL_SECONDS,
  };
}

export const downloadDeps = (): DownloadDeps => ({
  ...readDeps(),
  storage: storage(),
  download: downloadPolicy(),
  analytics: analyticsDeps(),
});
