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
import { spanOverlaps } from '../../store/objects.js';
import type { PrincipalRow, WorkingHours } from '../../store/schema.js';
import { compiledFor } from './compiled-cache.js';
import { expandSeries, hasExpansion } from './expansions.js';
import { utcToZoned, zonedToUtc, type CompiledSeries } from '../../lib/ical/index.js';

export type BusyType = 'BUSY' | 'BUSY-TENTATIVE' | 'BUSY-UNAVAILABLE';
export interface Period { start: number; end: number; type: BusyType }

const RANK: Record<BusyType, number> = { 'BUSY-TENTATIVE': 1, BUSY: 2, 'BUSY-UNAVAILABLE': 3 };

/** Merges overlapping periods; where they overlap the stronger type wins. Pure. */
export function mergePeriods(input: Period[]): Period[] {
  // Sweep over start/end boundaries, counting how many periods of each type are open; between
  // two boundaries the strongest open type wins. O(n log n).
  const edges: [number, number, number][] = []; // [time, +1|-1, rank]
  for (const p of input) if (p.end > p.start) edges.push([p.start, 1, RANK[p.type]], [p.end, -1, RANK[p.type]]);
  if (!edges.length) return [];
  edges.sort((x, y) => x[0] - y[0]);
  const open = [0, 0, 0, 0];
  const byRank: BusyType[] = ['BUSY', 'BUSY-TENTATIVE', 'BUSY', 'BUSY-UNAVAILABLE'];
  const out: Period[] = [];
  let i = 0;
  while (i < edges.length) {
    const t = edges[i][0];
    for (; i < edges.length && edges[i][0] === t; i++) open[edges[i][2]] += edges[i][1];
    if (i >= edges.length) break;
    const next = edges[i][0];
    const rank = open[3] > 0 ? 3 : open[2] > 0 ? 2 : open[1] > 0 ? 1 : 0;
    if (!rank) continue;
    const type = byRank[rank];
    const last = out.at(-1);
    if (last && last.end === t && last.type === type) last.end = next;
    else out.push({ start: t, end: next, type });
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

/** Per-occurrence answers of one person in a series (overrides), by content hash. */
const answersMemo = new Map<string, Map<string, string>>();
const MEMO_MAX = 20_000;

function answersOf(etag: string, ical: string | undefined, me: string): Map<string, string> | null {
  const key = `${etag}|${me}`;
  const hit = answersMemo.get(key);
  if (hit) return hit;
  if (!ical) return null;
  let m: Map<string, string>;
  try { m = overrideAnswers(compiledFor(etag, ical), me); } catch { m = new Map(); }
  answersMemo.set(key, m);
  if (answersMemo.size > MEMO_MAX) answersMemo.delete(answersMemo.keys().next().value!);
  return m;
}

/** Busy periods of one recurring series for one person in [from, to). */
function seriesBusy(r: { etag: string; status: string | null; transp: string | null; my_partstat: string | null }, ical: string | undefined, me: string, tz: string, from: Date, to: Date): Period[] {
  const ownAnswer = answersOf(r.etag, ical, me) ?? new Map<string, string>();
  const out: Period[] = [];
  for (const o of expandSeries(r.etag, ical ?? '', from, to, tz)) {
    const partstat = (o.override ? ownAnswer.get(o.recurrenceId) : undefined) ?? r.my_partstat;
    if (partstat === 'DECLINED' || (o.status ?? r.status) === 'CANCELLED' || (o.transp ?? r.transp) === 'TRANSPARENT') continue;
    out.push({ start: o.start.getTime(), end: o.end.getTime(), type: typeFor(partstat, o.status ?? r.status) });
  }
  return out;
}

const typeFor = (partstat: string | null, status: string | null): BusyType => (partstat === 'TENTATIVE' || status === 'TENTATIVE' ? 'BUSY-TENTATIVE' : 'BUSY');

/**
 * Busy periods of several principals in [from, to): one query for all of them (span index), the
 * iCalendar of recurring series fetched only when their busy time is not memoised.
 */
export async function busyOfMany(ctx: AppContext, who: PrincipalRow[], from: Date, to: Date, excludeUid?: string): Promise<Map<string, Period[]>> {
  const result = new Map<string, Period[]>(who.map((w) => [w.id, []]));
  if (!who.length) return result;
  const byId = new Map(who.map((w) => [w.id, w]));
  // Times as epoch milliseconds (float8): no timestamp text parsing for thousands of rows.
  const rows = await ctx.db.selectFrom('calendar_object')
    .select(['id', 'owner_id', 'uid', 'etag', 'recurring', 'status', 'transp', 'my_partstat'])
    .select(sql<number | null>`extract(epoch from first_start) * 1000`.as('fs'))
    .select(sql<number | null>`extract(epoch from last_end) * 1000`.as('le'))
    .where('owner_id', 'in', who.map((w) => w.id)).where('deleted_at', 'is', null).where('component', '=', 'VEVENT')
    .where(spanOverlaps(from, to))
    .execute();
  const need = rows.filter((r) => {
    if (!r.recurring || r.uid === excludeUid) return false;
    const w = byId.get(r.owner_id)!;
    return !hasExpansion(r.etag, w.timezone, from, to) || !answersMemo.has(`${r.etag}|${w.email.toLowerCase()}`);
  });
  const texts = new Map<string, string>();
  if (need.length) {
    for (const x of await ctx.db.selectFrom('calendar_object').select(['id', 'ical']).where('owner_id', 'in', [...new Set(need.map((r) => r.owner_id))]).where('id', 'in', need.map((r) => r.id)).execute()) texts.set(x.id, x.ical);
  }
  for (const r of rows) {
    if (r.uid === excludeUid) continue;
    const out = result.get(r.owner_id)!;
    if (!r.recurring) {
      if (r.my_partstat === 'DECLINED' || r.status === 'CANCELLED' || r.transp === 'TRANSPARENT' || r.fs === null) continue;
      const start = Number(r.fs);
      out.push({ start, end: r.le === null ? start : Number(r.le), type: typeFor(r.my_partstat, r.status) });
      continue;
    }
    const w = byId.get(r.owner_id)!;
    out.push(...seriesBusy(r, texts.get(r.id), w.email.toLowerCase(), w.timezone, from, to));
  }
  for (const [id, list] of result) {
    result.set(id, mergePeriods(list.map((p) => ({ ...p, start: Math.max(p.start, from.getTime()), end: Math.min(p.end, to.getTime()) }))));
  }
  return result;
}

/** Busy periods of one principal's calendars in [from, to). */
export async function busyOf(ctx: AppContext, who: PrincipalRow, from: Date, to: Date, excludeUid?: string): Promise<Period[]> {
  return (await busyOfMany(ctx, [who], from, to, excludeUid)).get(who.id)!;
}

export interface FreeBusyItem {
  email: string; name?: string; kind?: string; timezone?: string; workingHours?: WorkingHours;
  busy: { start: string; end: string; type: BusyType }[]; error?: string;
}

/** Any signed-in user of the organisation may see colleagues' and rooms' busy times (no details). */
export async function freeBusy(ctx: AppContext, actor: Actor, emails: string[], from: Date, to: Date): Promise<FreeBusyItem[]> {
  if (emails.length > 200) throw invalid('At most 200 attendees per free/busy request');
  void actor;
  const list = [...new Set(emails.map((e) => e.trim().toLowerCase()))];
  const found = await principals.resolveAddresses(ctx.db, list);
  const usable = [...found.values()].filter((p) => p.kind !== 'group' && !p.disabled);
  const busyById = await busyOfMany(ctx, usable, from, to);
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
  const roomEmails = [...new Set((input.rooms ?? []).map((e) => e.toLowerCase()))];
  const found = await principals.resolveAddresses(ctx.db, [...emails, ...roomEmails]);
  for (const r of roomEmails) if (found.get(r)?.kind !== 'room') throw invalid(`${r} is not a room`);
  // external people and groups: their time is unknown here
  const known = emails.map((e) => found.get(e)).filter((p): p is PrincipalRow => !!p && p.kind !== 'group');
  const busyById = await busyOfMany(ctx, [...known, ...roomEmails.map((r) => found.get(r)!)], input.from, input.to);
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
