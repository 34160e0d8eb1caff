/**
 * Occurrences of recurring series, expanded once per (content hash, zone) and then sliced per
 * request. A finite series is expanded whole; an open-ended one within a window around today
 * (ranges outside it are expanded on demand). The etag is a hash of the iCalendar text, so an
 * entry never goes stale. Bounded by the total number of occurrences held.
 */
import type { Occurrence } from '../../lib/ical/index.js';
import { expandCompiled } from '../../lib/ical/expand.js';
import { compileResource } from '../../lib/ical/index.js';
import { compiledCached, compiledFor } from './compiled-cache.js';
import { WeightedLru } from '../../lib/weighted-lru.js';

const YEAR = 366 * 86_400_000;
/**
 * How far past today the server expands series by default: this memo, the busy-time memo
 * (freebusy.ts) and a room's conflict check (deliver.ts) all reach this far.
 */
export const EXPAND_AHEAD_MS = 2 * YEAR;
/** Occurrences of one series held per expansion (denser series are expanded per request). */
export const MAX_PER_SERIES = 3000;
const MAX_TOTAL = 150_000;

/**
 * `json` holds, per occurrence, the part of its REST listing item that depends on the occurrence
 * alone (filled lazily by the listing's serialiser, see listing-json.ts): the memo is keyed by
 * content hash and zone, so those strings are as immutable as the occurrences themselves.
 */
interface Expanded { from: number; to: number; occs: Occurrence[]; starts: number[]; json?: (string | undefined)[] }

const cache = new WeightedLru<string, Expanded>(MAX_TOTAL, (e) => e.occs.length);

const keyOf = (etag: string, tz: string) => `${etag}|${tz}`;

/** Whether the occurrences of this series for the range are known without its iCalendar. */
export function hasExpansion(etag: string, tz: string, from: Date, to: Date): boolean {
  const e = cache.get(keyOf(etag, tz));
  return !!e && e.from <= from.getTime() && e.to >= to.getTime();
}

/** Index of the first occurrence that may overlap [from, …): binary search, then a little back. */
function firstCandidate(e: Expanded, from: number): number {
  let lo = 0;
  let hi = e.starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (e.starts[mid] < from) lo = mid + 1;
    else hi = mid;
  }
  // Series instances rarely exceed a day, so scan back a little for ones still running at `from`.
  let i = lo;
  while (i > 0 && e.starts[i - 1] > from - 40 * 86_400_000) i--;
  return i;
}

/** Whether an occurrence overlaps [from, …): it ends after `from`, or is zero-length at or after it. */
const overlapsFrom = (s: number, en: number, from: number) => en > from || (en === s && s >= from);

function slice(e: Expanded, from: number, to: number): Occurrence[] {
  // Occurrences are sorted by start; an occurrence overlaps [from, to) if start < to and end > from
  // (or it is zero-length at from).
  const out: Occurrence[] = [];
  for (let i = firstCandidate(e, from); i < e.occs.length && e.starts[i] < to; i++) {
    const o = e.occs[i];
    if (overlapsFrom(e.starts[i], o.end.getTime(), from)) out.push(o);
  }
  return out;
}

/**
 * The same occurrences as expandSeries, without copying them: `occs[i]` for the indices in `idx`,
 * plus the per-occurrence string slots of the memo (`json`, null when the series is not memoised).
 */
export function seriesIndexed(etag: string, ical: string, from: Date, to: Date, tz: string): { occs: readonly Occurrence[]; idx: number[]; json: (string | undefined)[] | null } {
  const f = from.getTime();
  const t = to.getTime();
  const e = seriesWindow(etag, ical, from, to, tz) as Expanded | null;
  if (!e) {
    const occs = narrow(etag, ical, from, to, tz);
    return { occs, idx: occs.map((_, i) => i), json: null };
  }
  const idx: number[] = [];
  for (let i = firstCandidate(e, f); i < e.occs.length && e.starts[i] < t; i++) {
    if (overlapsFrom(e.starts[i], e.occs[i].end.getTime(), f)) idx.push(i);
  }
  return { occs: e.occs, idx, json: (e.json ??= []) };
}

/**
 * The memoised expansion of a series that covers [from, to) (all its occurrences in a window of
 * at least that range, sorted by start), computing it from `ical` when needed; null when it is not
 * known, the text does not compile, or the series is too dense to memoise (see expandSeries).
 */
export function seriesWindow(etag: string, ical: string, from: Date, to: Date, tz: string, opts: { memo?: boolean } = {}): { from: number; to: number; occs: readonly Occurrence[] } | null {
  const key = keyOf(etag, tz);
  const f = from.getTime();
  const t = to.getTime();
  const hit = cache.get(key);
  if (hit && hit.from <= f && hit.to >= t) return hit;
  if (!ical) return null;
  let compiled;
  try {
    // A caller that keeps its own memo of the result (free/busy) compiles without caching: the
    // compiled objects then die young instead of taking the LRU slots the listings use.
    compiled = opts.memo === false ? (compiledCached(etag) ?? compileResource(ical)) : compiledFor(etag, ical);
  } catch {
    return null;
  }
  // Expand a window covering the request and a year either side of today, once.
  const now = Date.now();
  const wf = Math.min(f, now - YEAR);
  const wt = Math.max(t, now + EXPAND_AHEAD_MS);
  let occs: Occurrence[];
  try {
    occs = expandCompiled(compiled, new Date(wf), new Date(wt), { defaultTz: tz, limit: MAX_PER_SERIES + 1 });
  } catch {
    return null;
  }
  if (occs.length > MAX_PER_SERIES) return null;
  const e: Expanded = { from: wf, to: wt, occs, starts: occs.map((o) => o.start.getTime()) };
  if (opts.memo !== false) cache.set(key, e);
  return e;
}

/** The series' occurrences overlapping [from, to), sorted by start. `ical` may be '' when hasExpansion() said so. */
export function expandSeries(etag: string, ical: string, from: Date, to: Date, tz: string): Occurrence[] {
  const e = seriesWindow(etag, ical, from, to, tz);
  return e ? slice(e as Expanded, from.getTime(), to.getTime()) : narrow(etag, ical, from, to, tz);
}

/** Very dense series (e.g. every 5 minutes) or a failed expansion: expand only what was asked for. */
function narrow(etag: string, ical: string, from: Date, to: Date, tz: string): Occurrence[] {
  if (!ical) return [];
  try {
    return expandCompiled(compiledFor(etag, ical), from, to, { defaultTz: tz, limit: 2000 });
  } catch {
    return [];
  }
}

/**
 * Occurrences overlapping [from, to) of a single (non-recurring) floating object in zone `tz`:
 * its index columns hold its wall times read as UTC, so its instants come from expanding it
 * (memoised like a series; every occurrence is checked, however long the event lasts).
 */
export function floatingSingleOccurrences(etag: string, ical: string, from: Date, to: Date, tz: string): Occurrence[] {
  const e = seriesWindow(etag, ical, from, to, tz);
  if (!e) return narrow(etag, ical, from, to, tz);
  const f = from.getTime();
  const t = to.getTime();
  return e.occs.filter((o) => o.start.getTime() < t && overlapsFrom(o.start.getTime(), o.end.getTime(), f));
}
