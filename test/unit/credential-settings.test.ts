import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { credentialSettingsFromConfig } from '../../lib/credentials/credential-service.ts';

const settingsFor = (env: Record<string, string>) =>
  credentialSettingsFromConfig(loadConfig(['render', 'credentials'], env));

describe('credential settings from configuration', () => {
  it("puts the API and the issuer on VERIFY_BASE_URL's origin when nothing else is set", () => {
    const settings = settingsFor({ VERIFY_BASE_URL: 'https://v.example/verify' });

    // Every Open Badge names {apiBaseUrl}/status/{listId} as its status list: a wrong default
    // is a 404 for every wallet and verifier checking revocation.
    expect(settings.apiBaseUrl).toBe('https://v.example/api/v1');
    expect(settings.verifyBaseUrl).toBe('https://v.example/verify');
    expect(settings.issuer).toEqual({
      id: 'https://v.example',
      name: 'Course Certificates',
      url: 'https://v.example',
    });
    expect(settings.statusListTtlSeconds).toBe(300);
  });

  it('takes PUBLIC_API_BASE_URL, ISSUER_URL, ISSUER_NAME and STATUS_LIST_TTL_SECONDS over the defaults', () => {
    const settings = settingsFor({
      VERIFY_BASE_URL: 'https://v.example/verify',
      PUBLIC_API_BASE_URL: 'https://api.example.org/certificates/api/v1/',
      ISSUER_URL: 'https://www.example.org/about',
      ISSUER_NAME: 'Example University',
      STATUS_LIST_TTL_SECONDS: '900',
    });

    expect(settings.apiBaseUrl).toBe('https://api.example.org/certificates/api/v1');
    expect(settings.verifyBaseUrl).toBe('https://v.example/verify');
    expect(settings.issuer).toEqual({
      id: 'https://www.example.org/about',
      name: 'Example University',
      url: 'https://www.example.org/about',
    });
    expect(settings.statusListTtlSeconds).toBe(900);
  });
});
