import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  normalizeDisplayText,
  printableContent,
  TEXT_LIMITS,
  validateDisplayName,
} from '../../lib/certificates/text.ts';
import { ValidationError } from '../../lib/errors.ts';
import { MAX_ASSET_BYTES, validateAssetRefs } from '../../lib/render/assets.ts';
import { pageHtml } from '../../lib/render/fill.ts';
import { codePointsOf, fontStacks, scriptsOf, selectFontFaces } from '../../lib/render/fonts.ts';
import { formatIssueDate, formatPercent, resolveLocale } from '../../lib/render/i18n.ts';
import { COURSE_FIT, estimateWidthEm, fitFontSize, NAME_FIT } from '../../lib/render/layout.ts';
import { templatesDir } from '../../lib/render/paths.ts';
import { engine, fillTemplate, validateTemplateSource } from '../../lib/render/template-engine.ts';

describe('display names', () => {
  it('normalises to NFC, strips bidi controls, collapses whitespace', () => {
    expect(normalizeDisplayText('  Zoe\u0308\u202E  evil\u202C\n\tX\u2066y\u2069 ')).toBe('Zoë evil Xy');
  });

  it('is its own normal form: a character removed between a letter and its mark leaves them composed', () => {
    for (const [input, expected] of [
      ['Jose\u200B\u0301 Ada', 'Jos\u00E9 Ada'],
      ['Jose\u202E\u0301', 'Jos\u00E9'],
      ['Zoe\u00AD\u0308', 'Zo\u00EB'],
      ['\u1100\u200B\u1161', '\uAC00'],
    ]) {
      const once = normalizeDisplayText(input ?? '');
      expect(once, JSON.stringify(input)).toBe(expected);
      expect(normalizeDisplayText(once)).toBe(once);
      expect(once.normalize('NFC')).toBe(once);
    }
  });

  it('reads every line break as a space, as it does a newline', () => {
    for (const breaking of ['\n', '\r\n', '\u2028', '\u2029', '\u0085'])
      expect(normalizeDisplayText(`Ada${breaking}Lovelace`), JSON.stringify(breaking)).toBe('Ada Lovelace');
  });

  it('drops a lone surrogate (half an emoji) and keeps whole ones', () => {
    expect(normalizeDisplayText('Ada\uD800 Lovelace \uDE00😀')).toBe('Ada Lovelace 😀');
  });

  it('keeps ZWJ (emoji sequences) and ZWNJ (Persian, Indic)', () => {
    expect(normalizeDisplayText('👩\u200D💻 می\u200Cخواهم')).toBe('👩\u200D💻 می\u200Cخواهم');
  });

  it(`accepts ${TEXT_LIMITS.displayName} code points and refuses one more, naming the field`, () => {
    expect(validateDisplayName('😀'.repeat(TEXT_LIMITS.displayName))).toHaveLength(
      TEXT_LIMITS.displayName * 2,
    );
    const error = (() => {
      try {
        validateDisplayName('a'.repeat(TEXT_LIMITS.displayName + 1));
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('student_name');
  });

  it('printableContent gives the snapshot exactly as printed', () => {
    const printed = printableContent({
      studentName: ' Ada\u202E ',
      courseName: 'C\u0327a',
      issuerName: 'X',
      score: 1,
    });
    expect(printed).toEqual({ studentName: 'Ada', courseName: 'Ça', issuerName: 'X', score: 1 });
  });

  it('refuses empty and non-string names', () => {
    expect(() => validateDisplayName('\u202E\u202C  ')).toThrow(ValidationError);
    expect(() => validateDisplayName(42)).toThrow(ValidationError);
  });

  it('removes invisible format characters, and refuses a name that would print as nothing', () => {
    // Zero-width space, word joiner, soft hyphen, Mongolian vowel separator, invisible times.
    expect(validateDisplayName('Ad\u200Ba\u2060 Love\u00ADlace\u180E\u2062')).toBe('Ada Lovelace');
    for (const blank of [
      '\u200B\u200B',
      '\u2060\u2061',
      '\u00AD',
      '\u3164\u3164',
      '\u2800',
      '\u{E0041}\u{E0042}',
    ]) {
      expect(() => validateDisplayName(blank), JSON.stringify(blank)).toThrow(
        /no visible character|must not be empty/,
      );
    }
    // What shaping and emoji need stays: ZWJ, ZWNJ, a subdivision flag's tag sequence.
    const scotland = '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}';
    expect(validateDisplayName(`Ewan ${scotland}`)).toBe(`Ewan ${scotland}`);
    expect(validateDisplayName('क्\u200Dष')).toBe('क्\u200Dष');
    expect(validateDisplayName('می\u200Cخواهم')).toBe('می\u200Cخواهم');
  });

  it('keeps tag characters only as a subdivision flag: text spelled in tags (invisible) is removed', () => {
    const tags = (text: string) =>
      [...text].map((c) => String.fromCodePoint(0xe0000 + (c.codePointAt(0) ?? 0))).join('');
    // "Ada" + "HIRE ME" in tag characters + " Lovelace" prints exactly as "Ada Lovelace".
    expect(validateDisplayName(`Ada${tags('HIRE ME')} Lovelace`)).toBe('Ada Lovelace');
    // A tag sequence after the black flag that is no subdivision code, or not ended by the cancel tag.
    expect(validateDisplayName(`Ada \u{1F3F4}${tags('HIRE ME')}\u{E007F}`)).toBe('Ada \u{1F3F4}');
    expect(validateDisplayName(`Ada \u{1F3F4}${tags('gbsct')}`)).toBe('Ada \u{1F3F4}');
    expect(validateDisplayName(`Ada ${tags('gbsct')}\u{E007F}`)).toBe('Ada');
    const wales = `\u{1F3F4}${tags('gbwls')}\u{E007F}`;
    expect(validateDisplayName(`Gareth ${wales}`)).toBe(`Gareth ${wales}`);
  });

  it('refuses more combining marks on one character than any script stacks, keeping real ones', () => {
    expect(() => validateDisplayName(`A${'\u0301'.repeat(190)}da`)).toThrow(/combining marks/);
    expect(() => validateDisplayName(`Ada${'\u0336\u0337\u0338'.repeat(3)}`)).toThrow(/combining marks/);
    // Split by a joiner or emoji tag characters, which print nothing: the same stack.
    expect(() => validateDisplayName(`Z${'\u0301\u0302\u0303\u200D'.repeat(8)}algo`)).toThrow(
      /combining marks/,
    );
    expect(() => validateDisplayName(`Z${'\u0301\u0302\u0303\u{E0061}'.repeat(8)}algo`)).toThrow(
      /combining marks/,
    );
    // A joiner between a few marks, as some scripts write, is still a name.
    expect(validateDisplayName('क्\u200Dष')).toBe('क्\u200Dष');
    for (const name of ['Nguyễn Thị Ánh', 'Zoë Ångström', 'בְּרֵאשִׁית', 'हिन्दी', 'བོད་སྐད']) {
      expect(validateDisplayName(name)).toBe(name.normalize('NFC'));
    }
  });
});

describe('fitting text', () => {
  it('short names get the full size, longer ones shrink, very long ones get two lines at a floor', () => {
    const short = fitFontSize('Ada Lovelace', NAME_FIT);
    const medium = fitFontSize('Maximilian Alexander von Habsburg-Lothringen', NAME_FIT);
    const long = fitFontSize('x'.repeat(200), NAME_FIT);
    expect(short).toBe(NAME_FIT.maxPt);
    expect(medium).toBeLessThan(short);
    expect(long).toBeLessThan(medium);
    expect(long).toBeGreaterThanOrEqual(NAME_FIT.minPt);
  });

  it('counts CJK and emoji as wider than Latin', () => {
    expect(estimateWidthEm('王小明')).toBeGreaterThan(estimateWidthEm('abc'));
    expect(fitFontSize('王'.repeat(60), COURSE_FIT)).toBeLessThan(fitFontSize('a'.repeat(60), COURSE_FIT));
  });
});

describe('font subsets', () => {
  const files = (text: string, locale = 'en') =>
    selectFontFaces(text, fontStacks(locale)).faces.map((face) => face.file.split('/').pop() ?? '');

  it('a Latin page embeds only Latin subsets of the two text families', () => {
    const chosen = files('Certificate of Achievement Ada Lovelace 97 / 100 (97%) March 14, 2026 –');
    expect(chosen.length).toBeGreaterThan(0);
    for (const file of chosen)
      expect(file).toMatch(/^noto-(serif|sans)-latin(-ext)?-\d+-(normal|italic)\.woff2$/);
  });

  it('Chinese uses the SC subsets (JP first for Japanese), Hangul falls through to KR, emoji the colour font', () => {
    expect(files('王小明').some((file) => file.startsWith('noto-sans-sc-'))).toBe(true);
    expect(files('王小明', 'ja').some((file) => file.startsWith('noto-sans-jp-'))).toBe(true);
    expect(files('국').some((file) => file.startsWith('noto-sans-kr-'))).toBe(true);
    expect(files('🎓').filter((file) => /^\d+\.woff2$/.test(file))).toHaveLength(1);
    // A ZWJ sequence and a flag each come from one subset that holds the whole cluster.
    expect(files('👩🏽\u200D💻 🇫🇷').filter((file) => /^\d+\.woff2$/.test(file)).length).toBeLessThanOrEqual(
      2,
    );
    expect(files('محمد').some((file) => file.startsWith('noto-sans-arabic-arabic'))).toBe(true);
    expect(files('דוד').some((file) => file.startsWith('noto-sans-hebrew-hebrew'))).toBe(true);
  });

  it('reports characters no shipped font covers', () => {
    expect(selectFontFaces('\u{1D11E}', fontStacks('en')).missing).toEqual([0x1d11e]);
  });

  it('names the scripts of missing characters, not the characters: a name in Yi is not spelt out', () => {
    const missing = selectFontFaces('ꆈꌠꁱꂷ ᱥᱤᱫᱳ \u{1D11E}', fontStacks('en')).missing;
    expect(missing.length).toBeGreaterThan(8);
    expect(scriptsOf(missing)).toEqual(['Yi', 'Ol_Chiki', 'other']);
  });
});

describe('templates', () => {
  const head = '<html><head></head><body>';
  const required = '{{ student_name }} {{ course_name }} {{ verify_url }}';
  it('accepts known fields and nested label/asset keys', () => {
    expect(() =>
      validateTemplateSource(`${head}${required} {{ labels.title }} {% if assets.logo %}x{% endif %}`),
    ).not.toThrow();
    // Any one way to verify will do: the address, the code, or the QR code in either form.
    for (const verify of ['verify_url', 'verification_code', 'qr_path', 'qr_code'])
      expect(() =>
        validateTemplateSource(`${head}{{ student_name }} {{ course_name }} {{ ${verify} }}`),
      ).not.toThrow();
  });
  it('the built-in design meets the rules a saved template must', () => {
    const dir = join(templatesDir(), 'default');
    const html = readFileSync(join(dir, 'template.liquid'), 'utf8');
    expect(() => validateTemplateSource(html, readFileSync(join(dir, 'style.css'), 'utf8'))).not.toThrow();
    expect(() => validateTemplateSource(html.replaceAll('course_name', 'score'))).toThrow(/course_name/);
  });
  it.each([
    ['no name', `${head}{{ course_name }} {{ verify_url }}`, /must print student_name/],
    ['no course', `${head}{{ student_name }} {{ qr_path }}`, /must print course_name/],
    [
      'no way to verify',
      `${head}{{ student_name }} {{ course_name }} {{ certificate_id }}`,
      /a way to verify the certificate: one of verify_url, verification_code, qr_path, qr_code/,
    ],
  ])('refuses a template that does not print what every certificate must: %s', (_label, source, message) => {
    expect(() => validateTemplateSource(source)).toThrow(message);
  });
  it.each([
    ['unknown field', `${head}{{ student_email }}`, /unknown field "student_email"/],
    ['unknown label', `${head}{{ labels.nope }}`, /labels.nope/],
    ['unknown filter', `${head}{{ student_name | evil }}`, /does not parse/],
    ['include', `${head}{% include 'x' %}`, /cannot include/],
    ['no head', '{{ student_name }}', /<head>/],
  ])('refuses %s', (_label, source, message) => {
    expect(() => validateTemplateSource(source)).toThrow(message);
  });

  it('the name and the course must end up as text of the page, not just be used', async () => {
    const { validateTemplate } = await import('../../lib/render/template-store.ts');
    const page = (head: string, body: string) =>
      `<html><head>${head}</head><body>${body}{{ verify_url }}</body></html>`;
    for (const [label, html] of [
      ['name only in <title>', page('<title>{{ student_name }}</title>', '<p>{{ course_name }}</p>')],
      [
        'name only in a condition',
        page('', '{% if student_name %}<p>Congratulations</p>{% endif %}{{ course_name }}'),
      ],
      ['name only in an attribute', page('', '<p data-n="{{ student_name }}">{{ course_name }}</p>')],
      ['course cut short', page('', '<p>{{ student_name }}</p><p>{{ course_name | truncate: 12 }}</p>')],
      // Parsed but never printed.
      [
        'name only in a <template>',
        page('', '<template><p>{{ student_name }}</p></template>{{ course_name }}'),
      ],
      ['name only in a comment', page('', '<!-- > {{ student_name }} {{ course_name }} -->')],
    ] as const)
      await expect(validateTemplate({ name: label, html }), label).rejects.toThrow(
        /must print (student_name|course_name) as text of the page/,
      );
    // In capitals, or a letter to a span: still the name.
    await expect(
      validateTemplate({
        name: 'Capitals',
        html: page(
          '',
          '<h1>{{ student_name | upcase }}</h1>{% assign letters = course_name | split: "" %}<p>{% for l in letters %}<span>{{ l }}</span>{% endfor %}</p>',
        ),
      }),
    ).resolves.toBeUndefined();
  });

  it('a runaway loop in a saved template is refused at the trial fill', async () => {
    const { validateTemplate } = await import('../../lib/render/template-store.ts');
    const html = `${head}{% for i in (1..100000000) %}{{ student_name }}{% endfor %}{{ course_name }} {{ verify_url }}</body></html>`;
    await expect(validateTemplate({ name: 'Loop', html })).rejects.toThrow(ValidationError);
  });

  it("Liquid's date filter prints the UTC day whatever the process's time zone", async () => {
    const zone = process.env.TZ;
    const template = '{{ issued_on_iso | date: "%d %B %Y" }} | {{ expires_on_iso | date: "%Y-%m-%d" }}';
    try {
      for (const tz of ['America/Los_Angeles', 'Pacific/Kiritimati', 'UTC']) {
        // Node reads TZ again when it is set.
        process.env.TZ = tz;
        expect(new Date('2026-01-15T00:00:00Z').getTimezoneOffset() === 0, tz).toBe(tz === 'UTC');
        expect(
          await fillTemplate(template, { issued_on_iso: '2026-01-15', expires_on_iso: '2027-01-01' }),
          tz,
        ).toBe('15 January 2026 | 2027-01-01');
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('fills like parseAndRender, parsing each distinct source once', async () => {
    const parse = vi.spyOn(engine, 'parse');
    try {
      // A source no other test fills, so the cache cannot already hold it.
      const html = `${head}<p>{{ student_name }} – {{ score }}</p><!-- ${Math.random()} --></body></html>`;
      const other = html.replace('<p>', '<p class="x">');
      const context = { student_name: 'Ada <Lovelace>', score: '87' };
      const expected = await engine.parseAndRender(html, context);
      parse.mockClear();
      expect(await fillTemplate(html, context)).toBe(expected);
      expect(await fillTemplate(html, { ...context, student_name: 'Grace' })).toContain('Grace –');
      expect(parse).toHaveBeenCalledTimes(1);
      expect(await fillTemplate(other, context)).toBe(expected.replace('<p>', '<p class="x">'));
      expect(parse).toHaveBeenCalledTimes(2);
      // Output escaping and strict variables hold on the cached form too.
      expect(await fillTemplate(html, context)).toContain('Ada &lt;Lovelace&gt;');
      await expect(fillTemplate(html, { score: '1' })).rejects.toThrow(/student_name/);
    } finally {
      parse.mockRestore();
    }
  });

  it('template CSS cannot close its <style> element and add markup to the page', () => {
    // A "</style>" in the CSS (in a content: string, say) would end our style element early and
    // turn the rest of the CSS into page markup, here a heading saying "Valid".
    const html = pageHtml(
      '<html><head></head><body><p>x</p></body></html>',
      '',
      'p::after { content: "</STYLE><h1 id=injected>Valid</h1>"; }',
    );
    expect(html).not.toMatch(/<\/style><h1/i);
    // Our two style elements, the fonts' and the template's, are the only ones closed.
    expect(html.match(/<\/style>/gi)?.length).toBe(2);
  });

  it('asset references must be templates/, s3://…/template-assets/ or image data URIs', () => {
    expect(
      validateAssetRefs({
        logo: 'templates/default/assets/logo.svg',
        seal: 's3://bucket/template-assets/a/seal.png',
      }),
    ).toEqual({
      logo: 'templates/default/assets/logo.svg',
      seal: 's3://bucket/template-assets/a/seal.png',
    });
    // The one folder of the bucket the functions may read: anything else could never print.
    expect(() => validateAssetRefs({ seal: 's3://bucket/a/seal.png' })).toThrow(ValidationError);
    expect(() => validateAssetRefs({ seal: 's3://bucket/template-assets-old/seal.png' })).toThrow(
      ValidationError,
    );
    expect(() => validateAssetRefs({ logo: 'templates/../../etc/passwd' })).toThrow(ValidationError);
    expect(() => validateAssetRefs({ logo: 'https://evil.example/x.png' })).toThrow(ValidationError);
    expect(() => validateAssetRefs({ favicon: 'templates/x.png' })).toThrow(ValidationError);
    // A data URI is inlined into every page as any asset is: held to the same size.
    const uri = (bytes: number) => `data:image/png;base64,${Buffer.alloc(bytes).toString('base64')}`;
    expect(validateAssetRefs({ logo: uri(MAX_ASSET_BYTES) })).toEqual({ logo: uri(MAX_ASSET_BYTES) });
    expect(() => validateAssetRefs({ logo: uri(MAX_ASSET_BYTES + 1) })).toThrow(
      `asset "logo" is ${MAX_ASSET_BYTES + 1} bytes, more than ${MAX_ASSET_BYTES}`,
    );
  });
});

describe('locales', () => {
  it('labels follow the language, formats follow the full locale, Arabic and Hebrew are RTL', () => {
    expect(resolveLocale('de-CH')).toMatchObject({ language: 'de', locale: 'de-CH', dir: 'ltr' });
    expect(resolveLocale('ar').dir).toBe('rtl');
    expect(resolveLocale('he').dir).toBe('rtl');
    expect(resolveLocale('sw')).toMatchObject({ language: 'en', locale: 'en' });
    expect(() => resolveLocale('not a locale!')).toThrow(ValidationError);
    expect(formatIssueDate('2026-03-14', 'de')).toBe('14. März 2026');
    expect(formatIssueDate('2026-03-14', 'fr')).toBe('14 mars 2026');
    expect(formatPercent(87.5, 'de')).toBe('87,5\u00A0%');
  });
});

describe('code points of a page', () => {
  it('every code point once, in first-seen order, surrogate pairs whole, numeric entities decoded', () => {
    const text = 'ab<p>Zoë 龍 😀 \ud800 ba&#x41;&#1046;&amp; محمد 😀</p>';
    // The straightforward definition the fast path must agree with.
    const expected = new Set<number>();
    for (const char of text) expected.add(char.codePointAt(0) ?? 0);
    expected.add(0x41).add(1046);
    expect([...codePointsOf(text)]).toEqual([...expected]);
    expect(codePointsOf(text).has(0x1f600)).toBe(true);
    expect(codePointsOf(text).has(0xd83d)).toBe(false); // half of 😀 is not a character of its own
    expect(codePointsOf(text).has(0xd800)).toBe(true); // a lone surrogate stays what it is
    expect([...codePointsOf('')]).toEqual([]);
  });
});
