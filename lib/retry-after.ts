// Retry-After (RFC 9110 section 10.2.3), as a webhook receiver or Keycloak sends it.

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), if it says anything usable. */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
  if (!value) return undefined;
  if (/^\d{1,9}$/.test(value.trim())) return Number(value.trim());
  const at = parseHttpDate(value.trim(), now);
  if (at === undefined) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The three HTTP-date grammars: IMF-fixdate, then the obsolete RFC 850 and asctime forms. */
const HTTP_DATES = [
  /^[A-Z][a-z]{2}, (?<day>\d{2}) (?<month>[A-Z][a-z]{2}) (?<year>\d{4}) (?<time>\d{2}:\d{2}:\d{2}) GMT$/,
  /^[A-Z][a-z]+, (?<day>\d{2})-(?<month>[A-Z][a-z]{2})-(?<year>\d{2}) (?<time>\d{2}:\d{2}:\d{2}) GMT$/,
  /^[A-Z][a-z]{2} (?<month>[A-Z][a-z]{2}) (?<day>[ \d]\d) (?<time>\d{2}:\d{2}:\d{2}) (?<year>\d{4})$/,
];

/**
 * An HTTP-date (RFC 9110 section 5.6.7) as epoch ms: the IMF-fixdate and the two obsolete forms a
 * recipient must also accept, all of them UTC. Not Date.parse: it reads the asctime form, which
 * names no zone, in the process's local time (TZ), so a receiver's "two minutes" became hours.
 */
function parseHttpDate(value: string, now: Date): number | undefined {
  const parts = HTTP_DATES.map((grammar) => grammar.exec(value)?.groups).find((groups) => groups);
  if (!parts) return undefined;
  const monthIndex = MONTHS.indexOf(parts.month ?? '');
  if (monthIndex < 0) return undefined;
  let year = Number(parts.year);
  if (parts.year?.length === 2) {
    // A two-digit year more than 50 years ahead is the most recent past year ending so (RFC 9110).
    year += Math.floor(now.getUTCFullYear() / 100) * 100;
    if (year > now.getUTCFullYear() + 50) year -= 100;
  }
  const day = Number(parts.day);
  const [hour, minute, second] = (parts.time ?? '').split(':').map(Number);
  const at = Date.UTC(year, monthIndex, day, hour, minute, second);
  // Date.UTC rolls 31 February over into March: such a date is not one.
  return new Date(at).getUTCDate() === day ? at : undefined;
}
