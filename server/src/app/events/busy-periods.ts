/**
 * Busy periods as numbers, pure: merging overlapping periods (the strongest type wins), slicing a
 * merged list to a range, working-hours windows and the slot search of "find a time". The I/O —
 * which events make whom busy — is in freebusy.ts.
 */
import type { WorkingHours } from '../../store/schema.js';
import { utcToZoned, zonedToUtc } from '../../lib/ical/index.js';

export type BusyType = 'BUSY' | 'BUSY-TENTATIVE' | 'BUSY-UNAVAILABLE';
export interface Period { start: number; end: number; type: BusyType }

export const RANK: Record<BusyType, number> = { 'BUSY-TENTATIVE': 1, BUSY: 2, 'BUSY-UNAVAILABLE': 3 };
export const BY_RANK: BusyType[] = ['BUSY', 'BUSY-TENTATIVE', 'BUSY', 'BUSY-UNAVAILABLE'];

/*
 * Merging works on "edges" packed into one float each: time × 8 + rank × 2 + (1 for a start, 0 for
 * an end). Times are whole milliseconds (|t| < 2^49), so the packed value is exact and a plain
 * numeric sort of a Float64Array orders the edges by time without a comparator or one array per
 * edge — free/busy of 50 people over a month handles ~15,000 edges per request.
 */
let scratch = new Float64Array(4096);
let used = 0;

/** Starts a new set of edges (pushEdges … sweepEdges). */
export function beginEdges(): void {
  used = 0;
}

export function pushEdges(s: number, e: number, rank: number) {
  if (!(e > s)) return;
  if (used + 2 > scratch.length) {
    const bigger = new Float64Array(scratch.length * 2);
    bigger.set(scratch.subarray(0, used));
    scratch = bigger;
  }
  scratch[used++] = s * 8 + rank * 2 + 1;
  scratch[used++] = e * 8 + rank * 2;
}

/** Sweeps the edges pushed since beginEdges: between two edge times the strongest open type wins. Resets the set. */
export function sweepEdges(): Period[] {
  const out: Period[] = [];
  if (!used) return out;
  const edges = scratch.subarray(0, used).sort();
  const open = [0, 0, 0, 0];
  let last: Period | null = null;
  let i = 0;
  while (i < used) {
    const t = Math.floor(edges[i] / 8);
    for (; i < used; i++) {
      const v = edges[i];
      const et = Math.floor(v / 8);
      if (et !== t) break;
      const code = v - et * 8;
      open[code >> 1] += code & 1 ? 1 : -1;
    }
    if (i >= used) break;
    const next = Math.floor(edges[i] / 8);
    const rank = open[3] > 0 ? 3 : open[2] > 0 ? 2 : open[1] > 0 ? 1 : 0;
    if (!rank) continue;
    const type = BY_RANK[rank];
    if (last && last.end === t && last.type === type) last.end = next;
    else out.push((last = { start: t, end: next, type }));
  }
  used = 0;
  return out;
}

/** Merges overlapping periods; where they overlap the stronger type wins. Pure. O(n log n). */
export function mergePeriods(input: Period[]): Period[] {
  beginEdges();
  for (const p of input) pushEdges(Math.round(p.start), Math.round(p.end), RANK[p.type]);
  return sweepEdges();
}

/**
 * Calls `each` for every period of `d` — merged (start, end, rank) triples sorted by start —
 * overlapping [f, t), clipped to it. Merged periods do not overlap, so their ends are sorted
 * too: a binary search finds the first end after f.
 */
export function eachClipped(d: Float64Array, f: number, t: number, each: (start: number, end: number, type: BusyType) => void): void {
  let lo = 0;
  let hi = d.length / 3;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (d[mid * 3 + 1] <= f) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo * 3; i < d.length && d[i] < t; i += 3) {
    const s = Math.max(d[i], f);
    const e = Math.min(d[i + 1], t);
    if (e > s) each(s, e, BY_RANK[d[i + 2]]);
  }
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
