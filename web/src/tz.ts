// Time-zone arithmetic with Intl only. The calendar grid runs FullCalendar in 'UTC' mode and is fed
// "wall times" of the user's zone, so the grid shows the user's zone whatever the browser's is.

const fmtCache = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string) {
  let f = fmtCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    fmtCache.set(tz, f);
  }
  return f;
}

const offCache = new Map<string, number>();
/** Offset of `tz` from UTC at the instant `ms`, in milliseconds. */
export function offsetMs(ms: number, tz: string): number {
  if (tz === 'UTC' || tz === 'Etc/UTC') return 0;
  // Zone transitions fall on whole quarter hours: memoise per zone and 15-minute bucket.
  const k = tz + '|' + Math.floor(ms / 900000);
  let o = offCache.get(k);
  if (o === undefined) {
    if (offCache.size > 20000) offCache.clear();
    o = offsetRaw(Math.floor(ms / 900000) * 900000, tz);
    offCache.set(k, o);
  }
  return o;
}
function offsetRaw(ms: number, tz: string): number {
  const p: Record<string, number> = {};
  for (const part of fmt(tz).formatToParts(new Date(ms))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour === 24 ? 0 : p.hour, p.minute, p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** UTC instant (ISO or ms) → wall time "YYYY-MM-DDTHH:mm:ss" in `tz`. */
export function toWall(instant: string | number | Date, tz: string): string {
  const ms = typeof instant === 'number' ? instant : new Date(instant).getTime();
  return new Date(ms + offsetMs(ms, tz)).toISOString().slice(0, 19);
}

/** Wall time in `tz` → UTC Date (the earlier instant when ambiguous; shifted forward in a gap). */
export function fromWall(wall: string, tz: string): Date {
  const w = wall.length === 10 ? wall + 'T00:00:00' : wall.slice(0, 19);
  const asUtc = Date.parse(w + 'Z');
  let guess = asUtc - offsetMs(asUtc, tz);
  const o2 = offsetMs(guess, tz);
  guess = asUtc - o2;
  return new Date(guess);
}

/** A UTC-coerced Date (as FullCalendar gives in 'UTC' mode) → wall string. */
export const dateToWall = (d: Date) => d.toISOString().slice(0, 19);
export const dateToDay = (d: Date) => d.toISOString().slice(0, 10);
/** Wall string → UTC-coerced Date for FullCalendar. */
export const wallToDate = (w: string) => new Date((w.length === 10 ? w + 'T00:00:00' : w.slice(0, 19)) + 'Z');

export function nowWall(tz: string): Date { return wallToDate(toWall(Date.now(), tz)); }

export function browserZone(): string {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
}

export function allZones(): string[] {
  const anyIntl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  try { return anyIntl.supportedValuesOf ? anyIntl.supportedValuesOf('timeZone') : ['UTC', 'Europe/Moscow']; } catch { return ['UTC']; }
}

export function addMinutesWall(wall: string, minutes: number): string {
  return dateToWall(new Date(wallToDate(wall).getTime() + minutes * 60000));
}
export function addDaysDay(day: string, days: number): string {
  return dateToDay(new Date(wallToDate(day).getTime() + days * 86400000));
}
