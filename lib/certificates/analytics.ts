import type { Sql } from '../db/client.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { FIRST_DAY } from '../validation.ts';
import type { Clock, Log } from './ports.ts';
import { courseExists } from './read-model.ts';

/**
 * Analytics of certificates: download links handed out, verification views and credential
 * exports, counted per day and kind for staff. Privacy by construction: what is stored is a
 * count per certificate, its course, UTC day, kind and coarse referrer kind. Never an IP address,
 * a user agent, who asked, the referrer URL (a URL can carry a search query or a profile), or
 * even the time of day.
 */

export const EVENT_KINDS = ['download-link', 'verification-view', 'credential-export'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export const REFERRER_KINDS = ['none', 'same-site', 'linkedin', 'search', 'other'] as const;
export type ReferrerKind = (typeof REFERRER_KINDS)[number];

/** Which certificate an event is about: the API knows its id, the public page its code. */
export type CertificateRef = { certificateId: string } | { verificationCode: string };

export interface CertificateEvent {
  kind: EventKind;
  certificate: CertificateRef;
  referrerKind: ReferrerKind;
  occurredAt: Date;
}

/**
 * Port: counts one event on its certificate's counter of that UTC day, kind and referrer kind
 * (the adapter finds the certificate's course itself). May be slow or fail; recordEvent() below
 * makes sure neither reaches the request.
 */
export type EventStore = (event: CertificateEvent) => Promise<void>;

/** Port: EMF counters for the same events. */
export interface AnalyticsMetrics {
  eventRecorded(kind: EventKind, referrerKind: ReferrerKind): void;
}

export interface RecordingDeps {
  store: EventStore;
  log: Log;
  metrics?: AnalyticsMetrics;
  /** Longest the request waits for the insert; default RECORD_WAIT_MS. */
  waitMs?: number;
}

/**
 * Why a short bounded wait rather than fire-and-forget: on Lambda the container is frozen as
 * soon as the handler returns, so an insert left running would stall until the next invocation
 * thaws it (or be lost with the container). A healthy insert on the already-open pool takes a
 * few milliseconds and so completes inside the invocation; a slow or unreachable database
 * costs the request at most this bound and never an error (the insert keeps going in the
 * background, and its failure is only logged).
 */
export const RECORD_WAIT_MS = 50;

/**
 * Records an event without ever failing the request it describes: the metric is written first
 * (it needs no database), the store's errors, synchronous or not, are logged and swallowed, and
 * the wait is bounded. Resolves, never rejects.
 */
export async function recordEvent(deps: RecordingDeps, event: CertificateEvent): Promise<void> {
  try {
    deps.metrics?.eventRecorded(event.kind, event.referrerKind);
  } catch (error) {
    deps.log.warn('Analytics metric not written', { kind: event.kind, error: describe(error) });
  }
  let stored: Promise<void>;
  try {
    stored = deps.store(event);
  } catch (error) {
    stored = Promise.reject(error);
  }
  const settled = stored.then(
    () => undefined,
    (error: unknown) =>
      deps.log.warn('Analytics event not recorded', { kind: event.kind, error: describe(error) }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, deps.waitMs ?? RECORD_WAIT_MS);
  });
  try {
    await Promise.race([settled, bound]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---- referrer kind ----

// The search pages' own hosts, not every host under the engines' domains: Gmail, Classroom,
// Docs and Sites (mail.google.com, classroom.google.com...) and Yahoo or Yandex mail are not
// search, and "google.<anything>" is anyone's. The Google app's Android referrer is search.
const SEARCH_ENGINES = new RegExp(
  `^(?:${[
    String.raw`(?:www\.)?google\.(?:[a-z]{2,3}|co\.[a-z]{2}|com\.[a-z]{2})`,
    String.raw`(?:www\.|cn\.)?bing\.com`,
    String.raw`(?:www\.|html\.|lite\.)?duckduckgo\.com`,
    String.raw`(?:[a-z]{2}\.)?search\.yahoo\.com`,
    String.raw`(?:www\.)?yandex\.(?:ru|com|com\.tr|by|kz|ua|uz)`,
    String.raw`(?:www\.|m\.)?baidu\.com`,
    String.raw`(?:www\.)?ecosia\.org`,
    String.raw`search\.brave\.com`,
    String.raw`(?:www\.)?qwant\.com`,
    String.raw`(?:www\.)?startpage\.com`,
    String.raw`com\.google\.android\.googlequicksearchbox`,
  ].join('|')})$`,
);
// The site and its short links, and the LinkedIn app's Android referrer.
const LINKEDIN = /(^|\.)(linkedin\.com|lnkd\.in)$|^com\.linkedin\.android$/;

/**
 * The coarse kind of a Referer header, from its host alone: the URL is never stored. `siteHosts`
 * are this service's own hosts (the API's domain, the frontend's origins).
 */
export function referrerKind(referer: string | undefined, siteHosts: readonly string[]): ReferrerKind {
  if (referer === undefined || referer.trim() === '') return 'none';
  let host: string;
  try {
    host = new URL(referer).hostname.toLowerCase();
  } catch {
    return 'other';
  }
  if (siteHosts.some((site) => site.toLowerCase() === host)) return 'same-site';
  if (LINKEDIN.test(host)) return 'linkedin';
  if (SEARCH_ENGINES.test(host)) return 'search';
  return 'other';
}

// ---- counts per day and kind ----

/** Inclusive range of UTC days, YYYY-MM-DD. */
export interface DayRange {
  from: string;
  to: string;
}

/** Days counted when the caller gives neither bound; the longest range one call may ask for. */
export const DEFAULT_RANGE_DAYS = 30;
export const MAX_RANGE_DAYS = 366;

/**
 * Days are handled as day numbers (days since 1970-01-01), turned into YYYY-MM-DD only within
 * years 0001-9999: a string of year 10000 reads `+010000-01-01`, which sorts before every
 * 4-digit year (a loop comparing strings never ended) and which PostgreSQL cannot parse; a day
 * before 0001-01-01 is year 0000, which PostgreSQL refuses.
 */
const DAY_MS = 86_400_000;
const dayNumber = (day: string) => Math.floor(Date.parse(`${day}T00:00:00Z`) / DAY_MS);
const dayString = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);
const FIRST_DAY_NUMBER = dayNumber(FIRST_DAY);

/**
 * The range to count: `to` defaults to today (UTC), `from` to DEFAULT_RANGE_DAYS days ending at
 * `to`. Inputs are already well-formed dates of years 0001-9999 (the route's schema); this
 * checks their order and span, and that a derived `from` stays in range, naming the parameter
 * at fault.
 */
export function resolveRange(input: { from?: string; to?: string }, now: Date): DayRange {
  const today = Math.floor(now.getTime() / DAY_MS);
  // With only `from`, the range ends DEFAULT_RANGE_DAYS later or today, whichever comes first:
  // compared as numbers, so a `from` near 9999-12-31 never yields a day past it.
  const to =
    input.to !== undefined
      ? dayNumber(input.to)
      : input.from !== undefined
        ? Math.min(dayNumber(input.from) + DEFAULT_RANGE_DAYS - 1, today)
        : today;
  const from = input.from !== undefined ? dayNumber(input.from) : to - (DEFAULT_RANGE_DAYS - 1);
  if (from < FIRST_DAY_NUMBER) {
    // Only `to` can have pushed a derived `from` before year 1.
    throw new ValidationError(
      `to must be on or after ${dayString(FIRST_DAY_NUMBER + DEFAULT_RANGE_DAYS - 1)} unless from is given`,
      'to',
    );
  }
  if (from > to) {
    // Only `from` given and in the future: `to` defaulted to today, so `from` is at fault.
    if (input.to === undefined) throw new ValidationError('from must not be after today', 'from');
    throw new ValidationError('to must not be before from', 'to');
  }
  if (to - from + 1 > MAX_RANGE_DAYS) {
    // A span of days with both ends counted: `from` at most MAX_RANGE_DAYS - 1 days before `to`.
    throw new ValidationError(
      `from must be at most ${MAX_RANGE_DAYS - 1} days before to (at most ${MAX_RANGE_DAYS} days, from and to included)`,
      'from',
    );
  }
  return { from: dayString(from), to: dayString(to) };
}

export type KindCounts = Record<EventKind, number>;

export interface DayCounts {
  date: string;
  total: number;
  counts: KindCounts;
}

export interface EventCounts extends DayRange {
  /** Days are UTC days. */
  timeZone: 'UTC';
  total: number;
  totals: KindCounts;
  referrers: Record<ReferrerKind, number>;
  /** Every day of the range, oldest first, zeros included (ready to chart). */
  days: DayCounts[];
}

interface CountRow {
  day: string;
  kind: EventKind;
  referrer_kind: ReferrerKind;
  count: number;
}

const zeros = <K extends string>(keys: readonly K[]) =>
  Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;

/** Folds (day, kind, referrer) counts into the response shape; pure, so unit-testable. */
export function tallyCounts(range: DayRange, rows: readonly CountRow[]): EventCounts {
  const days = new Map<string, DayCounts>();
  // A counter, not a comparison of day strings: it ends whatever the strings look like (a
  // malformed range gives a NaN span and no days).
  const first = dayNumber(range.from);
  const span = dayNumber(range.to) - first + 1;
  for (let offset = 0; offset < span; offset += 1) {
    const day = dayString(first + offset);
    days.set(day, { date: day, total: 0, counts: zeros(EVENT_KINDS) });
  }
  const result: EventCounts = {
    ...range,
    timeZone: 'UTC',
    total: 0,
    totals: zeros(EVENT_KINDS),
    referrers: zeros(REFERRER_KINDS),
    days: [],
  };
  for (const row of rows) {
    const day = days.get(row.day);
    if (!day) continue;
    day.counts[row.kind] += row.count;
    day.total += row.count;
    result.totals[row.kind] += row.count;
    result.referrers[row.referrer_kind] += row.count;
    result.total += row.count;
  }
  result.days = [...days.values()];
  return result;
}

async function countEvents(sql: Sql, filter: ReturnType<Sql>, range: DayRange): Promise<EventCounts> {
  // The counters are per UTC day already. The range is on `day`, the column after the id in both
  // the primary key (certificate_id, day, ...) and the course index (course_id, day), so either
  // serves it. The sum is a float8, not an int: counters make a large total cheap to reach, and
  // a float8 counts exactly up to 2^53 where an int overflows (postgres.js gives a bigint as a
  // string). `day::timestamp`: to_char has no date form, and the timestamptz one would go
  // through the session's time zone.
  const rows = await sql<CountRow[]>`
    SELECT to_char(day::timestamp, 'YYYY-MM-DD') AS day, kind, referrer_kind, sum(count)::float8 AS count
    FROM certificate_event_counts
    WHERE ${filter}
      AND day >= ${range.from}::date
      AND day <= ${range.to}::date
    GROUP BY 1, 2, 3`;
  return tallyCounts(range, rows);
}

export interface AnalyticsQuery {
  from?: string;
  to?: string;
}

/** A course's events per day and kind; unknown course -> NotFound. */
export async function courseAnalytics(
  deps: { sql: Sql; now?: Clock },
  courseId: string,
  query: AnalyticsQuery,
): Promise<EventCounts & { courseId: string }> {
  const range = resolveRange(query, deps.now?.() ?? new Date());
  if (!(await courseExists(deps.sql, courseId))) throw new NotFoundError('Course');
  return { courseId, ...(await countEvents(deps.sql, deps.sql`course_id = ${courseId}::uuid`, range)) };
}

/** One certificate's events per day and kind; unknown certificate -> NotFound. */
export async function certificateAnalytics(
  deps: { sql: Sql; now?: Clock },
  certificateId: string,
  query: AnalyticsQuery,
): Promise<EventCounts & { certificateId: string }> {
  const range = resolveRange(query, deps.now?.() ?? new Date());
  const [found] = await deps.sql`SELECT 1 FROM certificates WHERE id = ${certificateId}::uuid`;
  if (!found) throw new NotFoundError('Certificate');
  return {
    certificateId,
    ...(await countEvents(deps.sql, deps.sql`certificate_id = ${certificateId}::uuid`, range)),
  };
}
