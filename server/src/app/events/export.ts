/** Export of a calendar (or a range) as one iCalendar file, and the REST change feed (changes since a sync token). */
import ICAL from 'ical.js';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { DomainError } from '../../domain/errors.js';
import * as objects from '../../store/objects.js';
import { expand, parseCalendar, serializeComponent } from '../../lib/ical/index.js';
import { wallToUtc, zoneOf, type Zone } from '../../lib/ical/zones/zone.js';
import { calendarFor } from '../calendars.js';

/**
 * Whether a floating or all-day row (RFC 5545 §3.3.5, §3.3.4: first_start/last_end are its wall
 * times, or its dates at midnight, read as UTC)
 * starts before `to` and ends after `from` when its wall times are read in `zone` — the bounds the
 * export applies to every other row's index columns (the span of a series, like theirs).
 */
function floatingInRange(r: { first_start: Date | null; last_end: Date | null }, range: { from: Date; to: Date }, zone: Zone): boolean {
  if (r.first_start && wallToUtc(r.first_start.getTime(), zone) >= range.to.getTime()) return false;
  if (r.last_end && wallToUtc(r.last_end.getTime(), zone) <= range.from.getTime()) return false;
  return true;
}

/**
 * One VCALENDAR with every object of the calendar (optionally only those overlapping a range).
 * Floating and all-day events are placed in the range by their wall time in `tz` (the zone the request names,
 * else the user's): the SQL bounds are widened for them (objects.rangeBounds), then decided exactly.
 */
export async function exportCalendar(ctx: AppContext, actor: Actor, calendarId: string, range?: { from: Date | null; to: Date | null }, tz = 'UTC'): Promise<{ name: string; text: string }> {
  const cal = await calendarFor(ctx, actor, calendarId);
  if (cal.access === 'freebusy') throw new DomainError('FORBIDDEN', 'You can only see when this calendar is busy');
  let q = ctx.db.selectFrom('calendar_object').select(['ical', 'class', 'floating', 'all_day', 'first_start', 'last_end', 'recurring']).where('owner_id', '=', cal.owner_id).where('calendar_id', '=', cal.id).where('deleted_at', 'is', null);
  if (range) q = q.where(objects.rangeBounds(range.from, range.to));
  let rows = await q.execute();
  // Open ends of a range: far enough for any stored event (the index keeps years 1–9999).
  const bounds = range ? { from: range.from ?? new Date(Date.UTC(1, 0, 1)), to: range.to ?? new Date(Date.UTC(9999, 11, 31)) } : undefined;
  if (bounds) {
    const zone = zoneOf(tz);
    rows = rows.filter((r) => !(r.floating || r.all_day) || floatingInRange(r, bounds, zone));
  }
  const out = new ICAL.Component('vcalendar');
  out.addPropertyWithValue('version', '2.0');
  out.addPropertyWithValue('prodid', '-//Calendula//Calendula//EN');
  out.addPropertyWithValue('x-wr-calname', cal.name);
  const zones = new Map<string, string>();
  for (const r of rows) {
    if (cal.access !== 'owner' && (r.class === 'PRIVATE' || r.class === 'CONFIDENTIAL')) continue;
    const c = parseCalendar(r.ical);
    // A series spans its first to its last occurrence: it is exported only when one of its
    // occurrences (RFC 5545 §3.8.5: RRULE, RDATE, EXDATE and overrides) falls in the range.
    if (bounds && r.recurring && !expand(c, bounds.from, bounds.to, { limit: 1, defaultTz: tz }).length) continue;
    // A copy: addSubcomponent detaches the child from its old parent, which would shift the live
    // array and skip the component right after each VTIMEZONE (events with zones were lost).
    // One VTIMEZONE per TZID in the file (RFC 5545 §3.6.5). Outlook names different zones alike
    // ("Customized Time Zone"): a definition that differs from the one already written under its
    // TZID is renamed, with the TZID parameters of this resource, so no event is read in another's zone.
    for (const zone of c.getAllSubcomponents('vtimezone')) {
      const id = String(zone.getFirstPropertyValue('tzid'));
      const text = zone.toString();
      if (!zones.has(id) || zones.get(id) === text) continue;
      let n = 2;
      while (zones.has(`${id} (${n})`) && zones.get(`${id} (${n})`) !== text.replace(`TZID:${id}`, `TZID:${id} (${n})`)) n++;
      renameTzid(c, id, `${id} (${n})`);
    }
    for (const sub of [...c.getAllSubcomponents()]) {
      if (sub.name === 'vtimezone') {
        const id = String(sub.getFirstPropertyValue('tzid'));
        if (zones.has(id)) continue;
        zones.set(id, sub.toString());
      }
      out.addSubcomponent(sub);
    }
  }
  return { name: cal.name, text: serializeComponent(out) };
}

/** Renames a time zone in one resource: its VTIMEZONE's TZID and every TZID parameter naming it. */
function renameTzid(c: ICAL.Component, from: string, to: string): void {
  for (const sub of c.getAllSubcomponents()) {
    if (sub.name === 'vtimezone') {
      if (String(sub.getFirstPropertyValue('tzid')) === from) sub.updatePropertyWithValue('tzid', to);
      continue;
    }
    const visit = (comp: ICAL.Component) => {
      for (const p of comp.getAllProperties()) if (p.getParameter('tzid') === from) p.setParameter('tzid', to);
      for (const child of comp.getAllSubcomponents()) visit(child);
    };
    visit(sub);
  }
}

export async function changesSince(ctx: AppContext, actor: Actor, calendarId: string, since: string | undefined, limit = 1000) {
  const cal = await calendarFor(ctx, actor, calendarId);
  if (cal.access === 'freebusy') throw new DomainError('FORBIDDEN', 'You can only see when this calendar is busy');
  const current = String(cal.sync_seq);
  // Tokens as the calendar listing hands them out ("<calendar id>:<seq>") are accepted too.
  if (since && since.includes(':')) {
    const [calPart, seq] = since.split(':');
    if (calPart.toLowerCase() !== cal.id.toLowerCase()) throw new DomainError('INVALID_SYNC_TOKEN', 'This sync token belongs to another calendar; sync again from the start');
    since = seq;
  }
  if (!since) {
    const rows = await ctx.db.selectFrom('calendar_object').select(['id', 'uid', 'name']).where('owner_id', '=', cal.owner_id).where('calendar_id', '=', cal.id).where('deleted_at', 'is', null).execute();
    return { changes: rows.map((r) => ({ id: r.id, uid: r.uid, name: r.name, kind: 'put' as const })), syncToken: current, more: false };
  }
  if (!/^\d{1,18}$/.test(since) || BigInt(since) > BigInt(current)) throw new DomainError('INVALID_SYNC_TOKEN', 'This sync token is not valid for this calendar; sync again from the start');
  const rows = await objects.changesSince(ctx.db, cal.owner_id, cal.id, since, limit + 1);
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  const latest = new Map<string, (typeof page)[number]>();
  // REST clients key events by id: the last change of each object (a name deleted and written
  // again is two objects, the old one deleted).
  for (const r of page) latest.set(r.object_id, r);
  const token = more ? page[page.length - 1].seq : current;
  return { changes: [...latest.values()].map((r) => ({ id: r.object_id, uid: r.uid, name: r.name, kind: r.kind })), syncToken: String(token), more };
}
