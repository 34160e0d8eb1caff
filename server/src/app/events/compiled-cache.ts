/**
 * Compiled recurring series, cached by etag (content hash): expansion is the hot path of range
 * listing and free/busy. An LRU bounded by an estimate of the memory the compiled objects hold,
 * not by a count: a compiled series (ical.js components plus the recurrence state expansion adds)
 * takes about 30–35 bytes of heap per character of its iCalendar text (measured: a weekly series
 * with one moved occurrence, ~450 characters, holds ~15 KB), so 20,000 entries of big series
 * could pin hundreds of megabytes while 20,000 small ones are cheap.
 */
import { compileResource, type CompiledSeries } from '../../lib/ical/index.js';
import { WeightedLru } from '../../lib/weighted-lru.js';

/** Estimated heap bytes per character of iCalendar text, and per entry (key, map slot, wrappers). */
const BYTES_PER_CHAR = 34;
const BYTES_PER_ENTRY = 1_024;
/**
 * Default budget: ~24 MB of compiled series (≈ 1,500 typical recurring events). Range listing and
 * free/busy mostly hit the expansion memo (expansions.ts), which needs a compiled series only once
 * per etag and zone; in the core benchmark 64 MB instead of 24 MB added ~130 MB to the peak RSS
 * (garbage of re-compiles aside, the compiled objects live long enough to reach the old
 * generation) without making free/busy or listing measurably faster.
 */
const DEFAULT_BUDGET = 24 * 1024 * 1024;

const cache = new WeightedLru<string, { c: CompiledSeries; w: number }>(DEFAULT_BUDGET, (e) => e.w);
let budget = DEFAULT_BUDGET;

/** The estimated heap a compiled series of this text holds. */
export const estimateWeight = (ical: string) => BYTES_PER_ENTRY + ical.length * BYTES_PER_CHAR;

/** Sets the budget (estimated bytes); 0 turns the cache off. Evicts down to it at once. */
export function configureCompiledCache(bytes: number): void {
  budget = Math.max(0, bytes);
  cache.resize(budget);
}

export function compiledCacheStats() {
  return { entries: cache.size, estimatedBytes: cache.weight, budgetBytes: budget };
}

export function compiledFor(etag: string, ical: string): CompiledSeries {
  const hit = cache.get(etag, true);
  if (hit) return hit.c;
  const c = compileResource(ical);
  const w = estimateWeight(ical);
  // A series bigger than a quarter of the budget is not cached: it would flush everything else.
  if (w <= budget / 4) {
    cache.set(etag, { c, w });
  }
  return c;
}

/** The cached compiled series of an etag, if any (no LRU bump): lets callers skip fetching its text. */
export function compiledCached(etag: string): CompiledSeries | undefined {
  return cache.get(etag)?.c;
}
