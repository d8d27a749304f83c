import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_RANGE_DAYS, referrerKind, resolveRange, tallyCounts } from '../../lib/certificates/analytics.ts';
import { ValidationError } from '../../lib/errors.ts';
import { analyticsMetrics } from '../../lib/observability/metrics.ts';
import { captureEmf } from '../support/emf.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('referrer kind', () => {
  const site = ['app.example.org', 'api.example.org'];
  it.each([
    [undefined, 'none'],
    ['', 'none'],
    ['https://app.example.org/certificates?x=1', 'same-site'],
    ['https://API.example.org/', 'same-site'],
    ['https://www.linkedin.com/in/someone', 'linkedin'],
    ['https://lnkd.in/abc', 'linkedin'],
    ['https://www.google.co.uk/search?q=name', 'search'],
    ['https://duckduckgo.com/?q=x', 'search'],
    ['https://www.google.com/', 'search'],
    ['https://www.bing.com/search?q=x', 'search'],
    ['https://uk.search.yahoo.com/search?p=x', 'search'],
    ['android-app://com.google.android.googlequicksearchbox/', 'search'],
    ['android-app://com.linkedin.android/', 'linkedin'],
    // Mail, classes and documents on the engines' domains are not search; look-alikes are no one's.
    ['https://mail.google.com/mail/u/0/', 'other'],
    ['https://classroom.google.com/c/123', 'other'],
    ['https://docs.google.com/document/d/x', 'other'],
    ['https://sites.google.com/view/me', 'other'],
    ['https://mail.yahoo.com/', 'other'],
    ['https://mail.yandex.ru/', 'other'],
    ['https://google.evil.example/', 'other'],
    ['https://notlinkedin.com/', 'other'],
    ['https://evil.example.org.attacker.net/', 'other'],
    ['not a url', 'other'],
  ] as const)('%s -> %s', (referer, kind) => {
    expect(referrerKind(referer, site)).toBe(kind);
  });
});

describe('date range', () => {
  const now = new Date('2024-05-10T23:30:00Z');

  it('defaults to the 30 days ending today (UTC)', () => {
    expect(resolveRange({}, now)).toEqual({ from: '2024-04-11', to: '2024-05-10' });
  });

  it('with only from: 30 days from it, but not past today; with only to: the 30 days ending then', () => {
    expect(resolveRange({ from: '2024-01-01' }, now)).toEqual({ from: '2024-01-01', to: '2024-01-30' });
    expect(resolveRange({ from: '2024-05-01' }, now)).toEqual({ from: '2024-05-01', to: '2024-05-10' });
    // 2024 is a leap year: 29 days before 1 March is 1 February.
    expect(resolveRange({ to: '2024-03-01' }, now)).toEqual({ from: '2024-02-01', to: '2024-03-01' });
  });

  it('names the parameter at fault', () => {
    const fieldOf = (input: { from?: string; to?: string }) => {
      try {
        resolveRange(input, now);
        return 'accepted';
      } catch (error) {
        return error instanceof ValidationError ? error.field : 'other error';
      }
    };
    expect(fieldOf({ from: '2024-05-02', to: '2024-05-01' })).toBe('to');
    expect(fieldOf({ from: '2024-06-01' })).toBe('from');
    expect(fieldOf({ from: '2023-01-01', to: '2024-01-02' })).toBe('from'); // 367 days
    // 366 days before `to` is a span of 367 days, both ends counted: refused, and the message says
    // the bound the check applies.
    expect(fieldOf({ from: '2022-12-31', to: '2024-01-01' })).toBe('from');
    expect(fieldOf({ from: '2023-01-01', to: '2024-01-01' })).toBe('accepted');
    expect(() => resolveRange({ from: '2022-12-31', to: '2024-01-01' }, now)).toThrow(
      'from must be at most 365 days before to (at most 366 days, from and to included)',
    );
    // Exactly the maximum is fine (2024 is a leap year: 366 days).
    expect(fieldOf({ from: '2024-01-01', to: '2024-12-31' })).toBe('accepted');
    expect(MAX_RANGE_DAYS).toBe(366);
  });
});

describe('tally', () => {
  it('puts rows on their day and kind, ignores rows outside the range, and lists empty days', () => {
    const counts = tallyCounts({ from: '2024-02-28', to: '2024-03-01' }, [
      { day: '2024-02-29', kind: 'download-link', referrer_kind: 'none', count: 3 },
      { day: '2024-02-29', kind: 'verification-view', referrer_kind: 'linkedin', count: 2 },
      { day: '2024-03-02', kind: 'download-link', referrer_kind: 'none', count: 9 },
    ]);
    expect(counts.days.map((day) => [day.date, day.total])).toEqual([
      ['2024-02-28', 0],
      ['2024-02-29', 5],
      ['2024-03-01', 0],
    ]);
    expect(counts.totals).toEqual({ 'download-link': 3, 'verification-view': 2, 'credential-export': 0 });
    expect(counts.referrers).toMatchObject({ none: 3, linkedin: 2 });
    expect(counts.total).toBe(5);
  });
});

describe('analytics metrics', () => {
  it('writes one EMF line per event with kind and referrerKind dimensions', async () => {
    const target = new Metrics({ namespace: 'CourseCertificatesTest', serviceName: 'test' });
    const { emf } = await captureEmf(() =>
      analyticsMetrics(target).eventRecorded('verification-view', 'linkedin'),
    );
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      // The name as the README gives it.
      CertificateEvents: 1,
      kind: 'verification-view',
      referrerKind: 'linkedin',
      _aws: { CloudWatchMetrics: [{ Metrics: [{ Name: 'CertificateEvents', Unit: 'Count' }] }] },
    });
  });
});
