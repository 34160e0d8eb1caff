/**
 * "Does this recurring series have an instance overlapping [from, to)?" for CalDAV time-range
 * filters (RFC 4791 §9.9), answered from a compact per-series table of instance start/end times.
 * A week's calendar-query over 10,000 events meets ~600 weekly series; expanding each (or slicing
 * the general expansion memo, which builds Occurrence objects) cost ~15 µs a series — here it is a
 * Map lookup and a binary search.
 *
 * Keyed by etag (a hash of the iCalendar text, so an entry never goes stale). A series is expanded
 * once over a window from a year before the request (or today) to two years after it (or today):
 * a client's next ranges are then answered from the table; a request outside it re-tables.
 * Times are UTC instants, expanded without a floating zone: floating series (RFC 5545 §3.3.5) are
 * not tabled here — calendar-query expands them in the floating zone (RFC 4791 §9.9) instead.
 * Bounded by the total number of instances held.
 */
import { expandCompiled } from '../../lib/ical/expand.js';
import { compiledFor } from './compiled-cache.js';
import { WeightedLru } from '../../lib/weighted-lru.js';

const YEAR = 366 * 86_400_000;
/** Denser series than this in the window are not tabled (answered by a bounded expansion). */
const MAX_PER_SERIES = 3000;
const MAX_TOTAL = 400_000;

interface Table { from: number; to: number; starts: Float64Array; ends: Float64Array; maxSpan: number }
const tables = new WeightedLru<string, Table>(MAX_TOTAL, (t) => t.starts.length);

/** True/false when the table of `etag` covers [from, to); undefined when its text is needed. */
export function knownSeriesOverlap(etag: string, from: number, to: number): boolean | undefined {
  const t = tables.get(etag);
  if (!t || t.from > from || t.to < to) return undefined;
  return overlapIn(t, from, to);
}

/**
 * Whether the series has an instance overlapping [from, to) — the overlap rule of RFC 4791
 * §9.9 for VEVENT: start < to and (end > from, or a zero-length instance with start ≥ from).
 * Throws what compiling the text throws.
 */
export function seriesOverlaps(etag: string, ical: string, from: number, to: number): boolean {
  const known = knownSeriesOverlap(etag, from, to);
  if (known !== undefined) return known;
  const compiled = compiledFor(etag, ical);
  const now = Date.now();
  const wf = Math.min(from - YEAR, now - YEAR);
  const wt = Math.max(to + 2 * YEAR, now + 2 * YEAR);
  const occs = expandCompiled(compiled, new Date(wf), new Date(wt), { defaultTz: 'UTC', limit: MAX_PER_SERIES + 1 });
  if (occs.length > MAX_PER_SERIES) return expandCompiled(compiled, new Date(from), new Date(to), { defaultTz: 'UTC', limit: 1 }).length > 0;
  const order = occs.map((o, i) => [o.start.getTime(), o.end.getTime(), i] as const).sort((a, b) => a[0] - b[0] || a[2] - b[2]);
  const starts = new Float64Array(order.length);
  const ends = new Float64Array(order.length);
  let maxSpan = 0;
  order.forEach(([s, e], i) => {
    starts[i] = s;
    ends[i] = e;
    if (e - s > maxSpan) maxSpan = e - s;
  });
  tables.set(etag, { from: wf, to: wt, starts, ends, maxSpan });
  return overlapIn(tables.get(etag) ?? { from: wf, to: wt, starts, ends, maxSpan }, from, to);
}

function overlapIn(t: Table, from: number, to: number): boolean {
  // The first instance starting at or after `to`; every candidate is before it.
  let lo = 0;
  let hi = t.starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t.starts[mid]! < to) lo = mid + 1;
    else hi = mid;
  }
  // Walk back while an instance could still reach `from` (none is longer than maxSpan).
  for (let i = lo - 1; i >= 0; i--) {
    const s = t.starts[i]!;
    if (s + t.maxSpan < from && s < from) break;
    const e = t.ends[i]!;
    if (e > from || (e === s && s >= from)) return true;
  }
  return false;
}

/** For tests: forget every table. */
export function clearSeriesOverlaps(): void {
  tables.clear();
}
