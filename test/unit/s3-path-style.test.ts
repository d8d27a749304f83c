import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { createS3Client } from '../../lib/storage/s3.ts';
import { pathStyleFor } from '../../localstack/embedded/stack.ts';

// One rule for path-style S3 URLs, as the README's configuration table states it: unset, on
// when S3_ENDPOINT_URL is set (MinIO, LocalStack, s3rver), else off (AWS); npm start's own
// s3rver always on, and an endpoint the developer gives keeps their setting.

const pathStyle = (config: { S3_ENDPOINT_URL?: string; S3_FORCE_PATH_STYLE?: boolean }) => {
  const client = createS3Client({
    S3_BUCKET: 'b',
    S3_REGION: 'eu-central-1',
    S3_KEY_PREFIX: 'certificates',
    ...config,
  });
  try {
    return client.config.forcePathStyle;
  } finally {
    client.destroy();
  }
};

describe('S3_FORCE_PATH_STYLE', () => {
  it('unset: on with an endpoint, off without one; set: as set', () => {
    expect(pathStyle({})).toBe(false);
    expect(pathStyle({ S3_ENDPOINT_URL: 'http://127.0.0.1:9000' })).toBe(true);
    expect(pathStyle({ S3_ENDPOINT_URL: 'https://s3.example.org', S3_FORCE_PATH_STYLE: false })).toBe(false);
    expect(pathStyle({ S3_FORCE_PATH_STYLE: true })).toBe(true);
  });

  it("npm start: on for its own s3rver; for the developer's endpoint, their setting or the rule's", () => {
    expect(pathStyleFor({})).toEqual({ S3_FORCE_PATH_STYLE: 'true' });
    expect(pathStyleFor({ S3_FORCE_PATH_STYLE: 'false' })).toEqual({ S3_FORCE_PATH_STYLE: 'true' });
    expect(pathStyleFor({ S3_ENDPOINT_URL: 'https://s3.example.org', S3_FORCE_PATH_STYLE: 'false' })).toEqual(
      {
        S3_FORCE_PATH_STYLE: 'false',
      },
    );
    expect(pathStyleFor({ S3_ENDPOINT_URL: 'http://127.0.0.1:9000' })).toEqual({});
  });

  it("serverless.yml leaves it unset when the shell does, so the rule holds for a developer's endpoint", () => {
    // npm start with LocalStack or MinIO sets S3_ENDPOINT_URL only; the functions get what the
    // yml's fallback makes of the unset variable. A fallback of 'false' turned path style off and
    // sent every request to bucket.localhost, which does not resolve.
    const line = readFileSync('serverless.yml', 'utf8')
      .split('\n')
      .find((text) => text.trim().startsWith('S3_FORCE_PATH_STYLE:'));
    const fallback = /\$\{env:S3_FORCE_PATH_STYLE, '([^']*)'\}/.exec(line ?? '')?.[1];
    expect(fallback, `serverless.yml: ${line}`).toBeDefined();
    const { s3 } = loadConfig(['s3'], {
      S3_BUCKET: 'certificates-local',
      S3_ENDPOINT_URL: 'http://localhost:9000',
      S3_FORCE_PATH_STYLE: fallback,
    });
    expect(pathStyle(s3)).toBe(true);
  });

  it('the README states that rule', () => {
    const row = readFileSync('README.md', 'utf8')
      .split('\n')
      .find((line) => line.startsWith('| `S3_FORCE_PATH_STYLE`'));
    expect(row).toContain('unset: on when `S3_ENDPOINT_URL` is set, else off');
  });
});
