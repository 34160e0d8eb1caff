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
 * Storage: the items' JSON bytes (UTF-8) in one append-only Buffer (the arena, outside the V8
 * heap: nothing for the collector to mark), written in listing order with a comma after each, so
 * a range is mostly one contiguous run of bytes; per item only numbers in typed arrays (key,
 * start, end, offset, length) and its id / recurrence id (for merging calendars and applying
 * changes). The response is one Buffer built by copying runs (listing-json.ts): no per-request
 * strings, and no UTF-8 encoding when it is written to the socket. Changed objects' new items are
 * appended (out of order, copied singly); the arena is rebuilt when more than half is dead.
 *
 * Bounded by an estimate of the bytes held (arena + per-item arrays) in a WeightedLru; a calendar
 * whose memo alone would exceed the budget is served by the direct path.
 */
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import { expandCompiled } from '../../lib/ical/expand.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import { WeightedLru } from '../../lib/weighted-lru.js';
import { compiledFor } from './compiled-cache.js';
import { floatingSingleOccurrences, hasExpansion, seriesWindow } from './expansions.js';
import { cmpItems, expandsRow, occurrenceItem, overlaps, rangeRows, rowParts, singleItem, type FastRow, type Item, type ListingCalendar } from './listing-json.js';
import { zoneOf } from '../../lib/ical/zones/zone.js';

const DAY = 86_400_000;
/** The memo window around today: requests inside it are served from memory. */
const BACK = 330 * DAY;
const AHEAD = 700 * DAY;
/** Items lasting up to this long are found by binary search; longer ones are scanned (few). */
const SHORT = 2 * DAY;
/** More changes than this since the entry was made: rebuild instead of applying them one by one. */
const MAX_CHANGES = 500;
/** Estimated bytes per item besides its JSON: typed-array slots, id/recurrence-id references and strings. */
const BYTES_PER_ITEM = 80;
/** Room left in a new arena for the items of later changes. */
const SLACK = 64 * 1024;
const MIN_MS = Date.parse('0000-01-01T00:00:00.000Z');
const MAX_MS = Date.parse('9999-12-31T23:59:59.999Z');


const DEFAULT_BUDGET = 32 * 1024 * 1024;
let budget = DEFAULT_BUDGET;

interface Dynamic { row: FastRow; ical: string; head: string; tail: string; hidden: boolean; email?: string }

/** Append-only bytes shared by successive versions of one memo; `used` is how far it is written. */
interface Arena { buf: Buffer; used: number }

/** Items in listing order: numbers in typed arrays, JSON bytes in the arena. */
interface Run {
  n: number;
  k: Float64Array; s: Float64Array; e: Float64Array;
  off: Int32Array; len: Int32Array;
  ids: string[]; rids: (string | null)[];
}

interface Memo {
  seq: bigint; wf: number; wt: number;
  arena: Arena;
  /** How far the arena was written when this version was made (it may append only from there). */
  used: number;
  /** Bytes of the arena that items of this version still use. */
  live: number;
  /** Items of at most SHORT (binary search by key) and longer ones (scanned). */
  short: Run; long: Run;
  dyn: Dynamic[];
  weight: number;
}

/** What a request gets from a memo: indices into `short` (in order) plus extra items (long, dynamic; sorted). */
export interface MemoSlice { arena: Buffer; short: Run; idx: number[]; extra: Item[] }

const memos = new WeightedLru<string, Memo>(budget, (m) => m.weight);
/** Keys whose memo would not fit the budget (or cannot be memoised): served directly until this time. */
const unusable = new Map<string, number>();
const UNUSABLE_MS = 10 * 60_000;
const inflight = new Map<string, { seq: bigint; p: Promise<Memo | null> }>();

/** Sets the budget (estimated bytes); 0 turns the memo off (every listing takes the direct path). */
export function configureListingMemo(bytes: number): void {
  budget = Math.max(0, bytes);
  memos.resize(budget);
  unusable.clear();
}

export function listingMemoStats() {
  return { entries: memos.size, estimatedBytes: memos.weight, budgetBytes: budget, building: building.size, ...stats };
}

const keyOf = (c: ListingCalendar, tz: string) => `${c.id}|${tz}|${c.access}|${c.color}`;

/** Requests for keys without a memo (a memo is built for a calendar view asked for again). */
const asked = new Map<string, number>();
const ASKS_BEFORE_BUILD = 2;
const stats = { hits: 0, direct: 0, builds: 0, refreshes: 0 };

/**
 * The items of one calendar overlapping [f, t), in listing order, from the memo (brought up to
 * date from the change log as needed); null when the memo does not serve this request and the
 * caller must read the database directly: range outside the window, memo off or too big, or not
 * built yet. Building reads the whole calendar (for 10,000 events about a second of CPU, mostly
 * compiling series), so it runs in the background — and only for a view asked for more than once —
 * while this request takes the direct path.
 */
export async function memoSlice(ctx: AppContext, cal: ListingCalendar, tz: string, f: number, t: number): Promise<MemoSlice | null> {
  if (budget <= 0) return null;
  const today = Math.floor(Date.now() / DAY) * DAY;
  const seq = BigInt(cal.sync_seq);
  const key = keyOf(cal, tz);
  let m = memos.get(key, true);
  if (!m || m.seq < seq || m.wf > f || m.wt < t) {
    const direct = () => { stats.direct++; return null; };
    // Outside the window a fresh entry would have: not memoised.
    if (f < today - BACK || t > today + AHEAD) return direct();
    if ((unusable.get(key) ?? 0) > Date.now()) return direct();
    const next = m && m.wf <= f && m.wt >= t ? await update(ctx, cal, tz, key, seq, m) : null;
    if (!next || next.wf > f || next.wt < t) {
      const n = (asked.get(key) ?? 0) + 1;
      asked.set(key, n);
      if (asked.size > 10_000) asked.delete(asked.keys().next().value!);
      if (n >= ASKS_BEFORE_BUILD && !building.has(key)) void startBuild(ctx, cal, tz, key, seq, today);
      return direct();
    }
    m = next;
  }
  stats.hits++;
  return slice(m, f, t, tz);
}

/** Builds in progress, by key. */
const building = new Map<string, Promise<void>>();

function startBuild(ctx: AppContext, cal: ListingCalendar, tz: string, key: string, seq: bigint, today: number): Promise<void> {
  const p = (async () => {
    try {
      stats.builds++;
      store(key, seq, await build(ctx, cal, tz, seq, today - BACK, today + AHEAD));
      asked.delete(key);
    } catch (e) {
      ctx.log.warn({ err: e, calendar: cal.id }, 'listing memo: build failed');
    } finally {
      building.delete(key);
    }
  })();
  building.set(key, p);
  return p;
}

/** Resolves when no memo build is running (tests). */
export async function listingMemoIdle(): Promise<void> {
  while (building.size) await Promise.all([...building.values()]);
}

function store(key: string, seq: bigint, next: Memo | null): Memo | null {
  if (!next || next.weight > budget) {
    unusable.set(key, Date.now() + UNUSABLE_MS);
    if (unusable.size > 1000) unusable.delete(unusable.keys().next().value!);
    memos.delete(key);
    return null;
  }
  const cur = memos.get(key);
  // A concurrent request may already have stored a newer entry.
  if (!cur || cur.seq <= next.seq) memos.set(key, next);
  return next;
}

/** The memo brought up to `seq` from the change log (awaited: a few rows); null when it needs a rebuild. */
async function update(ctx: AppContext, cal: ListingCalendar, tz: string, key: string, seq: bigint, old: Memo): Promise<Memo | null> {
  const running = inflight.get(key);
  if (running && running.seq >= seq) return running.p;
  const p = (async () => {
    const next = await refresh(ctx, cal, tz, old, seq);
    if (!next) {
      // Needs a rebuild: drop the old version (later requests go straight to the direct path).
      if (memos.get(key) === old) memos.delete(key);
      return null;
    }
    stats.refreshes++;
    return store(key, seq, next);
  })();
  inflight.set(key, { seq, p });
  try {
    return await p;
  } finally {
    if (inflight.get(key)?.p === p) inflight.delete(key);
  }
}

/**
 * Items (and dynamic objects) of these rows overlapping [wf, wt), staged: each item's JSON is
 * written to a scratch arena as soon as it is made (its strings die young instead of piling up
 * for the whole build), then ordered by a permutation; null if one starts outside years 0000–9999.
 */
async function itemsOf(ctx: AppContext, cal: ListingCalendar, tz: string, rows: FastRow[], wf: number, wt: number): Promise<{ items: Staged; dyn: Dynamic[] } | null> {
  const from = new Date(wf);
  const to = new Date(wt);
  const pending = rows.filter((r) => expandsRow(r) && !hasExpansion(r.etag, tz, from, to));
  const icals = await objects.icalOf(ctx.db, cal.owner_id, pending.map((r) => r.id));
  const items = stage(rows.length);
  const dyn: Dynamic[] = [];
  const zone = zoneOf(tz);
  // The owner's address: their answers to single occurrences of series they are invited to.
  const email = (await principals.findPrincipalByIdCached(ctx.db, cal.owner_id))?.email.toLowerCase();
  let compiled = 0;
  for (const r of rows) {
    // A build compiles many series: let other requests in between.
    if (r.recurring && ++compiled % 32 === 0) await new Promise((res) => setImmediate(res));
    const { head, tail, hidden } = rowParts(r, cal);
    if (!r.recurring) {
      if (r.floating) {
        // Floating times: the instants in the viewer's zone (the memo is per zone).
        for (const o of floatingSingleOccurrences(r.etag, icals.get(r.id) ?? '', from, to, tz)) put(items, occurrenceItem(r, o, head, tail, hidden, zone, undefined, email));
        continue;
      }
      const it = singleItem(r, head, tail, hidden, wf, wt, zone);
      if (it) put(items, it);
      continue;
    }
    let ical = icals.get(r.id) ?? '';
    // Not kept in the compiled-series LRU or the expansion memo: the listing memo holds the result.
    const e = seriesWindow(r.etag, ical, from, to, tz, { memo: false });
    if (!e) {
      // Too dense to memoise (or not expandable): expanded per request, for the range only.
      if (!ical) ical = (await objects.icalOf(ctx.db, cal.owner_id, [r.id])).get(r.id) ?? '';
      dyn.push({ row: r, ical, head, tail, hidden, email });
      continue;
    }
    for (const o of e.occs) {
      const s = o.start.getTime();
      if (s >= wt) break;
      if (overlaps(s, o.end.getTime(), wf, wt)) put(items, occurrenceItem(r, o, head, tail, hidden, zone, undefined, email));
    }
  }
  for (const x of items.s) if (x < MIN_MS || x > MAX_MS) return null; // ordered by start text: the direct path
  const { k, ids, rids } = items;
  items.order = Array.from({ length: items.s.length }, (_, i) => i).sort((a, b) => k[a] - k[b] || cmpStr(ids[a], ids[b]) || cmpStr(rids[a], rids[b]));
  return { items, dyn };
}

/** New items: numbers and ids in arrays, JSON bytes in a scratch arena; `order` sorts them. */
interface Staged { k: number[]; s: number[]; e: number[]; ids: string[]; rids: (string | null)[]; off: number[]; len: number[]; bytes: Arena; order: number[] }

const stage = (rows: number): Staged => ({ k: [], s: [], e: [], ids: [], rids: [], off: [], len: [], bytes: { buf: Buffer.allocUnsafeSlow(Math.max(4096, rows * 512)), used: 0 }, order: [] });

/** Writes an item's JSON to the scratch arena (growing it by half when needed). */
function put(st: Staged, it: Item): void {
  const a = st.bytes;
  // At most 3 bytes of UTF-8 per UTF-16 unit.
  const need = 3 * (it.a.length + it.b.length + it.c.length);
  if (a.used + need > a.buf.length) {
    const buf = Buffer.allocUnsafeSlow(Math.max(Math.ceil(a.buf.length * 1.5), a.used + need));
    a.buf.copy(buf, 0, 0, a.used);
    a.buf = buf;
  }
  const at = a.used;
  a.used += a.buf.write(it.a, a.used, 'utf8');
  a.used += a.buf.write(it.b, a.used, 'utf8');
  a.used += a.buf.write(it.c, a.used, 'utf8');
  st.k.push(it.k); st.s.push(it.s); st.e.push(it.e); st.ids.push(it.id); st.rids.push(it.rid); st.off.push(at); st.len.push(a.used - at);
}

/** An empty run with room for n items. */
function newRun(n: number): Run {
  return { n: 0, k: new Float64Array(n), s: new Float64Array(n), e: new Float64Array(n), off: new Int32Array(n), len: new Int32Array(n), ids: new Array(n), rids: new Array(n) };
}

function copyItem(to: Run, from: Run, i: number): void {
  const j = to.n++;
  to.k[j] = from.k[i]; to.s[j] = from.s[i]; to.e[j] = from.e[i]; to.off[j] = from.off[i]; to.len[j] = from.len[i];
  to.ids[j] = from.ids[i]; to.rids[j] = from.rids[i];
}

/** Copies staged item j (and a comma) to the arena's end; grows (copies) the arena when needed. */
function appendItem(to: Run, arena: Arena, st: Staged, j: number): void {
  const len = st.len[j];
  if (arena.used + len + 1 > arena.buf.length) {
    // Grows by a quarter: appends are the few items of changed objects.
    const buf = Buffer.allocUnsafeSlow(Math.max(Math.ceil(arena.buf.length * 1.25), arena.used + len + 1 + SLACK));
    arena.buf.copy(buf, 0, 0, arena.used);
    arena.buf = buf;
  }
  st.bytes.buf.copy(arena.buf, arena.used, st.off[j], st.off[j] + len);
  arena.buf[arena.used + len] = 0x2c; // ','
  const i = to.n++;
  to.k[i] = st.k[j]; to.s[i] = st.s[j]; to.e[i] = st.e[j]; to.off[i] = arena.used; to.len[i] = len;
  to.ids[i] = st.ids[j]; to.rids[i] = st.rids[j];
  arena.used += len + 1;
}

const cmpStr = (x: string | null, y: string | null) => (x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : 1);
/** Order of kept item i of `r` against staged item j (cmpItems). */
const cmpKept = (r: Run, i: number, st: Staged, j: number) => r.k[i] - st.k[j] || cmpStr(r.ids[i], st.ids[j]) || cmpStr(r.rids[i], st.rids[j]);

/** Kept items of `old` (those not in `gone`) merged in order with new sorted items, short and long apart. */
function assemble(seq: bigint, wf: number, wt: number, arena: Arena, old: Memo | null, gone: Set<string>, st: Staged, dyn: Dynamic[]): Memo {
  const isShort = (j: number) => st.e[j] - st.s[j] <= SHORT;
  const parts = [[old?.short, st.order.filter(isShort)], [old?.long, st.order.filter((j) => !isShort(j))]] as const;
  const runs: Run[] = [];
  let live = 0;
  for (const [prev, add] of parts) {
    const run = newRun((prev?.n ?? 0) + add.length);
    let j = 0;
    const n = prev?.n ?? 0;
    for (let i = 0; i < n; i++) {
      if (gone.has(prev!.ids[i])) continue;
      while (j < add.length && cmpKept(prev!, i, st, add[j]) > 0) appendItem(run, arena, st, add[j++]);
      copyItem(run, prev!, i);
    }
    while (j < add.length) appendItem(run, arena, st, add[j++]);
    for (let i = 0; i < run.n; i++) live += run.len[i] + 1;
    runs.push(run);
  }
  const [short, long] = runs;
  // The arena's written bytes (the unwritten tail of a large allocation is not resident).
  let weight = arena.used;
  for (const d of dyn) weight += d.ical.length + d.head.length + d.tail.length;
  for (const r of runs) for (let i = 0; i < r.n; i++) weight += BYTES_PER_ITEM + (r.rids[i]?.length ?? 0);
  return { seq, wf, wt, arena, used: arena.used, live, short, long, dyn, weight };
}

async function build(ctx: AppContext, cal: ListingCalendar, tz: string, seq: bigint, wf: number, wt: number): Promise<Memo | null> {
  const rows = await rangeRows(ctx, cal.owner_id, [cal.id], new Date(wf), new Date(wt));
  const got = await itemsOf(ctx, cal, tz, rows, wf, wt);
  if (!got) return null;
  // The items' bytes and a comma each, in listing order, plus room for later changes.
  const arena: Arena = { buf: Buffer.allocUnsafeSlow(got.items.bytes.used + got.items.s.length + SLACK), used: 0 };
  return assemble(seq, wf, wt, arena, null, new Set(), got.items, got.dyn);
}

/** The entry brought from its sync_seq to `seq` with the change log; null when a rebuild is needed. */
async function refresh(ctx: AppContext, cal: ListingCalendar, tz: string, old: Memo, seq: bigint): Promise<Memo | null> {
  if (seq <= old.seq) return old;
  if (seq - old.seq > BigInt(MAX_CHANGES) || old.live * 2 < old.used) return null;
  const changes = await ctx.db.selectFrom('calendar_change').select(['object_id', sql<string>`seq::text`.as('seq')])
    .where('owner_id', '=', cal.owner_id).where('calendar_id', '=', cal.id)
    .where('seq', '>', String(old.seq)).where('seq', '<=', String(seq)).execute();
  // Sequence numbers are consecutive: a missing one (a pruned log) means changes we cannot see.
  if (BigInt(new Set(changes.map((c) => c.seq)).size) !== seq - old.seq) return null;
  const ids = [...new Set(changes.map((c) => c.object_id))];
  const rows = await rangeRows(ctx, cal.owner_id, [cal.id], new Date(old.wf), new Date(old.wt), ids);
  const fresh = await itemsOf(ctx, cal, tz, rows, old.wf, old.wt);
  if (!fresh) return null;
  const gone = new Set(ids);
  // Append after this version's bytes only if no other version has appended since; else a copy.
  let arena = old.arena;
  if (arena.used !== old.used) {
    const buf = Buffer.allocUnsafeSlow(arena.buf.length);
    arena.buf.copy(buf, 0, 0, old.used);
    arena = { buf, used: old.used };
  }
  const dyn = old.dyn.filter((d) => !gone.has(d.row.id)).concat(fresh.dyn);
  return assemble(seq, old.wf, old.wt, arena, old, gone, fresh.items, dyn);
}

/** Index of the first item of the run whose key is at least k. */
function lowerBound(ks: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ks[mid] < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function slice(m: Memo, f: number, t: number, tz: string): MemoSlice {
  const idx: number[] = [];
  // A short item overlapping [f, …) starts after f − SHORT; its key is at most a day below its start.
  const { short, long } = m;
  const { k, s, e } = short;
  // An all-day item's key is its wall midnight, which is up to 14 hours after its instant east
  // of UTC (utcToWall): scan keys that far past t.
  const kt = t + objects.FLOAT_MARGIN_MS;
  for (let i = lowerBound(k, short.n, f - SHORT - DAY - 1); i < short.n && k[i] < kt; i++) {
    if (overlaps(s[i], e[i], f, t)) idx.push(i);
  }
  const extra: Item[] = [];
  for (let i = 0; i < long.n && long.k[i] < kt; i++) {
    if (!overlaps(long.s[i], long.e[i], f, t)) continue;
    const text = m.arena.buf.toString('utf8', long.off[i], long.off[i] + long.len[i]);
    extra.push({ k: long.k[i], s: long.s[i], e: long.e[i], id: long.ids[i], rid: long.rids[i], a: text, b: '', c: '' });
  }
  if (m.dyn.length) {
    const zone = zoneOf(tz);
    for (const d of m.dyn) {
      let occs;
      try {
        occs = expandCompiled(compiledFor(d.row.etag, d.ical), new Date(f), new Date(t), { defaultTz: tz, limit: 2000 });
      } catch {
        continue;
      }
      // As the direct path's narrow expansion (expansions.ts): what expandCompiled returns for the range.
      for (const o of occs) extra.push(occurrenceItem(d.row, o, d.head, d.tail, d.hidden, zone, undefined, d.email));
    }
    extra.sort(cmpItems);
  }
  return { arena: m.arena.buf, short, idx, extra };
}
