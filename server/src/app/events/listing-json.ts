/**
 * GET /api/v1/events without intermediate objects: the response body is written as one JSON
 * string, byte for byte what serialising `{ items: listOccurrences(…) }` with the route's schema
 * gives (tests: server/test/core/listing-json.test.ts, listing-memo.test.ts).
 *
 * Each item is three strings (see Item): a per-object head (id, calendarId, uid), the occurrence
 * part (recurrenceId … transparency) and a per-object tail (visibility … busyOnly). Items are
 * ordered by a numeric key that sorts exactly like the reference's comparison of `start` texts
 * (see sortKey), then by id and recurrence id (a total order, so the body does not depend on the
 * order PostgreSQL returns rows in).
 *
 * Two sources of items:
 *  - the listing memo (listing-memo.ts): per calendar view, every item of a wide window around
 *    today, kept in memory and brought up to date from the calendar's change log whenever its
 *    sync_seq moved (read with the calendar list on every request, so never stale);
 *  - the direct path below, for ranges outside that window and calendars too big to memoise:
 *    the range query (index columns; iCalendar only for series whose expansion is not memoised).
 */
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import type { Occurrence } from '../../lib/ical/index.js';
import { utcToWall, wallToUtc, zoneOf, type Zone } from '../../lib/ical/zones/zone.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import { floatingSingleOccurrences, hasExpansion, seriesIndexed } from './expansions.js';
import { isoDate, isoUtc } from './iso.js';
import { hidesDetails, type Access } from './access.js';
import { DomainError } from '../../domain/errors.js';
import { listingCalendars } from '../../store/calendars.js';
import { memoSlice, type MemoSlice } from './listing-memo.js';

const DAY = 86_400_000;
/** isoUtc formats these without a sign; outside, ISO 8601 expanded years (±YYYYYY) do not sort as text like numbers. */
const MIN = Date.parse('0000-01-01T00:00:00.000Z');
const MAX = Date.parse('9999-12-31T23:59:59.999Z');

const str = (s: string) => JSON.stringify(s);
const strOrNull = (s: string | null) => (s === null ? 'null' : JSON.stringify(s));

/**
 * One occurrence of a listing: its JSON text is `a + b + c` (a and c are shared by all occurrences
 * of an object). `k` orders items (sortKey), `s`/`e` are its start/end in epoch milliseconds.
 */
export interface Item { k: number; s: number; e: number; id: string; rid: string | null; a: string; b: string; c: string }

/** A calendar as the listing sees it: whose it is, its colour and the viewer's access. */
export interface ListingCalendar { id: string; owner_id: string; color: string; access: Access; sync_seq: string | number }

/**
 * A number ordering items as the reference compares their `start` texts: a timed start
 * ("2026-11-28T09:00:00.000Z") sorts as its instant; an all-day one ("2026-11-28") is a prefix of
 * every timed start that day, so it sorts just before that day's first millisecond. Only valid
 * for years 0000–9999 (the caller falls back to comparing texts otherwise).
 */
const sortKey = (ms: number, allDay: boolean) => (allDay ? Math.floor(ms / DAY) * DAY - 0.5 : ms);

export const cmpStr = (x: string | null, y: string | null) => (x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : 1);
/** The listing order: start (as the reference compares start texts), then id, then recurrence id. */
export const cmpItems = (x: Item, y: Item) => x.k - y.k || cmpStr(x.id, y.id) || cmpStr(x.rid, y.rid);

/** Whether an occurrence [s, e] overlaps [f, t): it starts before t and ends after f, or is zero-length at or after f. */
export const overlaps = (s: number, e: number, f: number, t: number) => s < t && (e > f || (e === s && s >= f));

/** The occurrence-dependent middle of an item: `"recurrenceId":…,"location":…,` (status and transparency follow). */
function middle(recurrenceId: string | null, s: number, e: number, allDay: boolean, summary: string, location: string): string {
  return '"recurrenceId":' + strOrNull(recurrenceId)
    + ',"start":"' + (allDay ? isoDate(s) : isoUtc(s)) + '","end":"' + (allDay ? isoDate(e) : isoUtc(e))
    + '","allDay":' + allDay + ',"timezone":null,"summary":' + str(summary) + ',"location":' + str(location) + ',';
}

const statusTransp = (status: string | null, transp: string | null) => '"status":' + str(status ?? 'CONFIRMED') + ',"transparency":' + str(transp ?? 'OPAQUE') + ',';

export interface FastRow {
  id: string; calendar_id: string; uid: string; etag: string; fs: number | null; le: number | null;
  recurring: boolean; all_day: boolean; floating: boolean; role: string; my_partstat: string | null; status: string | null; transp: string | null;
  class: string | null; summary: string; location: string; has_attachments: boolean; attendee_count: number;
}

/** The same rows as objects.objectsInRange, with times as epoch milliseconds and no attendee list; optionally only some ids. */
export function rangeRows(ctx: AppContext, ownerId: string, calendarIds: string[], from: Date, to: Date, ids?: string[]): Promise<FastRow[]> {
  // floor(): whole milliseconds, as a JavaScript Date of the same timestamp holds (extract() is numeric, exact).
  let q = ctx.db.selectFrom('calendar_object')
    .select(['id', 'calendar_id', 'uid', 'etag', 'recurring', 'all_day', 'floating', 'role', 'my_partstat', 'status', 'transp', 'class', 'summary', 'location', 'has_attachments'])
    .select(sql<number | null>`floor(extract(epoch from first_start) * 1000)::float8`.as('fs'))
    .select(sql<number | null>`floor(extract(epoch from last_end) * 1000)::float8`.as('le'))
    .select(sql<number>`cardinality(attendees)`.as('attendee_count'))
    .where('owner_id', '=', ownerId)
    .where('calendar_id', 'in', calendarIds)
    .where('deleted_at', 'is', null)
    // All-day dates are placed in the viewer's zone (singleItem), so their rows are widened too.
    .where(objects.zonedRangeOverlaps(from, to));
  if (ids) q = q.where('id', 'in', ids);
  return q.execute() as Promise<FastRow[]>;
}

/** The per-object parts of a row's items: head (id … uid), tail (visibility … busyOnly) and whether details are hidden. */
export function rowParts(r: FastRow, cal: { color: string; access: Access }): { head: string; tail: string; hidden: boolean } {
  const hidden = hidesDetails(r, cal.access);
  const editable = (cal.access === 'owner' || cal.access === 'read-write') && r.role !== 'attendee';
  const head = '{"id":' + str(r.id) + ',"calendarId":' + str(r.calendar_id) + ',"uid":' + str(r.uid) + ',';
  const tail = '"visibility":' + str(r.class ?? 'PUBLIC') + ',"color":' + str(cal.color) + ',"myPartstat":' + strOrNull(r.my_partstat)
    + ',"isOrganizer":' + (r.role === 'organizer') + ',"editable":' + editable + ',"recurring":' + r.recurring
    + ',"attendeeCount":' + r.attendee_count + ',"hasAttachments":' + (hidden ? false : r.has_attachments) + (hidden ? ',"busyOnly":true}' : '}');
  return { head, tail, hidden };
}

/**
 * Whether a row's items come from expanding its iCalendar in the viewer's zone: series, and
 * single events with floating times (their index columns are wall times read as UTC).
 */
export const expandsRow = (r: { recurring: boolean; floating: boolean }) => r.recurring || r.floating;

/** The recurrence id an occurrence is listed with: none for a single event (unless it is an orphan override). */
const ridOf = (r: { recurring: boolean }, o: Occurrence) => (r.recurring || o.override ? o.recurrenceId : null);

/**
 * The item of a single (non-recurring, not floating) row if it overlaps [f, t). An all-day row's
 * index columns are its dates at midnight read as UTC; like an all-day occurrence of a series
 * (occurrenceItem) it lasts from midnight to midnight in the viewer's zone (RFC 5545 §3.3.4: a
 * DATE is not tied to a zone), so it is decided by those instants and listed with its own dates.
 */
export function singleItem(r: FastRow, head: string, tail: string, hidden: boolean, f: number, t: number, zone: Zone): Item | null {
  if (r.fs === null) return null;
  const ws = r.fs;
  const we = r.le ?? ws;
  const s = r.all_day ? wallToUtc(ws, zone) : ws;
  const e = r.all_day ? wallToUtc(we, zone) : we;
  // The span index is closed at both ends: drop events that only touch the range's start.
  if (!overlaps(s, e, f, t)) return null;
  const b = middle(null, ws, we, r.all_day, hidden ? '' : r.summary, hidden ? '' : r.location) + statusTransp(r.status, r.transp);
  return { k: sortKey(ws, r.all_day), s, e, id: r.id, rid: null, a: head, b, c: tail };
}

/**
 * The item of one occurrence of a series row. `mid` is its cached middle, if any. An all-day
 * occurrence starts at midnight in the viewer's zone (lib/ical expandCompiled): its dates are the
 * wall dates there, not the UTC dates of those instants (a day early east of UTC).
 */
export function occurrenceItem(r: FastRow, o: Occurrence, head: string, tail: string, hidden: boolean, zone: Zone, mid?: string, ownerEmail?: string): Item {
  const s = o.start.getTime();
  const rid = ridOf(r, o);
  const m = mid ?? occurrenceMiddle(o, rid, zone, hidden);
  return { k: sortKey(o.allDay ? utcToWall(s, zone) : s, o.allDay), s, e: o.end.getTime(), id: r.id, rid, a: head, b: m + statusTransp(o.status ?? r.status, o.transp ?? r.transp), c: answeredTail(r, o, tail, ownerEmail) };
}

/**
 * The tail with the owner's own answer to this occurrence, when it differs from their answer to
 * the series (an attendee who declined one occurrence sees that one declined).
 */
function answeredTail(r: FastRow, o: Occurrence, tail: string, ownerEmail: string | undefined): string {
  const mine = o.answers && ownerEmail && r.role === 'attendee' ? o.answers.get(ownerEmail) : undefined;
  return mine === undefined || mine === r.my_partstat ? tail : tail.replace('"myPartstat":' + strOrNull(r.my_partstat), '"myPartstat":' + str(mine));
}

function occurrenceMiddle(o: Occurrence, rid: string | null, zone: Zone, hidden: boolean): string {
  const s = o.start.getTime();
  const e = o.end.getTime();
  return middle(rid, o.allDay ? utcToWall(s, zone) : s, o.allDay ? utcToWall(e, zone) : e, o.allDay, hidden ? '' : (o.summary ?? ''), hidden ? '' : (o.location ?? ''));
}

/** Items of calendars of one owner in [from, to), straight from the database (no listing memo). */
async function directItems(ctx: AppContext, ownerId: string, list: ListingCalendar[], from: Date, to: Date, tz: string, out: Item[]): Promise<void> {
  const f = from.getTime();
  const t = to.getTime();
  const byId = new Map(list.map((c) => [c.id, c]));
  const zone = zoneOf(tz);
  const rows = await rangeRows(ctx, ownerId, list.map((c) => c.id), from, to);
  const email = (await principals.findPrincipalByIdCached(ctx.db, ownerId))?.email.toLowerCase();
  const pending = rows.filter((r) => expandsRow(r) && !hasExpansion(r.etag, tz, from, to));
  const icals = await objects.icalOf(ctx.db, ownerId, pending.map((r) => r.id));
  for (const r of rows) {
    const { head, tail, hidden } = rowParts(r, byId.get(r.calendar_id)!);
    if (!r.recurring) {
      if (r.floating) {
        for (const o of floatingSingleOccurrences(r.etag, icals.get(r.id) ?? '', from, to, tz)) out.push(occurrenceItem(r, o, head, tail, hidden, zone, undefined, email));
        continue;
      }
      const it = singleItem(r, head, tail, hidden, f, t, zone);
      if (it) out.push(it);
      continue;
    }
    const { occs, idx, json } = seriesIndexed(r.etag, icals.get(r.id) ?? '', from, to, tz);
    for (const i of idx) {
      const o = occs[i];
      // The memoised middle (per content hash and zone) only for visible details.
      const mid = hidden || !json ? undefined : (json[i] ??= occurrenceMiddle(o, o.recurrenceId, zone, false));
      out.push(occurrenceItem(r, o, head, tail, hidden, zone, mid, email));
    }
  }
}

/** The calendars of queries.visibleCalendars (same choice and errors), from one narrow query. */
async function visibleForListing(ctx: AppContext, actor: Actor, ids?: string[]): Promise<ListingCalendar[]> {
  const all = await listingCalendars(ctx.db, actor.userId!);
  if (!ids?.length) return all.filter((c) => !c.hidden || c.owner_id !== actor.userId);
  const want = new Set(ids);
  const picked = all.filter((c) => want.has(c.id));
  if (picked.length !== want.size) throw new DomainError('NOT_FOUND', 'One of the calendars does not exist or is not visible to you');
  return picked;
}

/** An item to write: bytes of a memo's arena, or text (direct path, long and dynamic items). */
interface Piece { k: number; id: string; rid: string | null; buf: Buffer | null; off: number; len: number; text: string }

const OPEN = Buffer.from('{"items":[');
const CLOSE = Buffer.from(']}');

/**
 * A response body as UTF-8 byte chunks to be written in order (views of a memo's arena need no
 * copy: a memo only ever appends to its arena, so the bytes under a view never change).
 */
export interface Body { chunks: Buffer[]; length: number }

/** The whole body as one Buffer (tests, callers that want one piece). */
export const bodyBuffer = (b: Body) => (b.chunks.length === 1 ? b.chunks[0] : Buffer.concat(b.chunks, b.length));

/**
 * The JSON body `{"items":[…]}` of GET /events (UTF-8 bytes): the occurrences in [from, to) of the
 * visible (or chosen) calendars.
 */
export async function listOccurrencesJson(ctx: AppContext, actor: Actor, q: { from: Date; to: Date; calendarIds?: string[] }, tz: string): Promise<Body> {
  const cals = await visibleForListing(ctx, actor, q.calendarIds);
  const f = q.from.getTime();
  const t = q.to.getTime();
  const slices: MemoSlice[] = [];
  const rest = new Map<string, ListingCalendar[]>();
  for (const c of cals) {
    const sl = await memoSlice(ctx, c, tz, f, t);
    if (sl) {
      if (sl.idx.length || sl.extra.length) slices.push(sl);
      continue;
    }
    const list = rest.get(c.owner_id);
    if (list) list.push(c);
    else rest.set(c.owner_id, [c]);
  }
  const direct: Item[] = [];
  for (const [ownerId, list] of rest) await directItems(ctx, ownerId, list, q.from, q.to, tz, direct);
  // The common case: one memoised calendar, short items only — copy runs of the arena.
  if (!direct.length && slices.length === 1 && !slices[0].extra.length) return fromArena(slices[0]);
  if (!slices.length && !direct.length) return { chunks: [OPEN, CLOSE], length: OPEN.length + CLOSE.length };
  const pieces: Piece[] = [];
  for (const sl of slices) {
    const r = sl.short;
    for (const i of sl.idx) pieces.push({ k: r.k[i], id: r.ids[i], rid: r.rids[i], buf: sl.arena, off: r.off[i], len: r.len[i], text: '' });
    for (const it of sl.extra) pieces.push({ k: it.k, id: it.id, rid: it.rid, buf: null, off: 0, len: 0, text: it.a + it.b + it.c });
  }
  let textual = false; // a start outside years 0000–9999: order by the start texts instead
  for (const it of direct) {
    pieces.push({ k: it.k, id: it.id, rid: it.rid, buf: null, off: 0, len: 0, text: it.a + it.b + it.c });
    if (it.s < MIN || it.s > MAX) textual = true;
  }
  if (!textual) {
    pieces.sort((x, y) => x.k - y.k || cmpStr(x.id, y.id) || cmpStr(x.rid, y.rid));
  } else {
    const texts = new Map(pieces.map((p) => [p, startText(p.buf ? p.buf.toString('utf8', p.off, p.off + p.len) : p.text)]));
    pieces.sort((x, y) => { const a = texts.get(x)!; const b = texts.get(y)!; return a < b ? -1 : a > b ? 1 : cmpStr(x.id, y.id) || cmpStr(x.rid, y.rid); });
  }
  let total = OPEN.length + CLOSE.length + Math.max(0, pieces.length - 1);
  for (const p of pieces) total += p.buf ? p.len : (p.len = Buffer.byteLength(p.text, 'utf8'));
  const out = Buffer.allocUnsafe(total);
  let at = OPEN.copy(out, 0);
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i];
    if (i) out[at++] = 0x2c;
    at += p.buf ? p.buf.copy(out, at, p.off, p.off + p.len) : out.write(p.text, at, 'utf8');
  }
  CLOSE.copy(out, at);
  return { chunks: [out], length: out.length };
}

/**
 * The body for one memo slice of short items, as views of the arena (no copy): the arena holds
 * items in listing order, each followed by a comma, so consecutive items that are also adjacent in
 * the arena form one run, written with its commas.
 */
function fromArena(sl: MemoSlice): Body {
  const { idx, arena } = sl;
  const { off, len } = sl.short;
  const chunks: Buffer[] = [OPEN];
  let length = OPEN.length + CLOSE.length;
  let rs = -1;
  let re = -1;
  for (const i of idx) {
    if (off[i] === re + 1 && rs >= 0) {
      re = off[i] + len[i];
      continue;
    }
    // The run so far, with the comma after its last item (another item follows).
    if (rs >= 0) { chunks.push(arena.subarray(rs, re + 1)); length += re + 1 - rs; }
    rs = off[i];
    re = off[i] + len[i];
  }
  if (rs >= 0) { chunks.push(arena.subarray(rs, re)); length += re - rs; }
  chunks.push(CLOSE);
  return { chunks, length };
}

/** The `start` text of an item (rare path: instants beyond year 9999 or before year 0). */
function startText(item: string): string {
  const at = item.indexOf('"start":"') + 9;
  return item.slice(at, item.indexOf('"', at));
}
