/**
 * Fast recurrence expansion. RRULEs are expanded by rrule-temporal in "wall
 * clock as UTC" space, so wall-clock times are preserved across DST in the
 * event's zone; each wall time is then turned into an instant in the series'
 * zone (nonexistent local times move forward by the gap, RFC 5545 §3.3.5 — the
 * behaviour of Outlook/Google, rather than dropping the instance).
 */
import ICAL from 'ical.js';
import { RRuleTemporal } from 'rrule-temporal';
import { IcalError, asIcalError } from './errors.js';
import { compileResource, seriesKey, type CompiledComponent, type CompiledOverride, type CompiledSeries } from './compile.js';
import { DAY_MS, basicDate, isoLocal, type Span } from './values.js';
import { ianaZone, wallToUtc, type Zone } from './zones/zone.js';

/** Options for expansion. */
export interface ExpandOptions {
  /** IANA zone for floating and all-day times (default UTC). */
  defaultTz?: string;
  /** Maximum number of occurrences returned (default 10 000). */
  limit?: number;
}

/** One occurrence of a resource. */
export interface Occurrence {
  uid: string;
  /** Recurrence-id key: "YYYYMMDDTHHMMSSZ", "YYYYMMDD" (all-day) or "YYYYMMDDTHHMMSS" (floating). */
  recurrenceId: string;
  start: Date;
  end: Date;
  allDay: boolean;
  floating: boolean;
  /** True when a RECURRENCE-ID component supplies this occurrence. */
  override: boolean;
  status: string | null;
  transp: string | null;
  summary: string | null;
  location: string | null;
  /** An override's answers that differ from the series' (CompiledOverride.answers). */
  answers?: ReadonlyMap<string, string>;
}

const HOUR = 3_600_000;
const UNIT_MS: Record<string, number> = { SECONDLY: 1000, MINUTELY: 60_000, HOURLY: HOUR };
const rules = new WeakMap<CompiledSeries, RRuleTemporal | null>();

const zdt = (wall: number) => ({ timeZoneId: 'UTC', toString: () => `${isoLocal(wall)}+00:00[UTC]` });

/** The rrule-temporal rule of a series (cached), in wall-clock space. */
export function ruleOf(s: CompiledSeries): RRuleTemporal | null {
  let r = rules.get(s);
  if (r !== undefined) return r;
  r = null;
  if (s.rule && s.master) {
    const p = s.rule;
    const build = (includeDtstart: boolean) =>
      new RRuleTemporal({
        freq: p.freq, interval: p.interval, count: p.count,
        until: s.untilWall !== null ? zdt(s.untilWall) : undefined,
        byDay: p.byDay, byMonthDay: p.byMonthDay, byMonth: p.byMonth, byYearDay: p.byYearDay,
        byWeekNo: p.byWeekNo, bySetPos: p.bySetPos, byHour: p.byHour, byMinute: p.byMinute, bySecond: p.bySecond,
        wkst: p.wkst, dtstart: zdt(s.master!.start.wall), includeDtstart, tzid: 'UTC',
      });
    try {
      // includeDtstart disables rrule-temporal's fast paths, so DTSTART is added by the caller
      // instead — except with COUNT, where a DTSTART off the pattern counts (RFC 5545 §3.8.5.3).
      r = build(false);
      if (p.count !== undefined && !r.matches(new Date(s.master.start.wall))) r = build(true);
    } catch (e) {
      throw asIcalError(e, 'INVALID_RRULE', 'Invalid RRULE');
    }
  }
  rules.set(s, r);
  return r;
}

function spanMs(sp: Span): number {
  return sp.days * DAY_MS + sp.ms;
}

/** Rule wall times in [wallFrom, wallTo], chunked for sub-daily rules so `limit` bounds the work. */
function ruleWalls(s: CompiledSeries, wallFrom: number, wallTo: number, limit: number): number[] {
  const r = ruleOf(s);
  if (!r) return s.master ? [s.master.start.wall] : [];
  const from = Math.max(wallFrom, s.master!.start.wall);
  const to = s.untilWall !== null ? Math.min(wallTo, s.untilWall) : wallTo;
  if (to < from) return [];
  const unit = UNIT_MS[s.rule!.freq];
  try {
    if (!unit) return r.between(new Date(from), new Date(to), true).map((z) => z.epochMilliseconds);
    const out: number[] = [];
    const chunk = Math.max(unit * s.rule!.interval * 64, HOUR);
    let guard = 0;
    for (let a = from; a <= to && out.length < limit && guard++ < 20_000; a += chunk + 1) {
      for (const z of r.between(new Date(a), new Date(Math.min(to, a + chunk)), true)) out.push(z.epochMilliseconds);
    }
    return out;
  } catch (e) {
    throw asIcalError(e, 'INVALID_RRULE', 'Cannot expand RRULE');
  }
}

/** Start/end instants of a component starting at `wall` (series wall clock) in `zone`. */
function instants(wall: number, span: Span, zone: Zone): [number, number] {
  const start = wallToUtc(wall, zone);
  const end = span.days ? wallToUtc(wall + span.days * DAY_MS, zone) + span.ms : start + span.ms;
  return [start, end];
}

function occ(s: CompiledSeries, c: CompiledComponent, key: string, start: number, end: number, override: boolean): Occurrence {
  return {
    uid: s.uid, recurrenceId: key, start: new Date(start), end: new Date(end), allDay: s.allDay, floating: s.floating,
    override, status: c.status, transp: c.transp, summary: c.summary, location: c.location, answers: (c as CompiledOverride).answers,
  };
}

/** Expand a compiled series into occurrences overlapping [from, to). */
export function expandCompiled(s: CompiledSeries, from: Date, to: Date, opts: ExpandOptions = {}): Occurrence[] {
  const limit = opts.limit ?? 10_000;
  const floatZone = ianaZone(opts.defaultTz ?? 'UTC');
  const seriesZone = s.zone ?? floatZone;
  const f = from.getTime();
  const t = to.getTime();
  const overlaps = (a: number, b: number) => a < t && (b > f || (b === a && a >= f));
  const out: Occurrence[] = [];
  if (s.master) {
    const m = s.master;
    const margin = 15 * HOUR + DAY_MS + Math.max(spanMs(m.span), ...s.rdates.map((r) => (r.span ? spanMs(r.span) : 0)));
    const walls = ruleWalls(s, f - margin, t + 15 * HOUR + DAY_MS, limit * 2);
    if (m.start.wall >= f - margin && m.start.wall <= t + 15 * HOUR + DAY_MS) walls.push(m.start.wall); // DTSTART is always an instance
    for (const r of s.rdates) if (r.wall >= f - margin && r.wall <= t + 15 * HOUR + DAY_MS) walls.push(r.wall);
    const seen = new Set<string>();
    const rdateSpans = new Map(s.rdates.filter((r) => r.span).map((r) => [r.wall, r.span!]));
    for (const wall of walls) {
      const key = seriesKey(s, wall);
      if (seen.has(key)) continue;
      seen.add(key);
      if (s.exKeys.has(key) || (s.exDates.size && s.exDates.has(basicDate(wall))) || s.overrides.has(key)) continue;
      let comp: CompiledComponent = m;
      let w = wall;
      let span = rdateSpans.get(wall) ?? m.span;
      for (const tf of s.futureOverrides) {
        if (tf.ridWall > wall) break;
        comp = tf;
        span = tf.span;
        w = wall + (tf.start.isDate === m.start.isDate ? startWallIn(s, tf, floatZone) - tf.ridWall : 0);
      }
      const [a, b] = instants(w, span, seriesZone);
      if (overlaps(a, b)) out.push(occ(s, comp, key, a, b, false));
    }
  }
  for (const o of s.overrides.values()) {
    if (s.exKeys.has(o.key)) continue;
    const [a, b] = instants(o.start.wall, o.span, o.start.isDate ? floatZone : (o.start.zone ?? floatZone));
    if (overlaps(a, b)) out.push(occ(s, o, o.key, a, b, true));
  }
  out.sort((x, y) => x.start.getTime() - y.start.getTime() || (x.recurrenceId < y.recurrenceId ? -1 : 1));
  return out.length > limit ? out.slice(0, limit) : out;
}

/** The wall time of an override's DTSTART in the series' clock. */
function startWallIn(s: CompiledSeries, c: CompiledComponent, floatZone: Zone): number {
  if (c.start.isDate || !s.zone || !c.start.zone || c.start.zone === s.zone) return c.start.wall;
  const inst = wallToUtc(c.start.wall, c.start.zone);
  return inst + (s.zone ?? floatZone).offsetAt(inst);
}

/**
 * Expand a resource (text, component or compiled) into occurrences overlapping
 * [rangeStart, rangeEnd), sorted by start. Compile once with compileResource()
 * and reuse it when expanding repeatedly.
 */
export function expand(
  resource: string | ICAL.Component | CompiledSeries,
  rangeStart: Date,
  rangeEnd: Date,
  opts: ExpandOptions = {},
): Occurrence[] {
  const s = isCompiled(resource) ? resource : compileResource(resource);
  try {
    return expandCompiled(s, rangeStart, rangeEnd, opts);
  } catch (e) {
    if (e instanceof IcalError) throw e;
    throw asIcalError(e, 'INVALID_ICALENDAR', `Cannot expand ${s.uid}`);
  }
}

/** Type guard for CompiledSeries. */
export function isCompiled(x: unknown): x is CompiledSeries {
  return typeof x === 'object' && x !== null && 'overrides' in x && 'exKeys' in x;
}
