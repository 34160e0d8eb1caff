/** Reading events: occurrences in a range across calendars, one event, search, invitations, trash, changes. */
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError, invalid } from '../../domain/errors.js';
import * as principals from '../../store/principals.js';
import * as objects from '../../store/objects.js';
import type { ObjectRow } from '../../store/schema.js';
import { listCalendars } from '../calendars.js';
import { expandSeries, floatingSingleOccurrences, hasExpansion } from './expansions.js';
import { isoDate, isoUtc } from './iso.js';
import type { Occurrence } from '../../lib/ical/index.js';
import { hidesDetails, type Access } from './access.js';
import type { CalendarView } from '../../store/calendars.js';
import { utcToWall, wallToUtc, zoneOf } from '../../lib/ical/zones/zone.js';

export interface OccurrenceJson {
  id: string; calendarId: string; uid: string; recurrenceId: string | null;
  start: string; end: string; allDay: boolean; timezone: string | null;
  summary: string; location: string; status: string; transparency: string; visibility: string;
  color: string; myPartstat: string | null; isOrganizer: boolean; editable: boolean;
  recurring: boolean; attendeeCount: number; hasAttachments: boolean; busyOnly?: boolean;
}

const MAX_RANGE_MS = 400 * 86_400_000;

export function parseRange(from: string, to: string): { from: Date; to: Date } {
  const f = new Date(from);
  const t = new Date(to);
  if (Number.isNaN(f.getTime()) || Number.isNaN(t.getTime())) throw invalid('from and to must be ISO 8601 dates');
  if (t <= f) throw invalid('to must be after from');
  if (t.getTime() - f.getTime() > MAX_RANGE_MS) throw invalid('The range can be at most 400 days');
  return { from: f, to: t };
}


type Row = Pick<ObjectRow, 'id' | 'calendar_id' | 'uid' | 'etag' | 'ical' | 'first_start' | 'last_end' | 'recurring' | 'all_day' | 'floating' | 'role' | 'my_partstat' | 'status' | 'transp' | 'class' | 'summary' | 'location' | 'attendees' | 'has_attachments'>;

/**
 * Occurrences of one row in [from, to). Recurring and floating rows need `occs` (see expandSeries,
 * floatingSingleOccurrences) or their ical: they are expanded in `tz`.
 */
export function occurrencesOf(row: Row, cal: { color: string; access: Access }, from: Date, to: Date, tz: string, occs?: Occurrence[], out: OccurrenceJson[] = [], ownerEmail?: string): OccurrenceJson[] {
  const hidden = hidesDetails(row, cal.access);
  const editable = (cal.access === 'owner' || cal.access === 'read-write') && row.role !== 'attendee';
  const attendeeCount = (row as { attendee_count?: number }).attendee_count ?? row.attendees.length;
  const visibility = row.class ?? 'PUBLIC';
  // One flat literal per occurrence (no spreads): this runs for every item of every listing.
  const make = (recurrenceId: string | null, start: Date, end: Date, allDay: boolean, summary: string | null, location: string | null, status: string | null, transp: string | null, partstat: string | null = row.my_partstat): OccurrenceJson => {
    const s = start.getTime();
    const e = end.getTime();
    const o: OccurrenceJson = {
      id: row.id, calendarId: row.calendar_id, uid: row.uid, recurrenceId,
      start: allDay ? isoDate(s) : isoUtc(s), end: allDay ? isoDate(e) : isoUtc(e), allDay, timezone: null,
      summary: hidden ? '' : (summary ?? ''), location: hidden ? '' : (location ?? ''), status: status ?? 'CONFIRMED', transparency: transp ?? 'OPAQUE',
      visibility, color: cal.color, myPartstat: partstat, isOrganizer: row.role === 'organizer', editable,
      recurring: row.recurring, attendeeCount, hasAttachments: hidden ? false : row.has_attachments,
    };
    if (hidden) o.busyOnly = true;
    return o;
  };
  if (!row.recurring && !row.floating) {
    if (!row.first_start) return out;
    const end = row.last_end ?? row.first_start;
    // All-day dates (stored as midnight read as UTC) last from midnight to midnight in `tz`, as
    // in listing-json.ts singleItem.
    const zone = row.all_day ? zoneOf(tz) : null;
    const s = zone ? wallToUtc(row.first_start.getTime(), zone) : row.first_start.getTime();
    const e = zone ? wallToUtc(end.getTime(), zone) : end.getTime();
    // The span index is closed at both ends: drop events that only touch the range's start.
    if (s >= to.getTime() || (e <= from.getTime() && !(e === s && s >= from.getTime()))) return out;
    out.push(make(null, row.first_start, end, row.all_day, row.summary, row.location, row.status, row.transp));
    return out;
  }
  // All-day occurrences are expanded at midnight in `tz`: their dates are the wall dates there.
  const zone = zoneOf(tz);
  const wall = (d: Date, allDay: boolean) => (allDay ? new Date(utcToWall(d.getTime(), zone)) : d);
  for (const o of occs ?? (row.recurring ? expandSeries : floatingSingleOccurrences)(row.etag, row.ical, from, to, tz)) {
    // The owner's own answer to this occurrence, when it differs from their answer to the series.
    const mine = o.answers && ownerEmail && row.role === 'attendee' ? o.answers.get(ownerEmail) ?? row.my_partstat : row.my_partstat;
    out.push(make(row.recurring || o.override ? o.recurrenceId : null, wall(o.start, o.allDay), wall(o.end, o.allDay), o.allDay, o.summary, o.location, o.status ?? row.status, o.transp ?? row.transp, mine));
  }
  return out;
}

function groupByOwner(cals: CalendarView[] | (CalendarView & { access: Access })[]) {
  const m = new Map<string, (CalendarView & { access: Access })[]>();
  for (const c of cals as (CalendarView & { access: Access })[]) {
    const list = m.get(c.owner_id) ?? [];
    list.push(c);
    m.set(c.owner_id, list);
  }
  return m;
}

export async function visibleCalendars(ctx: AppContext, actor: Actor, ids?: string[]) {
  const all = (await listCalendars(ctx, actor)) as (CalendarView & { access: Access })[];
  if (!ids?.length) return all.filter((c) => !c.hidden || c.owner_id !== actor.userId);
  const want = new Set(ids);
  const picked = all.filter((c) => want.has(c.id));
  if (picked.length !== want.size) throw new DomainError('NOT_FOUND', 'One of the calendars does not exist or is not visible to you');
  return picked;
}

/** An owner's address, lower-case (their answers to single occurrences are looked up by it). */
async function ownerEmailOf(ctx: AppContext, ownerId: string): Promise<string | undefined> {
  return (await principals.findPrincipalByIdCached(ctx.db, ownerId))?.email.toLowerCase();
}

export async function listOccurrences(ctx: AppContext, actor: Actor, q: { from: Date; to: Date; calendarIds?: string[] }, tz: string): Promise<OccurrenceJson[]> {
  const cals = await visibleCalendars(ctx, actor, q.calendarIds);
  const out: OccurrenceJson[] = [];
  for (const [ownerId, list] of groupByOwner(cals)) {
    const byId = new Map(list.map((c) => [c.id, c]));
    const rows = await objects.objectsInRange(ctx.db, ownerId, list.map((c) => c.id), q.from, q.to);
    const email = await ownerEmailOf(ctx, ownerId);
    // Recurring series: memoised expansions; fetch iCalendar only for the ones not memoised.
    const pending = rows.filter((r) => (r.recurring || r.floating) && !hasExpansion(r.etag, tz, q.from, q.to));
    const texts = await objects.icalOf(ctx.db, ownerId, pending.map((r) => r.id));
    for (const r of rows) {
      const occs = r.recurring ? expandSeries(r.etag, texts.get(r.id) ?? '', q.from, q.to, tz)
        : r.floating ? floatingSingleOccurrences(r.etag, texts.get(r.id) ?? '', q.from, q.to, tz) : undefined;
      occurrencesOf(r as unknown as Row, byId.get(r.calendar_id)!, q.from, q.to, tz, occs, out, email);
    }
  }
  // By start text, then id and recurrence id (null first): the order GET /events writes (listing-json.ts).
  const cmp = (x: string | null, y: string | null) => (x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : 1);
  out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : cmp(a.id, b.id) || cmp(a.recurrenceId, b.recurrenceId)));
  return out;
}

export async function searchEvents(ctx: AppContext, actor: Actor, q: { text: string; from: Date | null; to: Date | null }, tz: string): Promise<OccurrenceJson[]> {
  const text = q.text.trim();
  if (text.length < 2) throw invalid('Search for at least 2 characters');
  const cals = (await visibleCalendars(ctx, actor)).filter((c) => c.access !== 'freebusy');
  const out: OccurrenceJson[] = [];
  const from = q.from ?? new Date(Date.now() - 366 * 86_400_000);
  const to = q.to ?? new Date(Date.now() + 366 * 86_400_000);
  for (const [ownerId, list] of groupByOwner(cals)) {
    const email = await ownerEmailOf(ctx, ownerId);
    const byId = new Map(list.map((c) => [c.id, c]));
    const rows = await objects.searchObjects(ctx.db, ownerId, list.map((c) => c.id), text, q.from, q.to);
    for (const r of rows) {
      const cal = byId.get(r.calendar_id)!;
      if (hidesDetails(r, cal.access)) continue;
      const occ = occurrencesOf(r, cal, from, to, tz, undefined, [], email);
      // A series shows once, at its next (or last) occurrence in the range.
      const now = new Date().toISOString();
      const pick = occ.find((o) => o.end >= now) ?? occ.at(-1);
      if (pick) out.push(pick);
    }
  }
  return out.sort((a, b) => (a.start < b.start ? -1 : 1)).slice(0, 200);
}

export async function invitations(ctx: AppContext, actor: Actor, tz: string): Promise<OccurrenceJson[]> {
  const rows = await ctx.db.selectFrom('calendar_object').selectAll().where('owner_id', '=', actor.userId!).where('deleted_at', 'is', null)
    // Not over yet: floating rows (RFC 5545 §3.3.5) within FLOAT_MARGIN_MS, decided below in the viewer's zone.
    .where('role', '=', 'attendee').where('my_partstat', '=', 'NEEDS-ACTION').where(objects.rangeBounds(new Date(), null))
    .where((eb) => eb.or([eb('status', 'is', null), eb('status', '!=', 'CANCELLED')]))
    .orderBy('first_start').limit(200).execute();
  const cals = new Map((await listCalendars(ctx, actor)).map((c) => [c.id, c]));
  const now = new Date();
  const email = await ownerEmailOf(ctx, actor.userId!);
  return rows.flatMap((r) => {
    const cal = cals.get(r.calendar_id);
    if (!cal) return [];
    // Expand from the series' own start when it lies further ahead than the 400-day window. A
    // floating start is a wall time read as UTC: its instant in `tz` may be up to FLOAT_MARGIN_MS
    // earlier (starting there would drop an event east of UTC that ends within that margin).
    const start = r.first_start && r.floating ? new Date(r.first_start.getTime() - objects.FLOAT_MARGIN_MS) : r.first_start;
    const from = start && start > now ? start : now;
    const occ = occurrencesOf(r, { color: cal.color, access: 'owner' }, from, new Date(from.getTime() + 400 * 86_400_000), tz, undefined, [], email);
    return occ.length ? [occ[0]] : [];
  });
}
