/**
 * Fast `new Date(ms).toISOString()` for the hot paths that format thousands of instants per
 * request (range listings, free/busy): no Date object, the date part memoised per day, the time
 * part from lookup tables. Same output as toISOString (RFC 3339 §5.6, UTC, millisecond precision).
 */
const DAY = 86_400_000;
const P2 = Array.from({ length: 60 }, (_, i) => (i < 10 ? '0' : '') + i);
const P3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** Years 0000–9999 only; others (±YYYYYY) go through Date. */
const MIN = Date.parse('0000-01-01T00:00:00.000Z');
const MAX = Date.parse('9999-12-31T23:59:59.999Z');
const days = new Map<number, string>();

/** The ISO 8601 text of an epoch-millisecond instant ("2026-11-28T08:00:00.000Z"). */
export function isoUtc(ms: number): string {
  if (!Number.isInteger(ms) || ms < MIN || ms > MAX) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY);
  let prefix = days.get(day);
  if (prefix === undefined) {
    prefix = new Date(day * DAY).toISOString().slice(0, 11);
    if (days.size >= 8192) days.clear();
    days.set(day, prefix);
  }
  let r = ms - day * DAY;
  const h = (r / 3_600_000) | 0;
  r -= h * 3_600_000;
  const m = (r / 60_000) | 0;
  r -= m * 60_000;
  const s = (r / 1000) | 0;
  r -= s * 1000;
  return prefix + P2[h] + ':' + P2[m] + ':' + P2[s] + '.' + P3[r] + 'Z';
}

/** The date part ("2026-11-28") of an instant, as toISOString().slice(0, 10). */
export function isoDate(ms: number): string {
  return isoUtc(ms).slice(0, 10);
}
