/**
 * Free/busy (flow 1, step 1) and "find a time". Busy time of internal users and rooms, honouring
 * TRANSP, cancelled and declined events, tentative answers, recurrences and exceptions. Only
 * periods leave this module — never titles (RFC 5545 §3.6.4 VFREEBUSY semantics).
 */
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import { invalid } from '../../domain/errors.js';
import * as principals from '../../store/principals.js';
import type { PrincipalRow, WorkingHours } from '../../store/schema.js';
import { compiledFor } from './compiled-cache.js';
import { expandCompiled } from '../../lib/ical/expand.js';
import { utcToZoned, zonedToUtc, type CompiledSeries } from '../../lib/ical/index.js';

export type BusyType = 'BUSY' | 'BUSY-TENTATIVE' | 'BUSY-UNAVAILABLE';
export interface Period { start: number; end: number; type: BusyType }

const RANK: Record<BusyType, number> = { 'BUSY-TENTATIVE': 1, BUSY: 2, 'BUSY-UNAVAILABLE': 3 };

/** Merges overlapping periods; where they overlap the stronger type wins. Pure. */
export function mergePeriods(input: Period[]): Period[] {
  const points = [...input].filter((p) => p.end > p.start).sort((a, b) => a.start - b.start);
  if (!points.length) return [];
  // Sweep over boundaries keeping the strongest active type.
  const bounds = [...new Set(points.flatMap((p) => [p.start, p.end]))].sort((a, b) => a - b);
  const out: Period[] = [];
  for (let i = 0; i < bounds.length - 1; i++) {
    const a = bounds[i];
    const b = bounds[i + 1];
    let best: BusyType | null = null;
    for (const p of points) {
      if (p.start > a) break;
      if (p.end > a && (!best || RANK[p.type] > RANK[best])) best = p.type;
    }
    if (!best) continue;
    const last = out.at(-1);
    if (last && last.end === a && last.type === best) last.end = b;
    else out.push({ start: a, end: b, type: best });
  }
  return out;
}

/** The owner's PARTSTAT on each overridden instance (RECURRENCE-ID key → PARTSTAT). */
function overrideAnswers(compiled: CompiledSeries, email: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, o] of compiled.overrides) {
    for (const a of o.comp.getAllProperties('attendee')) {
      if (String(a.getFirstValue()).replace(/^mailto:/i, '').trim().toLowerCase() !== email) continue;
      const p = a.getParameter('partstat');
      out.set(key, typeof p === 'string' ? p.toUpperCase() : 'NEEDS-ACTION');
    }
  }
  return out;
}

/** Busy periods of one principal's calendars in [from, to). */
export async function busyOf(ctx: AppContext, who: PrincipalRow, from: Date, to: Date, excludeUid?: string): Promise<Period[]> {
  const rows = await ctx.db.selectFrom('calendar_object')
    .select(['uid', 'etag', 'recurring', 'first_start', 'last_end', 'status', 'transp', 'my_partstat', 'all_day'])
    .select(sql<string>`case when recurring then ical else '' end`.as('ical'))
    .where('owner_id', '=', who.id).where('deleted_at', 'is', null).where('component', '=', 'VEVENT')
    .where((eb) => eb.or([eb('first_start', '<', to), eb('first_start', 'is', null)]))
    .where((eb) => eb.or([eb('last_end', '>', from), eb('last_end', 'is', null)]))
    .execute();
  const out: Period[] = [];
  const me = who.email.toLowerCase();
  for (const r of rows) {
    if (r.uid === excludeUid) continue;
    const typeFor = (partstat: string | null, status: string | null): BusyType => (partstat === 'TENTATIVE' || status === 'TENTATIVE' ? 'BUSY-TENTATIVE' : 'BUSY');
    if (!r.recurring) {
      if (r.my_partstat === 'DECLINED' || r.status === 'CANCELLED' || r.transp === 'TRANSPARENT' || !r.first_start) continue;
      out.push({ start: r.first_start.getTime(), end: (r.last_end ?? r.first_start).getTime(), type: typeFor(r.my_partstat, r.status) });
      continue;
    }
    let compiled;
    let occs;
    try {
      compiled = compiledFor(r.etag, r.ical);
      occs = expandCompiled(compiled, from, to, { defaultTz: who.timezone, limit: 5000 });
    } catch { continue; }
    // An answer can differ per occurrence (declined one instance of an accepted series, or the reverse).
    const ownAnswer = overrideAnswers(compiled, me);
    for (const o of occs) {
      const partstat = (o.override ? ownAnswer.get(o.recurrenceId) : undefined) ?? r.my_partstat;
      if (partstat === 'DECLINED' || (o.status ?? r.status) === 'CANCELLED' || (o.transp ?? r.transp) === 'TRANSPARENT') continue;
      out.push({ start: o.start.getTime(), end: o.end.getTime(), type: typeFor(partstat, o.status ?? r.status) });
    }
  }
  return mergePeriods(out.map((p) => ({ ...p, start: Math.max(p.start, from.getTime()), end: Math.min(p.end, to.getTime()) })));
}

export interface FreeBusyItem {
  email: string; name?: string; kind?: string; timezone?: string; workingHours?: WorkingHours;
  busy: { start: string; end: string; type: BusyType }[]; error?: string;
}

/** Any signed-in user of the organisation may see colleagues' and rooms' busy times (no details). */
export async function freeBusy(ctx: AppContext, actor: Actor, emails: string[], from: Date, to: Date): Promise<FreeBusyItem[]> {
  if (emails.length > 200) throw invalid('At most 200 attendees per free/busy request');
  void actor;
  const out: FreeBusyItem[] = [];
  for (const raw of emails) {
    const email = raw.trim().toLowerCase();
    const p = await principals.findPrincipalByEmail(ctx.db, email);
    if (!p || p.kind === 'group' || p.disabled) {
      out.push({ email, busy: [], error: p?.kind === 'group' ? 'GROUP' : 'UNKNOWN' });
      continue;
    }
    const busy = await busyOf(ctx, p, from, to);
    out.push({
      email, name: p.name, kind: p.kind, timezone: p.timezone, workingHours: p.working_hours as WorkingHours,
      busy: busy.map((b) => ({ start: new Date(b.start).toISOString(), end: new Date(b.end).toISOString(), type: b.type })),
    });
  }
  return out;
}

/** Working-hours windows of one person in [from, to), as instants. */
export function workingWindows(wh: WorkingHours, tz: string, from: Date, to: Date): Period[] {
  const out: Period[] = [];
  const [sh, sm] = wh.start.split(':').map(Number);
  const [eh, em] = wh.end.split(':').map(Number);
  const startLocal = utcToZoned(new Date(from.getTime() - 86_400_000), tz);
  let day = Date.UTC(startLocal.year, startLocal.month - 1, startLocal.day);
  const last = to.getTime() + 86_400_000;
  for (; day <= last; day += 86_400_000) {
    const d = new Date(day);
    if (!wh.days.includes(d.getUTCDay())) continue;
    const parts = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
    const s = zonedToUtc({ ...parts, hour: sh, minute: sm, second: 0 }, tz).getTime();
    const e = zonedToUtc({ ...parts, hour: eh, minute: em, second: 0 }, tz).getTime();
    const a = Math.max(s, from.getTime());
    const b = Math.min(e, to.getTime());
    if (b > a) out.push({ start: a, end: b, type: 'BUSY' });
  }
  return out;
}

/**
 * The first `count` slots of `durationMinutes` when every required person is free, inside each
 * person's working hours (rooms have none), on a 15-minute grid. Pure over its inputs.
 */
export function findSlots(people: { busy: Period[]; windows: Period[] | null }[], from: Date, to: Date, durationMinutes: number, count: number): { start: number; end: number }[] {
  const step = 15 * 60_000;
  const dur = durationMinutes * 60_000;
  const slots: { start: number; end: number }[] = [];
  let t = Math.ceil(from.getTime() / step) * step;
  const inside = (ws: Period[], a: number, b: number) => ws.some((w) => w.start <= a && w.end >= b);
  const free = (bs: Period[], a: number, b: number) => !bs.some((x) => x.start < b && x.end > a);
  while (t + dur <= to.getTime() && slots.length < count) {
    const a = t;
    const b = t + dur;
    let ok = true;
    for (const p of people) {
      if ((p.windows && !inside(p.windows, a, b)) || !free(p.busy, a, b)) { ok = false; break; }
    }
    if (ok) {
      slots.push({ start: a, end: b });
      t = b;
    } else t += step;
  }
  return slots;
}

export async function findTime(ctx: AppContext, actor: Actor, input: { attendees: string[]; rooms?: string[]; durationMinutes: number; from: Date; to: Date; count?: number }) {
  if (input.durationMinutes < 5 || input.durationMinutes > 24 * 60) throw invalid('durationMinutes must be between 5 and 1440');
  if (input.to.getTime() - input.from.getTime() > 62 * 86_400_000) throw invalid('Search at most two months ahead');
  const me = await principals.findPrincipalById(ctx.db, actor.userId!);
  const emails = [...new Set([...(me ? [me.email] : []), ...input.attendees].map((e) => e.toLowerCase()))];
  const people: { busy: Period[]; windows: Period[] | null }[] = [];
  for (const e of emails) {
    const p = await principals.findPrincipalByEmail(ctx.db, e);
    if (!p || p.kind === 'group') continue; // external people: their time is unknown
    const busy = await busyOf(ctx, p, input.from, input.to);
    people.push({ busy, windows: p.kind === 'room' ? null : workingWindows(p.working_hours as WorkingHours, p.timezone, input.from, input.to) });
  }
  const roomLists = input.rooms?.length ? input.rooms : [null];
  const results: { start: string; end: string; room?: string }[] = [];
  for (const roomEmail of roomLists) {
    let extra: { busy: Period[]; windows: null }[] = [];
    if (roomEmail) {
      const r = await principals.findPrincipalByEmail(ctx.db, roomEmail);
      if (!r || r.kind !== 'room') throw invalid(`${roomEmail} is not a room`);
      extra = [{ busy: await busyOf(ctx, r, input.from, input.to), windows: null }];
    }
    for (const s of findSlots([...people, ...extra], input.from, input.to, input.durationMinutes, input.count ?? 5)) {
      results.push({ start: new Date(s.start).toISOString(), end: new Date(s.end).toISOString(), ...(roomEmail ? { room: roomEmail } : {}) });
    }
  }
  results.sort((a, b) => (a.start < b.start ? -1 : 1));
  return results.slice(0, input.count ?? 5);
}
