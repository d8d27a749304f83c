import type { Sql } from '../../lib/db/client.ts';
import { DEMO_STUDENTS } from './demo-data.ts';

/**
 * Demo data for `npm start` and `npm run seed`: courses in several languages and scripts, and
 * passing and failing test attempts of the stand-in's demo students. Every row has a fixed id
 * or idempotency key, so seeding again inserts nothing twice and never touches rows the
 * pipeline has since changed.
 */

export interface DemoCourse {
  id: string;
  code: string;
  title: string;
  locale: string;
  passPercentage: number;
}

export interface DemoAttempt {
  /** Idempotency key (test_attempts.external_ref). */
  externalRef: string;
  studentId: string;
  courseId: string;
  score: number;
  maxScore: number;
  /** How long ago the attempt was completed, so lists have a stable newest-first order. */
  daysAgo: number;
}

export const DEMO_COURSES: DemoCourse[] = [
  {
    id: 'c0ffee00-0000-4000-8000-000000000001',
    code: 'DEMO-TS-101',
    title: 'Introduction to TypeScript',
    locale: 'en',
    passPercentage: 70,
  },
  {
    id: 'c0ffee00-0000-4000-8000-000000000002',
    code: 'DEMO-ALG-201',
    title: 'Álgebra lineal para ingeniería',
    locale: 'es',
    passPercentage: 60,
  },
  {
    id: 'c0ffee00-0000-4000-8000-000000000003',
    code: 'DEMO-PHYS-110',
    title: 'Основы квантовой физики',
    locale: 'ru',
    passPercentage: 65,
  },
  {
    id: 'c0ffee00-0000-4000-8000-000000000004',
    code: 'DEMO-CAL-120',
    title: '书法与汉字文化',
    locale: 'zh',
    passPercentage: 70,
  },
  {
    id: 'c0ffee00-0000-4000-8000-000000000005',
    code: 'DEMO-AST-130',
    title: 'مقدمة في علم الفلك',
    locale: 'ar',
    passPercentage: 50,
  },
  {
    id: 'c0ffee00-0000-4000-8000-000000000006',
    code: 'DEMO-WORLD-300',
    title: 'World Cultures · Культуры мира · 世界文化',
    locale: 'en',
    passPercentage: 75,
  },
];

function student(username: string): string {
  const found = DEMO_STUDENTS.find((candidate) => candidate.username === username);
  if (!found) throw new Error(`demo student ${username} is missing from localstack/embedded/demo-data.ts`);
  return found.id;
}

function course(code: string): string {
  const found = DEMO_COURSES.find((candidate) => candidate.code === code);
  if (!found) throw new Error(`demo course ${code} is not defined`);
  return found.id;
}

const RECENT_ATTEMPTS: DemoAttempt[] = [
  // Ada: two passes, and a failed try before passing the last one (a retake).
  {
    externalRef: 'demo:ada:ts-101:1',
    studentId: student('ada'),
    courseId: course('DEMO-TS-101'),
    score: 92,
    maxScore: 100,
    daysAgo: 20,
  },
  {
    externalRef: 'demo:ada:world-300:1',
    studentId: student('ada'),
    courseId: course('DEMO-WORLD-300'),
    score: 41,
    maxScore: 60,
    daysAgo: 9,
  },
  {
    externalRef: 'demo:ada:world-300:2',
    studentId: student('ada'),
    courseId: course('DEMO-WORLD-300'),
    score: 55,
    maxScore: 60,
    daysAgo: 2,
  },
  // José: passes Spanish algebra, fails TypeScript.
  {
    externalRef: 'demo:jose:alg-201:1',
    studentId: student('jose'),
    courseId: course('DEMO-ALG-201'),
    score: 18,
    maxScore: 20,
    daysAgo: 12,
  },
  {
    externalRef: 'demo:jose:ts-101:1',
    studentId: student('jose'),
    courseId: course('DEMO-TS-101'),
    score: 48,
    maxScore: 100,
    daysAgo: 5,
  },
  // Svetlana: passes physics exactly at the threshold.
  {
    externalRef: 'demo:svetlana:phys-110:1',
    studentId: student('svetlana'),
    courseId: course('DEMO-PHYS-110'),
    score: 65,
    maxScore: 100,
    daysAgo: 7,
  },
  // Mei: passes calligraphy and the mixed-script course.
  {
    externalRef: 'demo:mei:cal-120:1',
    studentId: student('mei'),
    courseId: course('DEMO-CAL-120'),
    score: 88.5,
    maxScore: 100,
    daysAgo: 15,
  },
  {
    externalRef: 'demo:mei:world-300:1',
    studentId: student('mei'),
    courseId: course('DEMO-WORLD-300'),
    score: 60,
    maxScore: 60,
    daysAgo: 3,
  },
  // Layla: passes astronomy, fails physics.
  {
    externalRef: 'demo:layla:ast-130:1',
    studentId: student('layla'),
    courseId: course('DEMO-AST-130'),
    score: 31,
    maxScore: 40,
    daysAgo: 4,
  },
  {
    externalRef: 'demo:layla:phys-110:1',
    studentId: student('layla'),
    courseId: course('DEMO-PHYS-110'),
    score: 12,
    maxScore: 100,
    daysAgo: 1,
  },
];

/**
 * Attempts older than this many days are the demo's "history": `npm start` sets SCAN_NOT_BEFORE
 * to this cutoff for the functions, so the scan leaves them to `npm run backfill` (the way a
 * deployment treats attempts imported from before it went live), and the backfill's dry run has
 * something to count on the demo data.
 */
export const DEMO_HISTORY_DAYS = 365;

// Passes from two earlier cohorts, before the service existed: issued only by a backfill.
const HISTORY: [username: string, courseCode: string, score: number, maxScore: number, daysAgo: number][] = [
  ['ada', 'DEMO-ALG-201', 17, 20, 820],
  ['jose', 'DEMO-PHYS-110', 81, 100, 790],
  ['svetlana', 'DEMO-ALG-201', 15, 20, 760],
  ['mei', 'DEMO-TS-101', 77, 100, 540],
  ['layla', 'DEMO-TS-101', 95, 100, 530],
  // A failed attempt from then: the backfill must not count it.
  ['layla', 'DEMO-ALG-201', 6, 20, 800],
];

export const DEMO_ATTEMPTS: DemoAttempt[] = [
  ...RECENT_ATTEMPTS,
  ...HISTORY.map(([username, courseCode, score, maxScore, daysAgo]) => ({
    externalRef: `demo:history:${username}:${courseCode.toLowerCase()}`,
    studentId: student(username),
    courseId: course(courseCode),
    score,
    maxScore,
    daysAgo,
  })),
];

/** Whether an attempt passes its course's threshold (the same rule the ingestion route applies). */
export function attemptPasses(attempt: DemoAttempt): boolean {
  const demoCourse = DEMO_COURSES.find((candidate) => candidate.id === attempt.courseId);
  if (!demoCourse) throw new Error(`attempt ${attempt.externalRef} names an unknown course`);
  return (attempt.score / attempt.maxScore) * 100 >= demoCourse.passPercentage;
}

export interface SeedResult {
  coursesInserted: number;
  attemptsInserted: number;
  courses: number;
  attempts: number;
  passing: number;
  failing: number;
  /** Passing attempts older than DEMO_HISTORY_DAYS (left to the backfill under npm start). */
  pastPasses: number;
}

/** Inserts the demo courses and attempts that are not there yet. Safe to run any number of times. */
export async function seedDemoData(sql: Sql): Promise<SeedResult> {
  return await sql.begin(async (tx) => {
    let coursesInserted = 0;
    for (const demoCourse of DEMO_COURSES) {
      const rows = await tx`
        INSERT INTO courses (id, code, title, locale, pass_percentage)
        VALUES (${demoCourse.id}, ${demoCourse.code}, ${demoCourse.title}, ${demoCourse.locale},
                ${demoCourse.passPercentage})
        ON CONFLICT DO NOTHING
        RETURNING id`;
      coursesInserted += rows.length;
    }
    let attemptsInserted = 0;
    for (const attempt of DEMO_ATTEMPTS) {
      const rows = await tx`
        INSERT INTO test_attempts (student_id, course_id, score, max_score, passed, completed_at, external_ref)
        VALUES (${attempt.studentId}, ${attempt.courseId}, ${attempt.score}, ${attempt.maxScore},
                ${attemptPasses(attempt)}, now() - make_interval(days => ${attempt.daysAgo}),
                ${attempt.externalRef})
        ON CONFLICT (external_ref) DO NOTHING
        RETURNING id`;
      attemptsInserted += rows.length;
    }
    const passing = DEMO_ATTEMPTS.filter(attemptPasses).length;
    const pastPasses = DEMO_ATTEMPTS.filter(
      (attempt) => attemptPasses(attempt) && attempt.daysAgo > DEMO_HISTORY_DAYS,
    ).length;
    return {
      coursesInserted,
      attemptsInserted,
      courses: DEMO_COURSES.length,
      attempts: DEMO_ATTEMPTS.length,
      passing,
      failing: DEMO_ATTEMPTS.length - passing,
      pastPasses,
    };
  });
}
