/**
 * Reading DATE / DATE-TIME / PERIOD property values as wall-clock times with
 * their zone, and the recurrence-id key format used across Calendula:
 *  - all-day series:   "YYYYMMDD"
 *  - floating series:  "YYYYMMDDTHHMMSS" (no Z; local time wherever you are)
 *  - zoned/UTC series: "YYYYMMDDTHHMMSSZ" (the UTC instant, ISO basic form)
 */
import ICAL from 'ical.js';
import { UTC_ZONE, utcToWall, wallToUtc, type Zone } from './zones/zone.js';
import type { ZoneContext } from './zones/resolve.js';

/** A date or date-time as written: wall clock + zone (null zone = floating). */
export interface TimeValue {
  wall: number;
  isDate: boolean;
  zone: Zone | null;
}

export const DAY_MS = 86_400_000;

/** Wall ms of an ICAL.Time's fields. */
export function wallOf(t: ICAL.Time): number {
  const d = new Date(0);
  d.setUTCFullYear(t.year, t.month - 1, t.day);
  d.setUTCHours(t.isDate ? 0 : t.hour, t.isDate ? 0 : t.minute, t.isDate ? 0 : t.second, 0);
  return d.getTime();
}

function isUtcTime(t: ICAL.Time): boolean {
  return !t.isDate && (t.zone === ICAL.Timezone.utcTimezone || t.zone?.tzid === 'UTC');
}

/** Convert one ICAL.Time (with the TZID parameter of its property) to a TimeValue. */
export function timeValue(t: ICAL.Time, tzid: string | null, ctx: ZoneContext): TimeValue {
  if (!Number.isFinite(t.year) || t.year < 1 || t.year > 9999) throw new Error(`date out of range: ${t.toString()}`);
  const wall = wallOf(t);
  if (t.isDate) return { wall, isDate: true, zone: null };
  if (isUtcTime(t)) return { wall, isDate: false, zone: UTC_ZONE };
  if (tzid !== null) return { wall, isDate: false, zone: ctx.resolve(tzid).zone };
  return { wall, isDate: false, zone: null };
}

/** The first value of a DATE/DATE-TIME property as a TimeValue, or null if absent. */
export function propTime(comp: ICAL.Component, name: string, ctx: ZoneContext): TimeValue | null {
  const p = comp.getFirstProperty(name);
  if (!p) return null;
  const v = p.getFirstValue() as unknown;
  if (!(v instanceof ICAL.Time)) return null;
  return timeValue(v, tzidOf(p), ctx);
}

/** The TZID parameter of a property, or null. */
export function tzidOf(p: ICAL.Property): string | null {
  const v = p.getParameter('tzid');
  return typeof v === 'string' ? v : Array.isArray(v) ? String(v[0] ?? '') : null;
}

/** The instant of a TimeValue; floating and DATE values are read in `floatZone`. */
export function instantOf(tv: TimeValue, floatZone: Zone): number {
  return wallToUtc(tv.wall, tv.zone ?? floatZone);
}

/** Wall ms of a TimeValue as seen in another zone (null = keep the wall as written). */
export function wallIn(tv: TimeValue, zone: Zone | null, floatZone: Zone): number {
  if (tv.isDate || tv.zone === null || zone === null || tv.zone === zone) return tv.wall;
  return utcToWall(wallToUtc(tv.wall, tv.zone), zone);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** "YYYYMMDD" of a wall ms. */
export function basicDate(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`;
}
/** "YYYYMMDDTHHMMSS" of a wall ms (append Z for UTC instants). */
export function basicDateTime(ms: number): string {
  const d = new Date(ms);
  return `${basicDate(ms)}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
}

/** ISO "YYYY-MM-DDTHH:mm:ss" (or "YYYY-MM-DD") of a wall ms. */
export function isoLocal(ms: number, dateOnly = false): string {
  const s = new Date(ms).toISOString();
  return dateOnly ? s.slice(0, 10) : s.slice(0, 19);
}

/** Parse a recurrence-id key back to wall/instant ms. */
export function parseKey(key: string): { ms: number; kind: 'date' | 'floating' | 'utc' } {
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$/.exec(key.trim());
  if (!m) throw new Error(`bad recurrence id ${key}`);
  const d = new Date(0);
  d.setUTCFullYear(+m[1], +m[2] - 1, +m[3]);
  d.setUTCHours(m[4] ? +m[4] : 0, m[5] ? +m[5] : 0, m[6] ? +m[6] : 0, 0);
  return { ms: d.getTime(), kind: !m[4] ? 'date' : m[7] ? 'utc' : 'floating' };
}

/** Nominal + exact duration: days are added on the wall clock, ms exactly. */
export interface Span {
  days: number;
  ms: number;
}

/** Span of an ICAL.Duration (weeks/days nominal, hours/minutes/seconds exact). */
export function spanOfDuration(d: ICAL.Duration): Span {
  const sign = d.isNegative ? -1 : 1;
  return { days: sign * (d.weeks * 7 + d.days), ms: sign * ((d.hours * 60 + d.minutes) * 60 + d.seconds) * 1000 };
}

/** Lowercased address without the mailto: scheme (null if empty). */
export function addressOf(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const s = String(value).trim().replace(/^mailto:/i, '').trim().toLowerCase();
  return s || null;
}
