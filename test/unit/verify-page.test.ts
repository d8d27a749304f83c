import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  PUBLIC_REVOCATION_REASONS,
  publicRevocationReason,
  REVOCATION_REASONS,
} from '../../lib/certificates/lifecycle.ts';
import { pickLanguage, publicCacheControl, wantsJson } from '../../lib/http/verification.ts';
import { shippedLanguages } from '../../lib/render/i18n.ts';
import {
  escapeHtml,
  renderVerifyPage,
  type VerifyPageInput,
  verifyPageLabels,
} from '../../lib/render/verify-page.ts';

const record: NonNullable<VerifyPageInput['record']> = {
  facts: {
    code: 'K7Q2M9X4T8B3N6PZ',
    name: '<img src=x onerror=alert(1)>',
    course: 'Intro to "Quoting" </script><script>alert(2)</script>',
    score: '87.5/100',
    issued: '2026-03-14',
    expires: null,
    issuer: 'Northbridge Academy',
  },
  locale: 'en',
  revokedAt: null,
  revocationReason: null,
  expiresAt: null,
  supersededByCode: null,
  pdfSha256: 'ab'.repeat(32),
};

function page(overrides: Partial<VerifyPageInput> = {}) {
  return renderVerifyPage({
    status: 'valid',
    code: record.facts.code,
    record,
    fallbackLocale: 'en',
    jwksUrl: '/.well-known/jwks.json',
    ...overrides,
  });
}

const hashOf = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

describe('verification page renderer', () => {
  it('allows exactly its inline script and style by hash, and nothing else', () => {
    const { html, contentSecurityPolicy } = page();
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
    expect(script).toBe(readFileSync('templates/verify/verify.js', 'utf8'));
    expect(contentSecurityPolicy).toContain(`script-src ${hashOf(script)}`);
    expect(contentSecurityPolicy).toContain(`style-src ${hashOf(style)}`);
    expect(contentSecurityPolicy).toMatch(/^default-src 'none';/);
    expect(contentSecurityPolicy).toContain("connect-src 'self'");
    expect(contentSecurityPolicy).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(html).not.toMatch(/\s(src|href)="(https?:)?\/\//);
  });

  it('escapes every fact: names cannot inject markup or end the data block', () => {
    const { html } = page();
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html.match(/<script/g)).toHaveLength(2);
    const data = /<script type="application\/json" id="record-facts">([\s\S]*?)<\/script>/.exec(html)?.[1];
    expect(JSON.parse(data ?? 'null')).toEqual(record.facts);
  });

  it('offers the file check only with a well-formed recorded hash, hidden until the script shows it', () => {
    const { html } = page();
    expect(html).toContain(
      `<section aria-labelledby="file-heading" id="file-check" data-sha256="${'ab'.repeat(32)}" hidden>`,
    );
    expect(html).toContain(
      '<input type="file" id="file-input" accept="application/pdf,.pdf" aria-labelledby="file-heading"',
    );
    for (const pdfSha256 of [null, 'AB'.repeat(32), '" onmouseover="alert(1)', 'ab'.repeat(31)])
      expect(page({ record: { ...record, pdfSha256 } }).html, String(pdfSha256)).not.toContain(
        'id="file-check"',
      );
    expect(page({ status: 'not-found', record: null }).html).not.toContain('id="file-check"');
  });

  it('a superseded certificate links to its replacement once that is issued, and before says one was requested', () => {
    const linked = page({
      status: 'superseded',
      record: { ...record, supersededByCode: 'NEW0000000000001' },
    }).html;
    expect(linked).toContain('<a href="NEW0000000000001">See the certificate that replaces it</a>');
    expect(linked).not.toContain('replacement-pending');
    const waiting = page({ status: 'superseded', record: { ...record, replacementPending: true } }).html;
    expect(waiting).not.toContain('See the certificate that replaces it');
    expect(waiting).toContain(
      '<p id="replacement-pending">A replacement has been requested and is not issued yet.</p>',
    );
    for (const language of shippedLanguages())
      expect(verifyPageLabels(language).superseded_pending, language).toMatch(/\S/);
  });

  it('names the expiry date as the certificate does ("Expires on"): it is the first day it is not valid', () => {
    const expiring = {
      ...record,
      expiresAt: '2027-12-05T00:00:00.000Z',
      facts: { ...record.facts, expires: '2027-12-05' },
    };
    for (const status of ['valid', 'expired'] as const) {
      const html = page({ status, record: expiring }).html;
      expect(html, status).toContain('Expires on');
      expect(html, status).not.toContain('Valid until');
      // Once, in the facts: an expired page's verdict does not repeat the date above them.
      expect(html.split('<dt>Expires on</dt>').length - 1, status).toBe(1);
    }
    // The same words as the PDF's label, in every shipped language.
    for (const language of shippedLanguages()) {
      const pdfLabels = JSON.parse(readFileSync(`templates/locales/${language}.json`, 'utf8')) as {
        labels: { expires_on: string };
      };
      expect(verifyPageLabels(language).expires, language).toBe(pdfLabels.labels.expires_on);
    }
  });

  it('has labels in every shipped language, with lang and dir set', () => {
    const languages = shippedLanguages();
    expect(languages).toHaveLength(13);
    for (const language of languages) {
      const labels = verifyPageLabels(language);
      const { html } = page({ record: { ...record, locale: language } });
      expect(html, language).toContain(
        `<html lang="${language}" dir="${['ar', 'he'].includes(language) ? 'rtl' : 'ltr'}">`,
      );
      expect(html, language).toContain(labels.valid);
    }
    // The page declares the language its labels are written in: a zh-TW or pt-BR certificate
    // gets the shipped zh and pt labels (Simplified Chinese, European Portuguese), not a tag
    // that would make browsers and screen readers read them as another script or variety.
    for (const [locale, language] of [
      ['zh-TW', 'zh'],
      ['pt-BR', 'pt'],
      ['ar-EG', 'ar'],
    ] as const)
      expect(page({ record: { ...record, locale } }).html, locale).toContain(`<html lang="${language}"`);
  });

  it('shows a verification code left to right on a right-to-left page, found or typed', () => {
    const found = page({ record: { ...record, locale: 'ar' } }).html;
    expect(found).toContain(`<dd class="code"><bdi dir="ltr">${record.facts.code}</bdi></dd>`);
    const typed = page({ status: 'not-found', record: null, fallbackLocale: 'he', code: '1234 ABCD5' }).html;
    expect(typed).toContain('<dd class="code"><bdi dir="ltr">1234 ABCD5</bdi></dd>');
  });

  it("an unknown code shows no facts, in the visitor's language", () => {
    const { html, language } = page({
      status: 'not-found',
      record: null,
      fallbackLocale: 'de',
      code: 'NOPE1234',
    });
    expect(language).toBe('de');
    expect(html).toContain('data-status="not-found"');
    expect(html).toContain('Unbekannter Prüfcode');
    expect(html).toContain('>null</script>');
  });

  it("tells a revocation's reason publicly only where it says nothing about the holder's conduct; every shipped language has each label", () => {
    const told = Object.fromEntries(
      REVOCATION_REASONS.map((reason) => [reason, publicRevocationReason(reason)]),
    );
    expect(told).toEqual({
      'issued-in-error': 'issued-in-error',
      'academic-misconduct': 'withdrawn-by-issuer',
      'attempt-invalidated': 'withdrawn-by-issuer',
      'identity-fraud': 'withdrawn-by-issuer',
      'requested-by-holder': 'requested-by-holder',
      other: 'withdrawn-by-issuer',
    });
    for (const language of shippedLanguages()) {
      const labels = verifyPageLabels(language);
      for (const reason of PUBLIC_REVOCATION_REASONS) {
        const label = labels[`reason_${reason.replaceAll('-', '_')}` as keyof typeof labels];
        expect(label, `${language} ${reason}`).toMatch(/\S/);
        const { html } = page({
          status: 'revoked',
          record: {
            ...record,
            locale: language,
            revokedAt: '2026-12-01T10:00:00.000Z',
            revocationReason: reason,
          },
        });
        expect(html, `${language} ${reason}`).toContain(`<dd dir="auto">${escapeHtml(label)}</dd>`);
      }
    }
  });

  it('an erased record: no Name or Score row, a line that the details were withdrawn, and the script told not to compare', () => {
    const erased = {
      ...record,
      facts: { ...record.facts, name: '', score: '' },
      revokedAt: '2026-12-01T10:00:00.000Z',
      revocationReason: 'requested-by-holder' as const,
      pdfSha256: null,
      erased: true,
    };
    const labels = verifyPageLabels('en');
    const { html } = page({ status: 'revoked', record: erased });
    expect(html).toContain('data-status="revoked"');
    expect(html).toContain(`<dd dir="auto">${labels.reason_requested_by_holder.replace("'", '&#39;')}</dd>`);
    expect(html).toContain(
      '<p id="withdrawn">The holder&#39;s personal details have been withdrawn from this record.</p>',
    );
    expect(html).not.toContain(`<dt>${labels.name}</dt>`);
    expect(html).not.toContain(`<dt>${labels.score}</dt>`);
    expect(html).toContain(`<dt>${labels.course}</dt>`);
    expect(html).toContain(' data-withdrawn="Genuine signature for this certificate.');
    const data = /<script type="application\/json" id="record-facts">([\s\S]*?)<\/script>/.exec(html)?.[1];
    const { name: _name, score: _score, ...kept } = record.facts;
    expect(JSON.parse(data ?? 'null')).toEqual({ ...kept, withdrawn: true });

    // A record that was not erased keeps both rows and is compared as before.
    const revoked = page({
      status: 'revoked',
      record: { ...erased, facts: record.facts, erased: false },
    }).html;
    expect(revoked).toContain(`<dt>${labels.name}</dt>`);
    expect(revoked).toContain(`<dt>${labels.score}</dt>`);
    expect(revoked).not.toContain('id="withdrawn"');
  });

  it('says the details were withdrawn in every shipped language, in its own words', () => {
    const english = verifyPageLabels('en');
    for (const language of shippedLanguages()) {
      const labels = verifyPageLabels(language);
      const { html } = page({
        status: 'revoked',
        record: {
          ...record,
          locale: language,
          facts: { ...record.facts, name: '', score: '' },
          erased: true,
        },
      });
      expect(html, language).toContain(`<p id="withdrawn">${labels.withdrawn.replaceAll("'", '&#39;')}</p>`);
      if (language === 'en') continue;
      expect(labels.withdrawn, language).not.toBe(english.withdrawn);
      expect(labels.sig_withdrawn, language).not.toBe(english.sig_withdrawn);
    }
  });

  it('negotiates JSON only when asked for, and picks a shipped language', () => {
    for (const [accept, json] of [
      [undefined, false],
      ['*/*', false],
      ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', false],
      ['application/json', true],
      ['application/json, text/html;q=0.5', true],
      // A tie gets the page: a client naming both at the same weight is treated as a browser.
      ['text/html, application/json', false],
      ['application/json;q=0.8, text/html;q=0.8', false],
      // Media ranges count, the most specific one for each type (RFC 9110 12.5.1): a client that
      // takes any application type gets JSON, one that rules HTML out gets what else it accepts.
      ['application/*', true],
      ['text/html;q=0, */*', true],
      ['application/*;q=0.5, text/*;q=0.9', false],
      ['*/*, application/json;q=0', false],
      ['text/*, application/json;q=0.9', false],
      ['application/json;charset=utf-8', true],
    ] as const)
      expect(wantsJson(accept), String(accept)).toBe(json);
    expect(pickLanguage('xx-YY, fr-CH;q=0.9, en;q=0.8', 'en')).toBe('fr');
    expect(pickLanguage(undefined, 'en')).toBe('en');
    // By weight, not by position (RFC 9110 §12.5.4); q=0 is "not acceptable".
    expect(pickLanguage('fr;q=0, de;q=0.5', 'en')).toBe('de');
    expect(pickLanguage('de;q=0.1, fr;q=0.9', 'en')).toBe('fr');
    expect(pickLanguage('es;q=0.2, *;q=0.1, ar', 'en')).toBe('ar');
    expect(pickLanguage('de;Q=0.3, it;q=0.3', 'en')).toBe('de');
    expect(pickLanguage('fr;q=0', 'en')).toBe('en');
  });
});

describe('caching of a found certificate', () => {
  const now = new Date('2026-12-05T12:00:00.000Z');
  const cache = (status: 'valid' | 'revoked' | 'superseded' | 'expired', expiresAt: string | null) =>
    publicCacheControl({ status, expiresAt }, now);

  it('a minute, or until a valid certificate expires when that is sooner', () => {
    expect(cache('valid', null)).toBe('public, max-age=60');
    expect(cache('valid', '2027-12-05T12:00:00.000Z')).toBe('public, max-age=60');
    expect(cache('valid', '2026-12-05T12:01:00.000Z')).toBe('public, max-age=60');
    expect(cache('valid', '2026-12-05T12:00:59.999Z')).toBe('public, max-age=59');
    expect(cache('valid', '2026-12-05T12:00:00.900Z')).toBe('public, max-age=0');
    // An answer that is no longer going to change keeps the minute.
    expect(cache('expired', '2026-12-05T11:59:00.000Z')).toBe('public, max-age=60');
    expect(cache('revoked', '2026-12-05T12:00:10.000Z')).toBe('public, max-age=60');
  });
});
