import { sql } from 'kysely';
/**
 * Free/busy (flow 1, step 1) and "find a time". Busy time of internal users and rooms, honouring
 * TRANSP, cancelled and declined events, tentative answers, recurrences and exceptions. Only
 * periods leave this module — never titles (RFC 5545 §3.6.4 VFREEBUSY semantics).
 */
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { invalid } from '../../domain/errors.js';
import * as principals from '../../store/principals.js';
import { zonedRangeOverlaps } from '../../store/objects.js';
import { wallToUtc, zoneOf, type Zone } from '../../lib/ical/zones/zone.js';
import type { PrincipalRow, WorkingHours } from '../../store/schema.js';
import { compiledCached } from './compiled-cache.js';
import { isoUtc } from './iso.js';
import { WeightedLru } from '../../lib/weighted-lru.js';
import { EXPAND_AHEAD_MS, expandSeries, floatingSingleOccurrences, seriesWindow } from './expansions.js';
import { compileResource, type CompiledSeries, type Occurrence } from '../../lib/ical/index.js';
import { RANK, beginEdges, eachClipped, findSlots, pushEdges, sweepEdges, workingWindows, type BusyType, type Period } from './busy-periods.js';

/**
 * A room's booking it has not answered yet (NEEDS-ACTION: a 'manual' room's pending request) is
 * tentative, not busy (RFC 5545 §3.2.9 FBTYPE=BUSY-TENTATIVE): it does not keep another booking out.
 */
const typeFor = (partstat: string | null, status: string | null, room = false): BusyType => (partstat === 'TENTATIVE' || status === 'TENTATIVE' || (room && partstat === 'NEEDS-ACTION') ? 'BUSY-TENTATIVE' : 'BUSY');

interface SeriesRow { etag: string; status: string | null; transp: string | null; my_partstat: string | null }

/**
 * Busy time of one recurring series for one person, memoised: the occurrences that count
 * (not declined, cancelled or transparent) as (start, end, rank) triples sorted by start, over the
 * window of the series' memoised expansion. Keyed by everything the result depends on: the
 * content hash, the zone floating times are read in, the person (their answers on overridden
 * instances) and the row's own answer, status and transparency. Bounded by the numbers held.
 */
interface SeriesBusy { from: number; to: number; d: Float64Array }
const MEMO_MAX_NUMBERS = 600_000; // ≈ 4.8 MB of triples (≈ 10,000 series of 20 occurrences)
const seriesBusyMemo = new WeightedLru<string, SeriesBusy>(MEMO_MAX_NUMBERS, (e) => e.d.length);

const busyKey = (r: SeriesRow, me: string, tz: string, room: boolean) => `${r.etag}|${tz}|${me}|${room ? 'r' : ''}|${r.my_partstat}|${r.status}|${r.transp}`;

/** `me`'s answer on an overridden instance is the override's (lib/ical compile: CompiledOverride.answers), else the series'. */
function seriesTriples(r: SeriesRow, occs: readonly Occurrence[], me: string, room: boolean): Float64Array {
  const d = new Float64Array(occs.length * 3);
  let n = 0;
  for (const o of occs) {
    const partstat = (o.override ? o.answers?.get(me) : undefined) ?? r.my_partstat;
    const status = o.status ?? r.status;
    if (partstat === 'DECLINED' || status === 'CANCELLED' || (o.transp ?? r.transp) === 'TRANSPARENT') continue;
    d[n++] = o.start.getTime();
    d[n++] = o.end.getTime();
    d[n++] = RANK[typeFor(partstat, status, room)];
  }
  return n === d.length ? d : d.slice(0, n);
}

/** The memoised busy triples of a series covering [from, to), computing them from `ical` when needed. */
function seriesBusyOf(r: SeriesRow, ical: string | undefined, me: string, tz: string, from: Date, to: Date, room = false): Float64Array | SeriesBusy | null {
  const key = busyKey(r, me, tz, room);
  const f = from.getTime();
  const t = to.getTime();
  const hit = seriesBusyMemo.get(key);
  if (hit && hit.from <= f && hit.to >= t) return hit;
  if (!ical) return null;
  // The memo below is all later requests need, so the expansion itself is not memoised.
  const w = seriesWindow(r.etag, ical, from, to, tz, { memo: false });
  if (!w) {
    // Too dense to memoise: this range only.
    const occs = expandSeries(r.etag, ical, from, to, tz);
    return seriesTriples(r, occs, me, room);
  }
  const e: SeriesBusy = { from: w.from, to: w.to, d: seriesTriples(r, w.occs, me, room) };
  seriesBusyMemo.set(key, e);
  return e;
}

/** Whether the busy time of this series over [from, to) is memoised (its iCalendar is not needed). */
function hasSeriesBusy(r: SeriesRow, me: string, tz: string, from: Date, to: Date, room = false): boolean {
  const hit = seriesBusyMemo.get(busyKey(r, me, tz, room));
  return !!hit && hit.from <= from.getTime() && hit.to >= to.getTime();
}

/** Pushes the edges of the triples overlapping [f, t), clipped to it. */
function pushTriples(d: Float64Array, f: number, t: number) {
  // Binary search for the first start ≥ f − 40 days (instances rarely last longer), then scan.
  let lo = 0;
  let hi = d.length / 3;
  const back = f - 40 * 86_400_000;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (d[mid * 3] < back) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo * 3; i < d.length; i += 3) {
    const s = d[i];
    if (s >= t) break;
    const e = d[i + 1];
    if (e <= f) continue;
    pushEdges(Math.round(Math.max(s, f)), Math.round(Math.min(e, t)), d[i + 2]);
  }
}

/**
 * Busy periods of several principals in [from, to): one query for all of them (span index) that
 * returns only times and flags — events that never count (declined, cancelled, transparent) are
 * filtered out by the database —, the iCalendar of recurring series fetched only when their busy
 * time is not memoised, and one packed-edge merge per person.
 */
export async function busyOfMany(ctx: AppContext, who: PrincipalRow[], from: Date, to: Date, excludeUid?: string, rangeOnly?: Set<string>): Promise<Map<string, Period[]>> {
  const result = new Map<string, Period[]>(who.map((w) => [w.id, []]));
  if (!who.length) return result;
  const byId = new Map(who.map((w) => [w.id, w]));
  // Rooms: a booking not answered yet is tentative (typeFor).
  const rooms = who.filter((w) => w.kind === 'room').map((w) => w.id);
  // Times as epoch milliseconds (float8): no timestamp text parsing for thousands of rows. The
  // series columns are sent only for recurring rows. RFC 5545 §3.8.2.7 (TRANSP), §3.8.1.11
  // (STATUS) and RFC 5546 §3.2.3 (a DECLINED attendee is not busy) decide what counts.
  let q = ctx.db.selectFrom('calendar_object')
    .select(['owner_id', 'recurring'])
    // All-day dates, like floating times, are placed in the person's zone (RFC 5545 §3.3.4/§3.3.5).
    .select(['floating', 'all_day'])
    .select(sql<number | null>`extract(epoch from first_start) * 1000`.as('fs'))
    .select(sql<number | null>`extract(epoch from last_end) * 1000`.as('le'))
    .select(sql<boolean>`(my_partstat is not distinct from 'TENTATIVE' or status is not distinct from 'TENTATIVE' or (my_partstat = 'NEEDS-ACTION' and role = 'attendee' and owner_id = any(${rooms}::uuid[])))`.as('tent'))
    .select(sql<string | null>`case when recurring or floating then id end`.as('id'))
    .select(sql<string | null>`case when recurring or floating then etag end`.as('etag'))
    .select(sql<string | null>`case when recurring then my_partstat end`.as('my_partstat'))
    .select(sql<string | null>`case when recurring then status end`.as('status'))
    .select(sql<string | null>`case when recurring then transp end`.as('transp'))
    .where('owner_id', 'in', who.map((w) => w.id)).where('deleted_at', 'is', null).where('component', '=', 'VEVENT')
    .where(zonedRangeOverlaps(from, to))
    .where(sql<boolean>`(recurring or (my_partstat is distinct from 'DECLINED' and status is distinct from 'CANCELLED' and transp is distinct from 'TRANSPARENT'))`);
  if (excludeUid !== undefined) q = q.where('uid', '!=', excludeUid);
  const rows = await q.execute();
  const emailOf = new Map(who.map((w) => [w.id, w.email.toLowerCase()]));
  // Single events with floating times are expanded in the person's zone (their index columns are
  // wall times read as UTC): their iCalendar is always read (rare rows).
  const need = rows.filter((r) => (!r.recurring && r.floating) || r.recurring && !hasSeriesBusy(r as SeriesRow, emailOf.get(r.owner_id)!, byId.get(r.owner_id)!.timezone, from, to, byId.get(r.owner_id)!.kind === 'room'));
  const texts = new Map<string, string>();
  if (need.length) {
    for (const x of await ctx.db.selectFrom('calendar_object').select(['id', 'ical']).where('owner_id', 'in', [...new Set(need.map((r) => r.owner_id))]).where('id', 'in', need.map((r) => r.id!)).execute()) texts.set(x.id, x.ical);
  }
  // Rows grouped by owner, then one merge per owner over the shared edge buffer.
  const byOwner = new Map<string, typeof rows>();
  for (const r of rows) {
    const list = byOwner.get(r.owner_id);
    if (list) list.push(r);
    else byOwner.set(r.owner_id, [r]);
  }
  const f = from.getTime();
  const t = to.getTime();
  for (const [ownerId, list] of byOwner) {
    const w = byId.get(ownerId)!;
    const me = emailOf.get(ownerId)!;
    let zone: Zone | undefined;
    beginEdges();
    for (const r of list) {
      if (!r.recurring && r.floating) {
        for (const o of floatingSingleOccurrences(r.etag!, texts.get(r.id!) ?? '', from, to, w.timezone)) {
          pushEdges(Math.round(Math.max(o.start.getTime(), f)), Math.round(Math.min(o.end.getTime(), t)), r.tent ? 1 : 2);
        }
        continue;
      }
      if (!r.recurring) {
        if (r.fs === null) continue;
        let s = Number(r.fs);
        let e = r.le === null ? s : Number(r.le);
        if (r.all_day) {
          // An all-day day is midnight to midnight in the person's zone (its columns are the dates at 00:00 UTC).
          zone ??= zoneOf(w.timezone);
          s = wallToUtc(s, zone);
          e = wallToUtc(e, zone);
          if (e <= f || s >= t) continue;
        }
        pushEdges(Math.round(Math.max(s, f)), Math.round(Math.min(e, t)), r.tent ? 1 : 2);
        continue;
      }
      const b = seriesBusyOf(r as SeriesRow, texts.get(r.id!), me, w.timezone, from, to, w.kind === 'room');
      // A bare array is a dense series expanded for [from, to) only (with a cap on its count).
      if (b instanceof Float64Array) rangeOnly?.add(ownerId);
      if (b) pushTriples(b instanceof Float64Array ? b : b.d, f, t);
    }
    result.set(ownerId, sweepEdges());
  }
  return result;
}

/*
 * Busy time per person, memoised over a wide window (a year back, two ahead, or the request's
 * range if wider) and sliced per request. Merging then clipping to [from, to) gives the same
 * periods as clipping then merging: the sweep decides each instant on its own, and clipping a
 * maximal run of one type leaves a maximal run. An entry is used only while the person's
 * calendars are unchanged: every write to calendar_object advances its calendar's sync_seq (the
 * RFC 6578 sync token) in the same statement or right after the row write (store/objects.ts,
 * objects-bulk.ts), so a different "id:sync_seq" list means a changed (or added/removed) calendar.
 * The list is read BEFORE the rows, so a stored entry is never older than its signature. Zone and
 * address are part of the key (floating times; the person's answers on overridden instances).
 */
interface PersonBusy { sig: string; from: number; to: number; d: Float64Array }
const PERSON_MAX_NUMBERS = 1_500_000; // ≈ 12 MB of (start, end, rank) triples
const personMemo = new WeightedLru<string, PersonBusy>(PERSON_MAX_NUMBERS, (e) => e.d.length + 16);
const YEAR = 366 * 86_400_000;

/** "calendar id:sync_seq,…" per owner: changes whenever any of the owner's objects does. */
async function calendarSignatures(ctx: AppContext, ownerIds: string[]): Promise<Map<string, string>> {
  const rows = await ctx.db.selectFrom('calendar').select(['owner_id', 'id', 'sync_seq']).where('owner_id', 'in', ownerIds).orderBy('owner_id').orderBy('id').execute();
  const out = new Map<string, string>();
  for (const r of rows) out.set(r.owner_id, (out.has(r.owner_id) ? out.get(r.owner_id) + ',' : '') + r.id + ':' + r.sync_seq);
  return out;
}

/** The periods of `d` (merged triples sorted by start) overlapping [f, t), clipped to it. */
function slicePeriods(d: Float64Array, f: number, t: number): Period[] {
  const out: Period[] = [];
  eachClipped(d, f, t, (start, end, type) => out.push({ start, end, type }));
  return out;
}

/**
 * Per person: the memo entry covering [from, to) when the person's calendars are unchanged
 * (one small query for all signatures), else computed over the wide window and memoised —
 * or, for ranges reaching outside the window and people with a series too dense to memoise, the
 * periods of [from, to) computed for the range only.
 */
async function busyEntries(ctx: AppContext, who: PrincipalRow[], from: Date, to: Date): Promise<Map<string, PersonBusy | Period[]>> {
  const result = new Map<string, PersonBusy | Period[]>();
  if (!who.length) return result;
  const f = from.getTime();
  const t = to.getTime();
  const now = Date.now();
  const wf = Math.min(f, now - YEAR);
  const wt = Math.max(t, now + EXPAND_AHEAD_MS);
  if (wt - wf > 4 * YEAR) return busyOfMany(ctx, who, from, to);
  const sigs = await calendarSignatures(ctx, [...new Set(who.map((w) => w.id))]);
  const keyOf = (w: PrincipalRow) => `${w.id}|${w.timezone}|${w.email.toLowerCase()}`;
  const missing: PrincipalRow[] = [];
  for (const w of who) {
    if (result.has(w.id) || missing.includes(w)) continue;
    const hit = personMemo.get(keyOf(w));
    if (hit && hit.sig === (sigs.get(w.id) ?? '') && hit.from <= f && hit.to >= t) result.set(w.id, hit);
    else missing.push(w);
  }
  // A few people per query: the wide window holds years of rows, and one query for everyone
  // would hold all of them (and their periods) at once.
  for (let i = 0; i < missing.length; i += 8) {
    const batch = missing.slice(i, i + 8);
    const rangeOnly = new Set<string>();
    const wide = await busyOfMany(ctx, batch, new Date(wf), new Date(wt), undefined, rangeOnly);
    const narrow = rangeOnly.size ? await busyOfMany(ctx, batch.filter((w) => rangeOnly.has(w.id)), from, to) : null;
    for (const w of batch) {
      if (narrow?.has(w.id)) {
        result.set(w.id, narrow.get(w.id)!);
        continue;
      }
      const periods = wide.get(w.id)!;
      const d = new Float64Array(periods.length * 3);
      periods.forEach((p, k) => { d[k * 3] = p.start; d[k * 3 + 1] = p.end; d[k * 3 + 2] = RANK[p.type]; });
      const e: PersonBusy = { sig: sigs.get(w.id) ?? '', from: wf, to: wt, d };
      personMemo.set(keyOf(w), e);
      result.set(w.id, e);
    }
  }
  return result;
}

/** busyOfMany for free/busy and find-a-time: the same periods, from the per-person memo where it can. */
export async function busyOfManyCached(ctx: AppContext, who: PrincipalRow[], from: Date, to: Date): Promise<Map<string, Period[]>> {
  const f = from.getTime();
  const t = to.getTime();
  const out = new Map<string, Period[]>();
  for (const [id, e] of await busyEntries(ctx, who, from, to)) out.set(id, Array.isArray(e) ? e : slicePeriods(e.d, f, t));
  return out;
}

/** One busy period as the JSON text the REST schema serialiser writes for {start, end, type}. */
const periodJson = (s: number, e: number, type: string) => '{"start":"' + isoUtc(s) + '","end":"' + isoUtc(e) + '","type":"' + type + '"}';

/** The JSON array text of the busy periods in [f, t) of a memo entry (or of a computed list). */
function busyArrayJson(e: PersonBusy | Period[], f: number, t: number): string {
  const parts: string[] = [];
  if (Array.isArray(e)) for (const p of e) parts.push(periodJson(p.start, p.end, p.type));
  else eachClipped(e.d, f, t, (s, en, type) => parts.push(periodJson(s, en, type)));
  return '[' + parts.join(',') + ']';
}

/** Busy periods of one principal's calendars in [from, to). */
export async function busyOf(ctx: AppContext, who: PrincipalRow, from: Date, to: Date, excludeUid?: string): Promise<Period[]> {
  return (await busyOfMany(ctx, [who], from, to, excludeUid)).get(who.id)!;
}

export interface FreeBusyItem {
  email: string; name?: string; kind?: string; timezone?: string; workingHours?: WorkingHours;
  busy: { start: string; end: string; type: BusyType }[]; error?: string;
}

/** The asked addresses (deduplicated, lower-case), who they are, and those with a calendar to read (not groups, not disabled). */
async function freeBusyPeople(ctx: AppContext, emails: string[]) {
  if (emails.length > 200) throw invalid('At most 200 attendees per free/busy request');
  const list = [...new Set(emails.map((e) => e.trim().toLowerCase()))];
  const found = await principals.resolveAddresses(ctx.db, list);
  const usable = [...found.values()].filter((p) => p.kind !== 'group' && !p.disabled);
  return { list, found, usable };
}

/** Any signed-in user of the organisation may see colleagues' and rooms' busy times (no details). */
export async function freeBusy(ctx: AppContext, actor: Actor, emails: string[], from: Date, to: Date): Promise<FreeBusyItem[]> {
  void actor;
  const { list, found, usable } = await freeBusyPeople(ctx, emails);
  const busyById = await busyOfManyCached(ctx, usable, from, to);
  const out: FreeBusyItem[] = [];
  for (const email of list) {
    const p = found.get(email);
    if (!p || p.kind === 'group' || p.disabled) {
      out.push({ email, busy: [], error: p?.kind === 'group' ? 'GROUP' : 'UNKNOWN' });
      continue;
    }
    const busy = busyById.get(p.id)!;
    out.push({
      email, name: p.name, kind: p.kind, timezone: p.timezone, workingHours: p.working_hours as WorkingHours,
      busy: busy.map((b) => ({ start: isoUtc(b.start), end: isoUtc(b.end), type: b.type })),
    });
  }
  return out;
}

/**
 * The body `{"items":[…]}` of POST /api/v1/freebusy as text: the same bytes the route's schema
 * serialiser writes for `{ items: freeBusy(…) }` (test: freebusy-memo.test.ts), without an object
 * and two ISO strings per period in between — 50 people over a month are ~14,000 periods.
 */
export async function freeBusyJson(ctx: AppContext, actor: Actor, emails: string[], from: Date, to: Date): Promise<string> {
  void actor;
  const { list, found, usable } = await freeBusyPeople(ctx, emails);
  const entries = await busyEntries(ctx, usable, from, to);
  const f = from.getTime();
  const t = to.getTime();
  const items: string[] = [];
  const str = (x: string) => JSON.stringify(x);
  for (const email of list) {
    const p = found.get(email);
    if (!p || p.kind === 'group' || p.disabled) {
      items.push('{"email":' + str(email) + ',"busy":[],"error":' + str(p?.kind === 'group' ? 'GROUP' : 'UNKNOWN') + '}');
      continue;
    }
    // The schema serialiser writes the required properties (email, busy) first. name, kind,
    // timezone and working_hours are NOT NULL columns.
    items.push('{"email":' + str(email) + ',"busy":' + busyArrayJson(entries.get(p.id)!, f, t)
      + ',"name":' + str(p.name) + ',"kind":' + str(p.kind) + ',"timezone":' + str(p.timezone)
      + ',"workingHours":' + JSON.stringify(p.working_hours) + '}');
  }
  return '{"items":[' + items.join(',') + ']}';
}

export async function findTime(ctx: AppContext, actor: Actor, input: { attendees: string[]; rooms?: string[]; durationMinutes: number; from: Date; to: Date; count?: number }) {
  if (input.durationMinutes < 5 || input.durationMinutes > 24 * 60) throw invalid('durationMinutes must be between 5 and 1440');
  if (input.to.getTime() - input.from.getTime() > 62 * 86_400_000) throw invalid('Search at most two months ahead');
  const me = await principals.findPrincipalById(ctx.db, actor.userId!);
  const emails = [...new Set([...(me ? [me.email] : []), ...input.attendees].map((e) => e.toLowerCase()))];
  const roomEmails = [...new Set((input.rooms ?? []).map((e) => e.toLowerCase()))];
  const found = await principals.resolveAddresses(ctx.db, [...emails, ...roomEmails]);
  for (const r of roomEmails) if (found.get(r)?.kind !== 'room') throw invalid(`${r} is not a room`);
  // A group stands for its members (as when it is invited: commands.ts expands it); external
  // people's time is unknown here.
  const byId = new Map<string, PrincipalRow>();
  for (const e of emails) {
    const p = found.get(e);
    if (!p || p.disabled) continue;
    if (p.kind !== 'group') byId.set(p.id, p);
    else for (const m of await principals.groupMembers(ctx.db, p.id)) if (m.kind !== 'group' && !m.disabled) byId.set(m.id, m);
  }
  const known = [...byId.values()];
  const busyById = await busyOfManyCached(ctx, [...known, ...roomEmails.map((r) => found.get(r)!)], input.from, input.to);
  const people = known.map((p) => ({ busy: busyById.get(p.id)!, windows: p.kind === 'room' ? null : workingWindows(p.working_hours as WorkingHours, p.timezone, input.from, input.to) }));
  const roomLists = roomEmails.length ? roomEmails : [null];
  const results: { start: string; end: string; room?: string }[] = [];
  for (const roomEmail of roomLists) {
    const extra = roomEmail ? [{ busy: busyById.get(found.get(roomEmail)!.id)!, windows: null }] : [];
    for (const s of findSlots([...people, ...extra], input.from, input.to, input.durationMinutes, input.count ?? 5)) {
      results.push({ start: new Date(s.start).toISOString(), end: new Date(s.end).toISOString(), ...(roomEmail ? { room: roomEmail } : {}) });
    }
  }
  results.sort((a, b) => (a.start < b.start ? -1 : 1));
  return results.slice(0, input.count ?? 5);
}
