/**
 * Compiling one calendar object resource (one UID: master + overrides) into a
 * cached form that expands cheaply and repeatedly (see expand.ts).
 */
import ICAL from 'ical.js';
import { IcalError, asIcalError } from './errors.js';
import { toComponent } from './parse.js';
import { addressOf } from './values.js';
import { parseRRule, type RuleParts } from './rrule.js';
import { ZoneContext } from './zones/resolve.js';
import type { Zone } from './zones/zone.js';
import { utcToWall, wallToUtc } from './zones/zone.js';
import {
  DAY_MS, basicDate, basicDateTime, propTime, spanOfDuration, timeValue, tzidOf, wallIn,
  type Span, type TimeValue,
} from './values.js';

/** The per-component data expansion needs. */
export interface CompiledComponent {
  comp: ICAL.Component;
  start: TimeValue;
  span: Span;
  summary: string | null;
  status: string | null;
  transp: string | null;
  location: string | null;
}

/** An extra date from RDATE, in the series' wall clock, with an optional PERIOD length. */
interface ExtraDate {
  wall: number;
  span?: Span;
}

/** A RECURRENCE-ID override with its normalised key. */
export interface CompiledOverride extends CompiledComponent {
  key: string;
  /** Original start of the replaced occurrence, as an instant-or-wall number comparable with series keys. */
  ridWall: number;
  thisAndFuture: boolean;
  /**
   * The attendees whose PARTSTAT on this instance differs from the series' (an answer to one
   * occurrence, RFC 5546 §3.2.3): address (lower-case, no mailto:) → PARTSTAT. Absent when none.
   */
  answers?: ReadonlyMap<string, string>;
}

/** Each ATTENDEE's PARTSTAT (RFC 5545 §3.2.12; missing means NEEDS-ACTION). */
function partstats(c: ICAL.Component): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of c.getAllProperties('attendee')) {
    const p = a.getParameter('partstat');
    const email = addressOf(a.getFirstValue());
    if (email) out.set(email, typeof p === 'string' ? p.toUpperCase() : 'NEEDS-ACTION');
  }
  return out;
}

/** A resource ready for repeated expansion. */
export interface CompiledSeries {
  uid: string;
  componentType: 'VEVENT' | 'VTODO';
  master: CompiledComponent | null;
  /** Zone of the series (master DTSTART); null = floating or all-day. */
  zone: Zone | null;
  allDay: boolean;
  floating: boolean;
  rule: RuleParts | null;
  /** RRULE UNTIL in the series' wall clock. */
  untilWall: number | null;
  rdates: ExtraDate[];
  exKeys: Set<string>;
  exDates: Set<string>;
  overrides: Map<string, CompiledOverride>;
  /** Overrides with RANGE=THISANDFUTURE, sorted by ridWall. */
  futureOverrides: CompiledOverride[];
  /** All components, master first. */
  components: ICAL.Component[];
  /**
   * A VTODO with neither DTSTART nor DUE (RFC 5545 §3.6.2 allows it): no time span, no
   * occurrences; `master` is then null and the component is only in `components`.
   */
  undated: boolean;
  ctx: ZoneContext;
}

function text(comp: ICAL.Component, name: string): string | null {
  const v = comp.getFirstPropertyValue(name);
  return v === null || v === undefined ? null : String(v);
}

/** True for a VTODO with neither DTSTART nor DUE: a task without dates (RFC 5545 §3.6.2). */
function isUndatedTodo(comp: ICAL.Component): boolean {
  return comp.name === 'vtodo' && !comp.hasProperty('dtstart') && !comp.hasProperty('due');
}

function compileComponent(comp: ICAL.Component, ctx: ZoneContext, fallbackSpan?: Span): CompiledComponent {
  const isTodo = comp.name === 'vtodo';
  let start = propTime(comp, 'dtstart', ctx);
  const due = isTodo ? propTime(comp, 'due', ctx) : null;
  if (!start) start = due;
  if (!start) throw new IcalError('INVALID_ICALENDAR', `${comp.name.toUpperCase()} has no DTSTART${isTodo ? ' or DUE' : ''}`);
  const endProp = isTodo ? due : propTime(comp, 'dtend', ctx);
  let span: Span;
  const dur = comp.getFirstPropertyValue('duration') as unknown;
  if (endProp && endProp !== start) {
    if (start.isDate) span = { days: Math.max(0, Math.round((endProp.wall - start.wall) / DAY_MS)), ms: 0 };
    else {
      // RFC 5545 §3.8.5.3: DTEND gives an exact duration.
      const z = start.zone;
      const s = z ? wallToUtc(start.wall, z) : start.wall;
      const e = endProp.zone ? wallToUtc(endProp.wall, endProp.zone) : z ? wallToUtc(endProp.wall, z) : endProp.wall;
      span = { days: 0, ms: Math.max(0, e - s) };
    }
  } else if (dur instanceof ICAL.Duration) {
    span = spanOfDuration(dur);
    if (span.days < 0 || span.ms < 0) span = { days: 0, ms: 0 };
  } else {
    span = fallbackSpan ?? (start.isDate ? { days: 1, ms: 0 } : { days: 0, ms: 0 });
  }
  return {
    comp, start, span,
    summary: text(comp, 'summary'), status: text(comp, 'status')?.toUpperCase() ?? null,
    transp: text(comp, 'transp')?.toUpperCase() ?? null, location: text(comp, 'location'),
  };
}

/** Key of a wall time of this series (see values.ts for the format). */
export function seriesKey(s: Pick<CompiledSeries, 'allDay' | 'zone'>, wall: number): string {
  if (s.allDay) return basicDate(wall);
  if (!s.zone) return basicDateTime(wall);
  return basicDateTime(wallToUtc(wall, s.zone)) + 'Z';
}

/** A value from RECURRENCE-ID/EXDATE/RDATE, moved into the series' wall clock. */
function toSeriesWall(s: Pick<CompiledSeries, 'zone' | 'allDay'>, tv: TimeValue): number {
  if (s.allDay) {
    if (tv.isDate || !tv.zone) return Math.floor(tv.wall / DAY_MS) * DAY_MS;
    return Math.floor(tv.wall / DAY_MS) * DAY_MS;
  }
  if (tv.isDate) return tv.wall;
  return wallIn(tv, s.zone, s.zone as Zone);
}

function untilWall(s: Pick<CompiledSeries, 'zone' | 'allDay'>, until: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z)?)?$/.exec(until)!;
  const d = new Date(0);
  d.setUTCFullYear(+m[1], +m[2] - 1, +m[3]);
  if (!m[4]) {
    // DATE UNTIL: inclusive of that whole day.
    return d.getTime() + (s.allDay ? 0 : DAY_MS - 1000);
  }
  d.setUTCHours(+m[4], +m[5], +m[6], 0);
  const w = d.getTime();
  if (m[7] && s.zone && !s.allDay) return utcToWall(w, s.zone);
  return w; // floating UNTIL (RFC violation) is read as the series' wall clock
}

/** Values of a multi-valued property; an unreadable property is skipped rather than failing the resource. */
function safeValues(p: ICAL.Property): unknown[] {
  try {
    return p.getValues() as unknown[];
  } catch {
    return [];
  }
}

/** Compile a resource (VCALENDAR text or component holding ONE UID). */
export function compileResource(input: string | ICAL.Component, opts: { uid?: string } = {}): CompiledSeries {
  try {
    return compileInner(toComponent(input), opts.uid);
  } catch (e) {
    throw asIcalError(e, 'INVALID_ICALENDAR', 'Cannot read event');
  }
}

function compileInner(cal: ICAL.Component, wantUid?: string): CompiledSeries {
  const ctx = ZoneContext.of(cal);
  const comps = [...cal.getAllSubcomponents('vevent'), ...cal.getAllSubcomponents('vtodo')].filter(
    (c) => wantUid === undefined || String(c.getFirstPropertyValue('uid') ?? '') === wantUid,
  );
  if (comps.length === 0) throw new IcalError('INVALID_ICALENDAR', 'No VEVENT or VTODO in the resource');
  const uid = String(comps[0].getFirstPropertyValue('uid') ?? '');
  const masterComp = comps.find((c) => !c.hasProperty('recurrence-id')) ?? null;
  // A task without dates has no occurrences: no master to expand (its RRULE, which RFC 5545
  // §3.8.5.3 does not allow without DTSTART, is ignored) and no time span.
  const master = masterComp && !isUndatedTodo(masterComp) ? compileComponent(masterComp, ctx) : null;
  const dated = comps.find((c) => !isUndatedTodo(c));
  const ref = master ?? (dated ? compileComponent(dated, ctx) : null);
  const allDay = ref?.start.isDate ?? false;
  const s: CompiledSeries = {
    uid, componentType: (comps[0].name.toUpperCase() as 'VEVENT' | 'VTODO'), master,
    zone: allDay || !ref ? null : ref.start.zone, allDay, floating: !!ref && !allDay && ref.start.zone === null,
    rule: null, untilWall: null, rdates: [], exKeys: new Set(), exDates: new Set(), overrides: new Map(),
    futureOverrides: [], components: masterComp ? [masterComp, ...comps.filter((c) => c !== masterComp)] : comps, ctx,
    undated: !ref,
  };
  if (master) {
    const rr = master.comp.getFirstProperty('rrule');
    if (rr) {
      let raw: string;
      try {
        raw = String(rr.getFirstValue());
      } catch (e) {
        throw asIcalError(e, 'INVALID_RRULE', 'Invalid RRULE');
      }
      s.rule = parseRRule(raw);
      if (s.rule.until) s.untilWall = untilWall(s, s.rule.until);
    }
    for (const p of master.comp.getAllProperties('rdate')) {
      const tzid = tzidOf(p);
      for (const v of safeValues(p)) {
        if (v instanceof ICAL.Time) s.rdates.push({ wall: toSeriesWall(s, timeValue(v, tzid, ctx)) });
        else if (v instanceof ICAL.Period) {
          const st = timeValue(v.start, tzid, ctx);
          let span: Span;
          if (v.duration) span = spanOfDuration(v.duration);
          else {
            const en = timeValue(v.end!, tzid, ctx);
            span = { days: 0, ms: Math.max(0, (en.zone ? wallToUtc(en.wall, en.zone) : en.wall) - (st.zone ? wallToUtc(st.wall, st.zone) : st.wall)) };
          }
          s.rdates.push({ wall: toSeriesWall(s, st), span });
        }
      }
    }
    for (const p of master.comp.getAllProperties('exdate')) {
      const tzid = tzidOf(p);
      for (const v of safeValues(p)) {
        if (!(v instanceof ICAL.Time)) continue;
        const tv = timeValue(v, tzid, ctx);
        if (tv.isDate && !allDay) s.exDates.add(basicDate(tv.wall));
        else s.exKeys.add(seriesKey(s, toSeriesWall(s, tv)));
      }
    }
  }
  const masterAnswers = masterComp ? partstats(masterComp) : new Map<string, string>();
  for (const c of comps) {
    const ridProp = c.getFirstProperty('recurrence-id');
    if (!ridProp || c === masterComp || isUndatedTodo(c)) continue;
    const v = ridProp.getFirstValue() as unknown;
    if (!(v instanceof ICAL.Time)) continue;
    const rid = timeValue(v, tzidOf(ridProp), ctx);
    const ridWall = toSeriesWall(s, rid);
    const o: CompiledOverride = {
      ...compileComponent(c, ctx, master?.span), key: seriesKey(s, ridWall), ridWall,
      thisAndFuture: String(ridProp.getParameter('range') ?? '').toUpperCase() === 'THISANDFUTURE',
    };
    for (const [email, p] of partstats(c)) {
      if (masterAnswers.get(email) === p) continue;
      ((o as { answers?: Map<string, string> }).answers ??= new Map()).set(email, p);
    }
    s.overrides.set(o.key, o);
    if (o.thisAndFuture) s.futureOverrides.push(o);
  }
  s.futureOverrides.sort((a, b) => a.ridWall - b.ridWall);
  return s;
}
