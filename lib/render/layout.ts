/**
 * Font sizes for variable-length text. The page runs without JavaScript, so the text cannot be
 * measured in the browser: we estimate its width from the characters (CJK and emoji are about
 * one em wide, Latin lower case about half) and pick the largest size at which it fits on one
 * line, else on two, down to a floor. The template lets longer text wrap (overflow-wrap:
 * anywhere), so an underestimate costs a line, never a clipped name.
 */

function charWidthEm(char: string): number {
  if (
    /\p{Extended_Pictographic}|\p{Script=Han}|\p{Script=Hiragana}|\p{Script=Katakana}|\p{Script=Hangul}/u.test(
      char,
    )
  )
    return 1.05;
  if (/[\uFF00-\uFFEF\u3000-\u303F]/u.test(char)) return 1;
  if (char === ' ') return 0.28;
  if (/\p{M}|\p{Cf}/u.test(char) || char === '\uFE0F') return 0;
  if (/\p{Script=Arabic}|\p{Script=Hebrew}/u.test(char)) return 0.5;
  if (/\p{Script=Devanagari}/u.test(char)) return 0.6;
  if (/\p{Lu}/u.test(char)) return 0.72;
  if (/[ijlrtf.,'’:;!|]/u.test(char)) return 0.34;
  return 0.56;
}

export function estimateWidthEm(text: string): number {
  let total = 0;
  for (const char of text) total += charWidthEm(char);
  return total;
}

export interface FitOptions {
  /** Usable line width in points. */
  widthPt: number;
  maxPt: number;
  /** Below this a single line is not used: the text gets two lines instead. */
  singleLineMinPt: number;
  minPt: number;
}

/** Largest font size (pt, 0.5 steps) at which the text fits one line, else two. */
export function fitFontSize(text: string, options: FitOptions): number {
  const width = Math.max(estimateWidthEm(text), 1);
  const oneLine = options.widthPt / width;
  if (oneLine >= options.singleLineMinPt) return roundDown(Math.min(options.maxPt, oneLine));
  // Words do not break at exact line ends: keep 12% slack on two lines.
  const twoLines = (2 * options.widthPt * 0.88) / width;
  return roundDown(Math.max(options.minPt, Math.min(options.singleLineMinPt, twoLines)));
}

function roundDown(value: number): number {
  return Math.floor(value * 2) / 2;
}

/** Name line: 237 mm wide box in the default template. */
export const NAME_FIT: FitOptions = { widthPt: 640, maxPt: 42, singleLineMinPt: 24, minPt: 11 };
/** Bold display serif runs ~15% wider than the estimate: a narrower budget keeps it on one line. */
export const TITLE_FIT: FitOptions = { widthPt: 520, maxPt: 34, singleLineMinPt: 20, minPt: 16 };
export const COURSE_FIT: FitOptions = { widthPt: 620, maxPt: 21, singleLineMinPt: 15, minPt: 9 };
