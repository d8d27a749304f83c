import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pickLanguage, wantsJson } from '../../lib/http/verification.ts';
import { shippedLanguages } from '../../lib/render/i18n.ts';
import { renderVerifyPage, type VerifyPageInput, verifyPageLabels } from '../../lib/render/verify-page.ts';

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

  it('negotiates JSON only when asked for, and picks a shipped language', () => {
    expect(wantsJson(undefined)).toBe(false);
    expect(wantsJson('*/*')).toBe(false);
    expect(wantsJson('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe(false);
    expect(wantsJson('application/json')).toBe(true);
    expect(wantsJson('application/json, text/html;q=0.5')).toBe(true);
    expect(pickLanguage('xx-YY, fr-CH;q=0.9, en;q=0.8', 'en')).toBe('fr');
    expect(pickLanguage(undefined, 'en')).toBe('en');
  });
});
