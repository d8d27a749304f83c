import { afterAll, describe, expect, it } from 'vitest';
import { formatIssueDate, shippedLanguages } from '../../lib/render/i18n.ts';
import { pdfInfo } from '../support/pdf.ts';
import { pdfFontNames, pdfTextLayer } from '../support/pdf-text-layer.ts';
import { content, createTestRenderer } from './render-fixtures.ts';

const { printer, renderer } = createTestRenderer();
afterAll(async () => {
  await renderer.close();
});

/**
 * Every font in the PDF must be one we ship (Noto, or Type3 for colour emoji): this machine has
 * DejaVu installed, Lambda has no fonts at all, so a system-font fallback here would be a blank
 * in production.
 */
async function expectOnlyShippedFonts(pdf: Uint8Array): Promise<void> {
  const names = await pdfFontNames(pdf);
  // A PDF whose fonts were not found at all would otherwise pass.
  expect(names.length).toBeGreaterThan(0);
  for (const name of names) expect(name).toMatch(/^(Noto|Type3$)/);
}

/**
 * A line of text as the text-layer reader gives it back from a page of that direction. It puts
 * each right-to-left run back into reading order, but leaves digits where they are drawn (that
 * takes the whole bidi algorithm: "14 مارس 2026" reads back as "2026 مارس 14"). In a right-to-left
 * line, then, words that are each a run of one direction come back last word first. The dates of
 * the right-to-left locales are such words (day, month name, year): the test asserts that first,
 * so a locale whose date format changes fails here rather than being compared wrongly.
 */
function asRead(text: string, dir: 'ltr' | 'rtl'): string {
  if (dir === 'ltr') return text;
  const words = text.split(' ');
  for (const word of words) expect(word).toMatch(/^(\p{N}+|[\p{Script=Arabic}\p{Script=Hebrew}]+)$/u);
  return words.reverse().join(' ');
}

/** A name and a course title written in each shipped language's own script. */
const SAMPLES: Record<string, { name: string; course: string }> = {
  en: { name: 'Ada Lovelace', course: 'Introduction to Analytical Engines' },
  de: { name: 'Jürgen Groß-Öztürk', course: 'Grundlagen der Datenübertragung' },
  fr: { name: 'Élodie Dupré-Lefèvre', course: 'Initiation à la programmation défensive' },
  es: { name: 'José Núñez Peña', course: 'Introducción a la programación' },
  it: { name: 'Niccolò Bianchi', course: 'Fondamenti di informatica' },
  pt: { name: 'João Conceição', course: 'Introdução à programação' },
  ru: { name: 'Анна Смирнова', course: 'Машинное обучение' },
  zh: { name: '王小明', course: '机器学习导论' },
  ja: { name: '山田花子', course: 'データベース入門' },
  ko: { name: '김민준', course: '데이터베이스 입문' },
  ar: { name: 'محمد عبد الله', course: 'مقدمة في التعلم الآلي' },
  he: { name: 'דוד כהן', course: 'מבוא למדעי המחשב' },
  hi: { name: 'अनन्या शर्मा', course: 'मशीन लर्निंग का परिचय' },
};

describe('every shipped locale', () => {
  it('ships at least en, de, fr, es, ru, zh, ar, each with a sample here', () => {
    const shipped = shippedLanguages();
    for (const language of ['en', 'de', 'fr', 'es', 'ru', 'zh', 'ar']) expect(shipped).toContain(language);
    for (const language of shipped) expect(SAMPLES[language], `sample for ${language}`).toBeDefined();
  });

  for (const language of shippedLanguages()) {
    it(`${language}: prints the name, course, labels and date of that locale on one page`, async () => {
      const sample = SAMPLES[language] ?? { name: 'x', course: 'y' };
      const { pdf } = await renderer.render(
        content({ locale: language, studentName: sample.name, courseName: sample.course }),
      );
      const text = await pdfTextLayer(pdf);
      const lines = text.split('\n');
      expect(lines).toContain(sample.name);
      expect(lines).toContain(sample.course);
      const locale = (await import(`../../templates/locales/${language}.json`, { with: { type: 'json' } }))
        .default as { dir: 'ltr' | 'rtl'; labels: Record<string, string> };
      expect(lines).toContain(locale.labels.title);
      expect(lines).toContain(asRead(formatIssueDate('2026-03-14', language), locale.dir));
      const { pages, info } = await pdfInfo(pdf);
      expect(pages).toBe(1);
      expect(info.Language).toBe(language);
      expect(info.Author).toBe('Northbridge Academy');
      expect(printer.blockedRequests).toEqual([]);
      await expectOnlyShippedFonts(pdf);
    });
  }
});

describe('every script in names and course titles', () => {
  const cases: Array<[string, string, string]> = [
    ['Latin with diacritics', 'Zoë Ångström-Nørgaard Čapek Łukasz', 'Façade Design: Æsthetics & Œuvre'],
    ['Cyrillic', 'Ёлкин Григорий Щукин', 'Основы программирования'],
    ['Greek', 'Αλέξανδρος Παπαδόπουλος', 'Εισαγωγή στην Πληροφορική'],
    ['Chinese', '欧阳娜娜', '数据结构与算法'],
    ['Japanese', 'さとう ゆうき カタカナ', '日本語の文章構成'],
    ['Korean', '이서연', '한국어 문법 기초'],
    ['Arabic', 'فاطمة الزهراء', 'أساسيات البرمجة'],
    ['Hebrew', 'שרה לוי', 'יסודות התכנות'],
    ['Devanagari', 'प्रिया कृष्णमूर्ति', 'कंप्यूटर विज्ञान'],
    ['emoji', 'Sam 🎓✨ Lee 👩🏽‍💻', 'Fun with Flags 🇫🇷🇯🇵'],
    [
      'mixed',
      'Анна Смирнова · 王小明 · محمد عبد الله 🎓',
      '机器学习导论 — مقدمة في التعلم الآلي — Машинное обучение',
    ],
  ];
  for (const [script, name, course] of cases) {
    it(`${script}: name and course come out of the PDF exactly`, async () => {
      const { pdf } = await renderer.render(content({ studentName: name, courseName: course }));
      const lines = (await pdfTextLayer(pdf)).split('\n');
      expect(lines).toContain(name);
      expect(lines).toContain(course);
      expect((await pdfInfo(pdf)).pages).toBe(1);
      expect(printer.blockedRequests).toEqual([]);
      await expectOnlyShippedFonts(pdf);
    });
  }
});
