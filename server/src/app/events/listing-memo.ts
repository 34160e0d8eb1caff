/**
 * The listing memo: for a calendar as one kind of viewer sees it (calendar, zone, access, colour),
 * every item of GET /events (listing-json.ts) whose occurrence overlaps a wide window around today,
 * sorted, so a request is a binary search and a join instead of a range query, row decoding and
 * string building (a week of a 10,000-event calendar: ~500 items; a month: ~2,300).
 *
 * Freshness: an entry carries the calendar's sync_seq it reflects. Every write to calendar_object
 * advances its calendar's sync_seq and appends one calendar_change row per sequence number in the
 * same transaction (store/objects.ts, objects-bulk.ts; a move logs a delete in the old calendar),
 * and the listing reads sync_seq with the calendar list on every request. When it moved, the
 * entry is brought up to date from the change log: the changed objects' items are dropped and
 * their current rows (if still in this calendar and window) re-read — a few rows, not the whole
 * calendar. A gap in the log or too many changes rebuild the entry. Rows are read after the
 * sequence number, so an entry is never older than the sequence number it is stored under.
 *
 * What an item depends on, and where that is in the key: the object row (etag, partstat, class,
 * status … — all writes, so sync_seq), the calendar's colour and the viewer's access (in the key:
 * editable flag, busy-only hiding), the viewer's zone (floating times, in the key), and "now"
 * only through the window (open-ended series are expanded a year back and two ahead, like the
 * expansion memo). Series too dense to memoise (expansions.ts) are kept as "dynamic" objects and
 * expanded for the requested range only.
 *
 * Bounded by an estimate of the bytes held (strings + per-item objects) in a WeightedLru; a
 * calendar whose memo alone would exceed the budget is served by the direct path.
 */
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import { expandCompiled } from '../../lib/ical/expand.js';
import * as objects from '../../store/objects.js';
import { WeightedLru } from '../../lib/weighted-lru.js';
import { compiledFor } from './compiled-cache.js';
import { hasExpansion, seriesWindow } from './expansions.js';
import { cmpItems, occurrenceItem, zoneOf, overlaps, rangeRows, rowParts, singleItem, type FastRow, type Item, type ListingCalendar } from './listing-json.js';

const DAY = 86_400_000;
/** The memo window around today: requests inside it are served from memory. */
const BACK = 330 * DAY;
const AHEAD = 700 * DAY;
/** Items lasting up to this long are found by binary search; longer ones are scanned (few). */
const SHORT = 2 * DAY;
/** More changes than this since the entry was made: rebuild instead of applying them one by one. */
const MAX_CHANGES = 500;
/** Estimated heap bytes per item (object, slots) and per object (shared head/tail strings, wrappers). */
const BYTES_PER_ITEM = 96;

const DEFAULT_BUDGET = 32 * 1024 * 1024;
let budget = DEFAULT_BUDGET;

/**
 * A flat copy of a string built by concatenation: V8 keeps `a + b` as a rope, and join() walks
 * every rope again on each request (measured: most of the CPU of a memoised week). The texts are
 * JSON (JSON.stringify escapes lone surrogates), so the UTF-8 round trip is exact.
 */
const flat = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

interface Dynamic { row: FastRow; ical: string; head: string; tail: string; hidden: boolean }

interface Memo {
  seq: bigint; wf: number; wt: number;
  /** Items of at most SHORT, sorted (cmpItems); `ks` their keys (for the binary search). */
  short: Item[]; ks: Float64Array;
  /** Longer items, sorted. */
  long: Item[];
  dyn: Dynamic[];
  weight: number;
}

const memos = new WeightedLru<string, Memo>(budget, (m) => m.weight);
/** Keys whose memo would not fit the budget, with the sync_seq seen (served directly until it moves). */
const tooBig = new Map<string, bigint>();
const inflight = new Map<string, { seq: bigint; p: Promise<Memo | null> }>();

/** Sets the budget (estimated bytes); 0 turns the memo off (every listing takes the direct path). */
export function configureListingMemo(bytes: number): void {
  budget = Math.max(0, bytes);
  memos.resize(budget);
  tooBig.clear();
}

export function listingMemoStats() {
  return { entries: memos.size, estimatedBytes: memos.weight, budgetBytes: budget };
}

const keyOf = (c: ListingCalendar, tz: string) => `${c.id}|${tz}|${c.access}|${c.color}`;

/**
 * The items of one calendar overlapping [f, t), sorted (cmpItems), from the memo (made or brought
 * up to date as needed); null when the memo does not serve this request (range outside the
 * window, memo off or too big) and the caller must read the database directly.
 */
export async function memoSlice(ctx: AppContext, cal: ListingCalendar, tz: string, f: number, t: number): Promise<Item[] | null> {
  if (budget <= 0) return null;
  const today = Math.floor(Date.now() / DAY) * DAY;
  const seq = BigInt(cal.sync_seq);
  const key = keyOf(cal, tz);
  let m = memos.get(key, true);
  if (!m || m.seq < seq || m.wf > f || m.wt < t) {
    // Outside the window a fresh entry would have: not memoised.
    if (f < today - BACK || t > today + AHEAD) return null;
    if (tooBig.get(key) === seq) return null;
    const next = await update(ctx, cal, tz, key, seq, m && m.wf <= f && m.wt >= t ? m : undefined, today);
    if (!next) return null;
    m = next;
  }
  return slice(m, f, t, tz);
}

async function update(ctx: AppContext, cal: ListingCalendar, tz: string, key: string, seq: bigint, old: Memo | undefined, today: number): Promise<Memo | null> {
  const running = inflight.get(key);
  if (running && running.seq >= seq) return running.p;
  const p = (async () => {
    const next = (old && (await refresh(ctx, cal, tz, old, seq))) || (await build(ctx, cal, tz, seq, today - BACK, today + AHEAD));
    if (next.weight > budget) {
      tooBig.set(key, seq);
      if (tooBig.size > 1000) tooBig.delete(tooBig.keys().next().value!);
      memos.delete(key);
      return null;
    }
    const cur = memos.get(key);
    // A concurrent request may already have stored a newer entry.
    if (!cur || cur.seq <= next.seq) memos.set(key, next);
    return next;
  })();
  inflight.set(key, { seq, p });
  try {
    return await p;
  } finally {
    if (inflight.get(key)?.p === p) inflight.delete(key);
  }
}

/** Items (and dynamic objects) of these rows overlapping [wf, wt). */
async function itemsOf(ctx: AppContext, cal: ListingCalendar, tz: string, rows: FastRow[], wf: number, wt: number): Promise<{ items: Item[]; dyn: Dynamic[]; weight: number }> {
  const from = new Date(wf);
  const to = new Date(wt);
  const pending = rows.filter((r) => r.recurring && !hasExpansion(r.etag, tz, from, to));
  const icals = await objects.icalOf(ctx.db, cal.owner_id, pending.map((r) => r.id));
  const items: Item[] = [];
  const dyn: Dynamic[] = [];
  const zone = zoneOf(tz);
  let weight = 0;
  for (const r of rows) {
    const parts = rowParts(r, cal);
    const head = flat(parts.head);
    const tail = flat(parts.tail);
    const hidden = parts.hidden;
    weight += head.length + tail.length + BYTES_PER_ITEM;
    if (!r.recurring) {
      const it = singleItem(r, head, tail, hidden, wf, wt);
      if (it) {
        it.b = flat(it.b);
        items.push(it);
        weight += it.b.length + BYTES_PER_ITEM;
      }
      continue;
    }
    let ical = icals.get(r.id) ?? '';
    const e = seriesWindow(r.etag, ical, from, to, tz);
    if (!e) {
      // Too dense to memoise (or not expandable): expanded per request, for the range only.
      if (!ical) ical = (await objects.icalOf(ctx.db, cal.owner_id, [r.id])).get(r.id) ?? '';
      dyn.push({ row: r, ical, head, tail, hidden });
      weight += ical.length;
      continue;
    }
    for (const o of e.occs) {
      const s = o.start.getTime();
      if (s >= wt) break;
      if (!overlaps(s, o.end.getTime(), wf, wt)) continue;
      const it = occurrenceItem(r, o, head, tail, hidden, zone);
      it.b = flat(it.b);
      items.push(it);
      weight += it.b.length + (it.rid?.length ?? 0) + BYTES_PER_ITEM;
    }
  }
  return { items, dyn, weight };
}

function assemble(seq: bigint, wf: number, wt: number, items: Item[], dyn: Dynamic[], weight: number): Memo {
  items.sort(cmpItems);
  const short: Item[] = [];
  const long: Item[] = [];
  for (const it of items) (it.e - it.s <= SHORT ? short : long).push(it);
  const ks = new Float64Array(short.length);
  for (let i = 0; i < short.length; i++) ks[i] = short[i].k;
  return { seq, wf, wt, short, ks, long, dyn, weight: weight + short.length * 8 };
}

async function build(ctx: AppContext, cal: ListingCalendar, tz: string, seq: bigint, wf: number, wt: number): Promise<Memo> {
  const rows = await rangeRows(ctx, cal.owner_id, [cal.id], new Date(wf), new Date(wt));
  const { items, dyn, weight } = await itemsOf(ctx, cal, tz, rows, wf, wt);
  return assemble(seq, wf, wt, items, dyn, weight);
}

/** The entry brought from its sync_seq to `seq` with the change log; null when a rebuild is needed. */
async function refresh(ctx: AppContext, cal: ListingCalendar, tz: string, old: Memo, seq: bigint): Promise<Memo | null> {
  if (seq <= old.seq) return old;
  if (seq - old.seq > BigInt(MAX_CHANGES)) return null;
  const changes = await ctx.db.selectFrom('calendar_change').select(['object_id', sql<string>`seq::text`.as('seq')])
    .where('owner_id', '=', cal.owner_id).where('calendar_id', '=', cal.id)
    .where('seq', '>', String(old.seq)).where('seq', '<=', String(seq)).execute();
  // Sequence numbers are consecutive: a missing one (a pruned log) means changes we cannot see.
  if (BigInt(new Set(changes.map((c) => c.seq)).size) !== seq - old.seq) return null;
  const ids = [...new Set(changes.map((c) => c.object_id))];
  const rows = await rangeRows(ctx, cal.owner_id, [cal.id], new Date(old.wf), new Date(old.wt), ids);
  const fresh = await itemsOf(ctx, cal, tz, rows, old.wf, old.wt);
  const gone = new Set(ids);
  const kept = (list: Item[]) => list.filter((it) => !gone.has(it.id));
  const items = kept(old.short).concat(kept(old.long), fresh.items);
  const dyn = old.dyn.filter((d) => !gone.has(d.row.id)).concat(fresh.dyn);
  // The weight of what stays is re-estimated from the items (the per-object part approximately).
  let weight = fresh.weight;
  for (const it of items) if (!gone.has(it.id)) weight += it.b.length + (it.rid?.length ?? 0) + 2 * BYTES_PER_ITEM;
  for (const d of dyn) if (!gone.has(d.row.id)) weight += d.ical.length + d.head.length + d.tail.length;
  return assemble(seq, old.wf, old.wt, items, dyn, weight);
}

/** Index of the first short item whose key is at least k. */
function lowerBound(ks: Float64Array, k: number): number {
  let lo = 0;
  let hi = ks.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ks[mid] < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function slice(m: Memo, f: number, t: number, tz: string): Item[] {
  const out: Item[] = [];
  // A short item overlapping [f, …) starts after f − SHORT; its key is at most a day below its start.
  const { short, ks } = m;
  for (let i = lowerBound(ks, f - SHORT - DAY - 1); i < short.length && ks[i] < t; i++) {
    const it = short[i];
    if (overlaps(it.s, it.e, f, t)) out.push(it);
  }
  let extra = false;
  const zone = zoneOf(tz);
  for (const it of m.long) {
    if (it.k >= t) break;
    if (overlaps(it.s, it.e, f, t)) { out.push(it); extra = true; }
  }
  for (const d of m.dyn) {
    let occs;
    try {
      occs = expandCompiled(compiledFor(d.row.etag, d.ical), new Date(f), new Date(t), { defaultTz: tz, limit: 2000 });
    } catch {
      continue;
    }
    // As the direct path's narrow expansion (expansions.ts): what expandCompiled returns for the range.
    for (const o of occs) {
      out.push(occurrenceItem(d.row, o, d.head, d.tail, d.hidden, zone));
      extra = true;
    }
  }
  if (extra) out.sort(cmpItems);
  return out;
}
