/**
 * The process-local CalDAV read cache: what GET, PROPFIND and REPORT of a calendar read again and
 * again without a change in between — the signed-in principal behind a remembered credential, the
 * user's view of a calendar (its row and the user's access), calendar objects (text, etag, the
 * listing columns, the text escaped for XML) and whole member listings of a calendar.
 *
 * Coherence (store/change-feed.ts, migration 0011): every committed change to a calendar, its
 * objects or shares announces `c:<calendar>`, and to an object also `o:<calendar>/<name>`; to a
 * principal, its app passwords or group memberships `u:<principal>`. Calendar views and listings
 * depend on `c:`, an object only on its own `o:` (a change to one object keeps the others). An
 * announcement gives its id a new generation; an entry records
 * a stamp taken *before* the database read that filled it and is used only while none of the ids
 * it depends on got a generation after that stamp, so a change that commits while a read is in
 * flight can never be cached as current. This process's own writes are fenced before a cached
 * read (change-feed.ts); other processes' reach it with the notification. While the feed is not
 * live nothing is served from here, and a reconnect starts empty.
 *
 * Bounded: credentials and calendar views by count, objects and listings together by estimated
 * bytes (CALENDULA_DAV_CACHE_MB), least recently used first.
 */
import pg from 'pg';
import type { AppContext } from '../../app/context.js';
import { ChangeFeed, type ChangeSubscriber } from '../../store/change-feed.js';
import { WeightedLru } from '../../lib/weighted-lru.js';
import type { PrincipalRow } from '../../store/schema.js';
import type { DavCalendar, ObjectMeta } from './types.js';

const MAX_PRINCIPALS = 10_000;
const MAX_CALENDARS = 50_000;
/** Generations kept per id; beyond this many ids everything is dropped (a generation must never be forgotten while entries may depend on it). */
const MAX_GENERATIONS = 100_000;
/** Keys the doorkeeper remembers (putObject) before it starts afresh. */
const MAX_SEEN = 20_000;
/** Estimated bytes of an object entry besides its texts. */
const ENTRY_OVERHEAD = 400;

/** Taken before a database read; an entry filled from that read is valid until one of its ids changes after it. */
export interface Stamp { epoch: number; at: number }

interface Deps { epoch: number; at: number; cal?: string; users: string[]; obj?: string; objectsOf?: string }

export interface CachedObject extends ObjectMeta {
  ical: string;
  /** The text escaped for XML (RFC 4791 §9.6 calendar-data with no restrictions), made on first use. */
  escaped?: string;
  /** Its <D:response> after the href for the properties `tailKey` (common.ts cachedObjectResponse), made on first use. */
  tail?: string;
  tailKey?: string;
  /** Whether etag, component and the escaped text are all ASCII (asciiObject), made on first use. */
  ascii?: boolean;
  /** The Last-Modified header value (RFC 9110 §8.8.2); absent on an object read but not kept (made from updated_at). */
  lastModified?: string;
}

/** An object's Last-Modified value (RFC 9110 §8.8.2, IMF-fixdate). */
export const lastModifiedOf = (o: CachedObject) => o.lastModified ?? o.updated_at.toUTCString();

/**
 * This process's write of one object while it is in flight (beginWrite … endWrite): how many
 * announcements of the object arrived since it began, and the generation of the last one.
 */
export interface WriteWatch { key: string; epoch: number; count: number; gen: number }

interface Item {
  deps: Deps; weight: number; object?: CachedObject; listing?: string; truncated?: boolean; usedAt: number;
  /** Kept by endWrite before the write's own announcement arrived: the next one of the object is that one (see endWrite). */
  awaitOwn?: boolean;
}

/** Writes watched at once at most (beyond, a write is simply not kept). */
const MAX_WRITES = 10_000;
/** Objects larger than this are not kept from a write (a read still keeps them). */
const MAX_WRITTEN_CHARS = 256 * 1024;

export class DavReadCache implements ChangeSubscriber {
  private epoch = 0;
  private clock = 0;
  private readonly calGen = new Map<string, number>();
  /** Generations of single objects (`<calendar>/<name>`) and of all objects of a calendar. */
  private readonly objGen = new Map<string, number>();
  private readonly allObjGen = new Map<string, number>();
  private readonly userGen = new Map<string, number>();
  private readonly principals = new Map<string, { deps: Deps; principal: PrincipalRow }>();
  private readonly calendars = new Map<string, { deps: Deps; calendar: DavCalendar | null }>();
  private readonly items: WeightedLru<string, Item>;
  /** Counts insertions; an item is moved to the recent end only when a quarter of the capacity was inserted since (a 50-href multiget would otherwise reorder the map 50 times). */
  private inserted = 0;
  /** Objects read once recently (putObject's doorkeeper). */
  private readonly seen = new Set<string>();
  /** Writes in flight by `<calendar>/<name>` (beginWrite). */
  private readonly writes = new Map<string, WriteWatch[]>();
  readonly stats = { hits: 0, misses: 0, invalidations: 0, written: 0 };

  /**
   * `prepare`: called on each object as it is kept (a read's second, a write-through), before any
   * request can see it — common.ts primeHeldObject renders its usual multiget answer there.
   */
  constructor(maxBytes: number, private readonly prepare: (o: CachedObject) => void = () => undefined) {
    this.items = new WeightedLru<string, Item>(maxBytes, (i) => i.weight);
  }

  // ------------------------------------------------------------------ coherence

  stamp(): Stamp {
    return { epoch: this.epoch, at: ++this.clock };
  }

  change(payload: string): void {
    this.stats.invalidations++;
    const kind = payload.slice(0, 2);
    const id = payload.slice(2);
    if (kind === 'c:') this.bump(this.calGen, id);
    else if (kind === 'o:') this.objectChanged(id, this.bump(this.objGen, id));
    else if (kind === 'C:') this.bump(this.allObjGen, id);
    else if (kind === 'u:') this.bump(this.userGen, id);
    else this.reset(); // '*' or anything unknown: forget all
  }

  reset(): void {
    this.epoch++;
    this.seen.clear();
    this.principals.clear();
    this.calendars.clear();
    this.items.clear();
    this.calGen.clear();
    this.objGen.clear();
    this.allObjGen.clear();
    this.userGen.clear();
  }

  private bump(gens: Map<string, number>, id: string): number {
    if (this.calGen.size + this.objGen.size + this.allObjGen.size + this.userGen.size >= MAX_GENERATIONS) this.reset();
    gens.set(id, ++this.clock);
    return this.clock;
  }

  /** An object's announcement (generation `gen`): counted by the writes of it in flight; the one a kept write awaited. */
  private objectChanged(id: string, gen: number) {
    const ws = this.writes.get(id);
    if (ws) for (const w of ws) { w.count++; w.gen = gen; }
    const e = this.items.get(`o/${id}`);
    if (e?.awaitOwn) {
      e.awaitOwn = false;
      e.deps.at = gen;
    }
  }

  private valid(d: Deps): boolean {
    if (d.epoch !== this.epoch) return false;
    if (d.cal !== undefined && (this.calGen.get(d.cal) ?? 0) > d.at) return false;
    if (d.obj !== undefined && ((this.objGen.get(d.obj) ?? 0) > d.at || (this.allObjGen.get(d.objectsOf!) ?? 0) > d.at)) return false;
    for (const u of d.users) if ((this.userGen.get(u) ?? 0) > d.at) return false;
    return true;
  }

  private deps(s: Stamp, cal: string | undefined, users: string[], obj?: { calendarId: string; name: string }): Deps | null {
    const d: Deps = { epoch: s.epoch, at: s.at, cal, users };
    if (obj) {
      d.obj = `${obj.calendarId}/${obj.name}`;
      d.objectsOf = obj.calendarId;
    }
    // Changed while the read that fills it was in flight: not cached.
    return this.valid(d) ? d : null;
  }

  // ------------------------------------------------------------------ entries

  private use(k: string): Item | undefined {
    const e = this.items.get(k);
    if (e && this.inserted - e.usedAt > this.items.size >> 2) {
      this.items.get(k, true);
      e.usedAt = this.inserted;
    }
    return e;
  }

  private put(k: string, item: Item): void {
    item.usedAt = ++this.inserted;
    this.items.set(k, item);
  }

  /** The principal a remembered credential (its auth-cache key) was last validated as. */
  principal(key: string, userId: string): PrincipalRow | undefined {
    const e = this.principals.get(key);
    if (!e) return undefined;
    if (e.principal.id === userId && this.valid(e.deps)) return e.principal;
    this.principals.delete(key);
    return undefined;
  }

  /** After a lookup validated the credential `key` against the principal row read since `s`. */
  putPrincipal(key: string, principal: PrincipalRow, s: Stamp): void {
    const deps = this.deps(s, undefined, [principal.id]);
    if (!deps) return;
    if (this.principals.size >= MAX_PRINCIPALS && !this.principals.has(key)) this.principals.delete(this.principals.keys().next().value!);
    this.principals.set(key, { deps, principal });
  }

  /** The user's view of a calendar: undefined when not cached, null when the user cannot see it. */
  calendar(userId: string, calendarId: string): DavCalendar | null | undefined {
    const k = `${userId}/${calendarId}`;
    const e = this.calendars.get(k);
    if (!e) return undefined;
    if (this.valid(e.deps)) return e.calendar;
    this.calendars.delete(k);
    return undefined;
  }

  putCalendar(userId: string, calendarId: string, calendar: DavCalendar | null, s: Stamp): void {
    // The view depends on the calendar (row, shares), the user (groups) and the owner (address).
    const deps = this.deps(s, calendarId, calendar && calendar.owner_id !== userId ? [userId, calendar.owner_id] : [userId]);
    if (!deps) return;
    const k = `${userId}/${calendarId}`;
    if (this.calendars.size >= MAX_CALENDARS && !this.calendars.has(k)) this.calendars.delete(this.calendars.keys().next().value!);
    this.calendars.set(k, { deps, calendar });
  }

  /** A live object of a calendar (any class: the caller applies the user's visibility). */
  object(calendarId: string, name: string): CachedObject | undefined {
    const k = `o/${calendarId}/${name}`;
    const e = this.use(k);
    if (e?.object && this.valid(e.deps)) {
      this.stats.hits++;
      return e.object;
    }
    if (e) this.items.delete(k);
    this.stats.misses++;
    return undefined;
  }

  /**
   * Keep an object read since `s`. Admitted on its second read within the recent past only (a
   * "doorkeeper": the first read of an object is remembered by key, not kept), so one-off reads —
   * a client's initial sync walks every object once — do not fill the cache with what is never
   * read again, at the cost of copying it into the old generation of the heap.
   */
  putObject(calendarId: string, obj: ObjectMeta & { ical: string }, s: Stamp): CachedObject | undefined {
    const seenKey = `${calendarId}/${obj.name}`;
    // Held already (kept by a write, read again by a lookup that had to run): kept, not counted as a first read.
    const held = this.items.get(`o/${seenKey}`);
    if (!this.seen.has(seenKey) && !(held?.object && this.valid(held.deps))) {
      if (this.seen.size >= MAX_SEEN) this.seen.clear();
      this.seen.add(seenKey);
      return undefined;
    }
    this.seen.delete(seenKey);
    const deps = this.deps(s, undefined, [], { calendarId, name: obj.name });
    if (!deps) return undefined;
    const object: CachedObject = { ...obj, lastModified: obj.updated_at.toUTCString() };
    this.prepare(object);
    this.put(`o/${calendarId}/${obj.name}`, { deps, object, weight: ENTRY_OVERHEAD + 2 * obj.ical.length, usedAt: 0 });
    return object;
  }

  /**
   * Before this process writes the object `name` of a calendar (a PUT): from now on the object's
   * announcements are counted for endWrite. Undefined when too many writes are in flight.
   */
  beginWrite(calendarId: string, name: string): WriteWatch | undefined {
    const key = `${calendarId}/${name}`;
    if (this.writes.size >= MAX_WRITES && !this.writes.has(key)) return undefined;
    const w: WriteWatch = { key, epoch: this.epoch, count: 0, gen: 0 };
    const ws = this.writes.get(key);
    if (ws) ws.push(w);
    else this.writes.set(key, [w]);
    return w;
  }

  /**
   * After the write begun as `w` ended: with `obj`, the row it committed (exactly what the
   * database holds, text included), which is kept — write-through, so a client that reads what it
   * has just written (or a calendar-multiget after a sync) is answered from memory. Without `obj`
   * (the write failed) only the watch ends.
   *
   * The write's commit announces the object (migration 0011), in commit order with every other
   * change, and the entry must not be ended by that announcement of its own, yet must be by any
   * later one. Counted since beginWrite:
   *   - none arrived: ours is still to come, and the next announcement of the object is either ours
   *     or one committed before ours (then ours follows it and ends the entry): the entry awaits one
   *     (`awaitOwn`) and is valid until the announcement after it;
   *   - one arrived: it is ours (the entry is valid from its generation on), or one committed
   *     before ours and ours is still to come (and ends the entry: kept for nothing, never wrong);
   *   - more: not kept (which came last is unknown).
   * A reconnect of the feed in between (a new epoch) keeps nothing.
   */
  endWrite(w: WriteWatch, obj?: ObjectMeta & { ical: string; calendar_id: string }): void {
    const ws = this.writes.get(w.key);
    const i = ws ? ws.indexOf(w) : -1;
    if (i >= 0) {
      ws!.splice(i, 1);
      if (ws!.length === 0) this.writes.delete(w.key);
    }
    if (!obj || i < 0 || w.epoch !== this.epoch || w.count > 1 || `${obj.calendar_id}/${obj.name}` !== w.key || obj.ical.length > MAX_WRITTEN_CHARS) return;
    const awaitOwn = w.count === 0;
    const deps: Deps = { epoch: this.epoch, at: awaitOwn ? ++this.clock : w.gen, users: [], obj: w.key, objectsOf: obj.calendar_id };
    if (!this.valid(deps)) return;
    const object: CachedObject = {
      id: obj.id, name: obj.name, etag: obj.etag, schedule_tag: obj.schedule_tag, role: obj.role, component: obj.component, updated_at: obj.updated_at,
      class: obj.class, size: obj.size, ical: obj.ical, lastModified: obj.updated_at.toUTCString(),
    };
    this.prepare(object);
    this.seen.delete(w.key);
    this.stats.written++;
    this.put(`o/${w.key}`, { deps, object, weight: ENTRY_OVERHEAD + 2 * obj.ical.length, usedAt: 0, awaitOwn });
  }

  /**
   * Rendered <D:response> elements of a calendar's members — a whole listing (PROPFIND Depth 1) or
   * a calendar-query's answer — by `key`, which must name everything the text depends on besides
   * the calendar's contents (the properties, the user's view, the href, the query).
   */
  listing(calendarId: string, key: string): { listing: string; truncated: boolean } | undefined {
    const k = `l/${calendarId}/${key}`;
    const e = this.use(k);
    if (e?.listing !== undefined && this.valid(e.deps)) return { listing: e.listing, truncated: e.truncated === true };
    if (e) this.items.delete(k);
    return undefined;
  }

  putListing(calendarId: string, key: string, listing: string, s: Stamp, truncated = false): void {
    const deps = this.deps(s, calendarId, []);
    if (!deps) return;
    this.put(`l/${calendarId}/${key}`, { deps, listing, truncated, weight: ENTRY_OVERHEAD + listing.length, usedAt: 0 });
  }

  get size() {
    return { principals: this.principals.size, calendars: this.calendars.size, items: this.items.size, bytes: this.items.weight };
  }
}

// eslint-disable-next-line no-control-regex
export const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Whether what a response renders of the object (etag, component, the escaped text) is all ASCII —
 * then its UTF-8 bytes are its Latin-1 bytes, which a socket writes without encoding (fast-report.ts).
 */
export function asciiObject(o: CachedObject, escape: (s: string) => string): boolean {
  return o.ascii ??= !NON_ASCII.test(o.etag) && !NON_ASCII.test(o.component) && !NON_ASCII.test(escapedText(o, escape));
}

/** Escape text for XML character data — the same output as lib/dav escapeText, kept with the object. */
export function escapedText(o: CachedObject, escape: (s: string) => string): string {
  return o.escaped ??= escape(o.ical);
}

export interface DavReadState { cache: DavReadCache; feed: ChangeFeed }
const states = new WeakMap<AppContext, DavReadState>();

/** The read cache of this app context, when CalDAV runs with one (CALENDULA_DAV_CACHE_MB > 0). */
export function davReadState(ctx: AppContext): DavReadState | undefined {
  return states.get(ctx);
}

/** The cache and its change feed for an app context; started by the CalDAV plugin, stopped on close. */
export function startDavReadCache(ctx: AppContext, prepare?: (o: CachedObject) => void): DavReadState | undefined {
  const mb = ctx.config.davCacheMb;
  if (!mb || mb <= 0) return undefined;
  const existing = states.get(ctx);
  if (existing) return existing;
  const cache = new DavReadCache(mb * 1024 * 1024, prepare);
  const options = (ctx.pool as unknown as { options: pg.ClientConfig }).options;
  const feed = new ChangeFeed(() => new pg.Client(options), (text, values) => ctx.pool.query(text, values), cache);
  const state = { cache, feed };
  states.set(ctx, state);
  feed.start();
  return state;
}

export async function stopDavReadCache(ctx: AppContext): Promise<void> {
  const s = states.get(ctx);
  if (!s) return;
  states.delete(ctx);
  await s.feed.stop();
}

/** The read cache when it may be used now (live feed, this process's writes fenced), else undefined. */
export async function usableReadCache(ctx: AppContext): Promise<DavReadCache | undefined> {
  const s = states.get(ctx);
  if (!s || !s.feed.live) return undefined;
  return s.feed.fenced() || (await s.feed.fence()) ? s.cache : undefined;
}
