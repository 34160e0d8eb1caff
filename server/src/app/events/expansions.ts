/**
 * Occurrences of recurring series per (content hash, range, zone), memoised: calendars are read
 * far more often than written, and the same weeks are asked for again and again. The etag is a
 * hash of the iCalendar text, so an entry can never go stale — it just stops being asked for.
 */
import type { Occurrence } from '../../lib/ical/index.js';
import { expandCompiled } from '../../lib/ical/expand.js';
import { compiledFor } from './compiled-cache.js';

const MAX = 20_000;
const memo = new Map<string, Occurrence[]>();

export const expansionKey = (etag: string, from: Date, to: Date, tz: string) => `${etag}|${from.getTime()}|${to.getTime()}|${tz}`;

export function cachedExpansion(key: string): Occurrence[] | undefined {
  return memo.get(key);
}

export function expandSeries(etag: string, ical: string, from: Date, to: Date, tz: string): Occurrence[] {
  const key = expansionKey(etag, from, to, tz);
  const hit = memo.get(key);
  if (hit) return hit;
  let occs: Occurrence[];
  try {
    occs = expandCompiled(compiledFor(etag, ical), from, to, { defaultTz: tz, limit: 2000 });
  } catch {
    occs = [];
  }
  memo.set(key, occs);
  if (memo.size > MAX) memo.delete(memo.keys().next().value!);
  return occs;
}
