import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { linkedInAddToProfileUrl } from '../../lib/certificates/linkedin.ts';

const LOCALES_DIR = join(import.meta.dirname, '../../templates/locales');
const locales = readdirSync(LOCALES_DIR)
  .filter((file) => file.endsWith('.json'))
  .map((file) => ({
    locale: file.replace(/\.json$/, ''),
    title: (JSON.parse(readFileSync(join(LOCALES_DIR, file), 'utf8')) as { labels: { title: string } }).labels
      .title,
  }));

const base = {
  issuedOn: '2026-03-09',
  verificationCode: 'A1B2C3D4E5F60718',
  verifyUrl: 'https://certificates.example.org/verify/A1B2C3D4E5F60718',
};

describe('LinkedIn Add to Profile', () => {
  it('fills every field of the certification form, with the verification page as credential URL', () => {
    const url = new URL(
      linkedInAddToProfileUrl(
        { ...base, courseName: 'Data Science & Ethics', expiresAt: new Date('2028-11-30T00:00:00Z') },
        { organizationId: '1337', organizationName: 'Example Academy' },
      ),
    );
    expect(`${url.origin}${url.pathname}`).toBe('https://www.linkedin.com/profile/add');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      startTask: 'CERTIFICATION_NAME',
      name: 'Data Science & Ethics',
      organizationId: '1337',
      issueYear: '2026',
      issueMonth: '3',
      expirationYear: '2028',
      expirationMonth: '11',
      certUrl: base.verifyUrl,
      certId: base.verificationCode,
    });
  });

  it('names the organisation when no LinkedIn id is configured, and omits expiry when there is none', () => {
    const url = new URL(
      linkedInAddToProfileUrl({ ...base, courseName: 'Go' }, { organizationName: 'Example Academy' }),
    );
    expect(url.searchParams.get('organizationName')).toBe('Example Academy');
    expect(url.searchParams.has('organizationId')).toBe(false);
    expect(url.searchParams.has('expirationYear')).toBe(false);
    expect(url.searchParams.has('expirationMonth')).toBe(false);
  });

  it.each(locales)('$locale: a title in that script survives the round trip, fully encoded', ({ title }) => {
    const courseName = `${title}: ${title} & <b>"x"</b> #1?`;
    const link = linkedInAddToProfileUrl({ ...base, courseName }, { organizationName: `${title} Academy` });
    // Nothing outside the URL-safe set is left raw in the link itself.
    expect(link).toMatch(/^[A-Za-z0-9\-._~:/?=&%+]+$/);
    const url = new URL(link);
    expect(url.searchParams.get('name')).toBe(courseName);
    expect(url.searchParams.get('organizationName')).toBe(`${title} Academy`);
    expect(url.searchParams.get('certUrl')).toBe(base.verifyUrl);
  });

  it('refuses an issue date that is not ISO', () => {
    expect(() =>
      linkedInAddToProfileUrl(
        { ...base, issuedOn: '09/03/2026', courseName: 'x' },
        { organizationName: 'y' },
      ),
    ).toThrow(/not an ISO date/);
  });
});
