import { describe, expect, it } from 'vitest';
import { generateOptionsFromConfig } from '../../lib/certificates/generate.ts';
import { loadConfig } from '../../lib/config.ts';

const optionsFor = (env: Record<string, string>) =>
  generateOptionsFromConfig(loadConfig(['s3', 'pipeline', 'render'], env));

describe('generate options from configuration', () => {
  it('takes every setting generate uses from its own variable', () => {
    // Every value differs from its default and from every other one, so a setting read from the
    // wrong variable, or two swapped, shows.
    const options = optionsFor({
      S3_BUCKET: 'certs-options',
      S3_KEY_PREFIX: 'issued-pdfs',
      VERIFY_BASE_URL: 'https://v.example/check',
      ISSUER_NAME: 'Example University',
      DEFAULT_LOCALE: 'fr',
      LEASE_SECONDS: '240',
      MAX_GENERATION_ATTEMPTS: '7',
      RETRY_BASE_SECONDS: '45',
      RETRY_MAX_SECONDS: '5400',
      CONFIGURATION_RETRY_SECONDS: '1800',
    });

    expect(options).toEqual({
      keyPrefix: 'issued-pdfs',
      verifyBaseUrl: 'https://v.example/check',
      issuerName: 'Example University',
      defaultLocale: 'fr',
      leaseSeconds: 240,
      maxAttempts: 7,
      retryBaseSeconds: 45,
      retryMaxSeconds: 5400,
      configurationRetrySeconds: 1800,
    });
  });

  it('has the defaults the README documents when only the required settings are given', () => {
    const options = optionsFor({ S3_BUCKET: 'certs-options', VERIFY_BASE_URL: 'https://v.example/check' });

    expect(options).toEqual({
      keyPrefix: 'certificates',
      verifyBaseUrl: 'https://v.example/check',
      issuerName: 'Course Certificates',
      defaultLocale: 'en',
      leaseSeconds: 180,
      maxAttempts: 10,
      retryBaseSeconds: 60,
      retryMaxSeconds: 3600,
      configurationRetrySeconds: 3600,
    });
  });
});
