// CALDAV:filter evaluation against a parsed VCALENDAR — RFC 4791 §9.7 (filter elements) and
// §9.9 (time-range semantics per component type). Pure: the caller parses the iCalendar text.
import ICAL from 'ical.js';
import type { CompFilter, ParamFilter, PropFilter, TextMatch } from './reports.js';
import type { TimeRange } from './body.js';
import { TimeContext, durationMs, eventBounds, forEachInstance, isDateProp, isRecurringMaster } from './icaltime.js';

const DAY_MS = 86_400_000;

/**
 * Does any instance of the recurring master `comp` overlap [start, end)? Plug a fast expander
 * here; overridden instances are also tested on their own by the filter, so an implementation
 * may ignore overrides that move an instance *into* the range (but must honour EXDATE).
 */
export type OccurrencesOverlap = (comp: ICAL.Component, start: Date | null, end: Date | null) => boolean;

export interface FilterOptions {
  occurrencesOverlap?: OccurrencesOverlap;
  /** Zone for floating times and DATE values (RFC 4791 §9.9); UTC when absent. */
  floatingTimezone?: ICAL.Timezone | null;
  /** Safety cap for the default expander (instances visited per master). */
  maxInstances?: number;
}

interface Ctx {
  time: TimeContext;
  options: FilterOptions;
}

/** Range as numbers; unbounded ends become ±Infinity. */
export interface Span {
  start: number;
  end: number;
}

function span(r: TimeRange): Span {
  return { start: r.start ? r.start.getTime() : -Infinity, end: r.end ? r.end.getTime() : Infinity };
}

/** RFC 4791 §9.7: true when the calendar object `vcalendar` matches the CALDAV:filter. */
export function matchesFilter(vcalendar: ICAL.Component, filter: CompFilter, options: FilterOptions = {}): boolean {
  const ctx: Ctx = { time: new TimeContext(vcalendar, options.floatingTimezone ?? null), options };
  // The top-level comp-filter's scope is the calendar object itself.
  const candidates = vcalendar.name === filter.name.toLowerCase() ? [vcalendar] : [];
  return matchCandidates(candidates, filter, ctx);
}

function matchCandidates(candidates: ICAL.Component[], f: CompFilter, ctx: Ctx): boolean {
  // RFC 4791 §9.7.1: is-not-defined matches when no such component exists in scope.
  if (f.isNotDefined) return candidates.length === 0;
  return candidates.some(
    (c) =>
      (!f.timeRange || componentOverlaps(c, span(f.timeRange), ctx)) &&
      f.propFilters.every((pf) => matchPropFilter(c, pf, ctx)) &&
      f.compFilters.every((cf) => matchCandidates(c.getAllSubcomponents(cf.name.toLowerCase()), cf, ctx)),
  );
}

// ---------------------------------------------------------------------------------------------
// Time ranges — RFC 4791 §9.9

/**
 * Overlap of one instance with [start, end) in epoch ms: `shift` moves a master's own times to
 * one of its instances (0 for everything else). Used by calendarData.ts for expansion.
 */
export function componentOverlapsRange(c: ICAL.Component, shift: number, r: Span, time: TimeContext): boolean {
  const ctx: Ctx = { time, options: {} };
  if (c.name === 'vevent' || c.name === 'vtodo' || c.name === 'vjournal') return instanceOverlaps(c, shift, r, ctx);
  return componentOverlaps(c, r, ctx);
}

/** Overlap of a component (possibly recurring) with the range. */
function componentOverlaps(c: ICAL.Component, r: Span, ctx: Ctx): boolean {
  switch (c.name) {
    case 'vevent':
    case 'vtodo':
    case 'vjournal':
      if (isRecurringMaster(c)) return recurringOverlaps(c, r, ctx);
      return instanceOverlaps(c, 0, r, ctx);
    case 'vfreebusy':
      return freebusyOverlaps(c, r, ctx);
    case 'valarm':
      return alarmOverlaps(c, r, ctx);
    default:
      // VTIMEZONE, VAVAILABILITY…: not defined by RFC 4791; never matches a time-range.
      return false;
  }
}

function recurringOverlaps(c: ICAL.Component, r: Span, ctx: Ctx): boolean {
  const custom = ctx.options.occurrencesOverlap;
  if (custom) {
    return custom(c, Number.isFinite(r.start) ? new Date(r.start) : null, Number.isFinite(r.end) ? new Date(r.end) : null);
  }
  let found = false;
  const how = forEachInstance(
    c,
    ctx.time,
    (inst) => {
      // Instances come in RECURRENCE-ID order; overrides moved into the range are separate
      // candidates, so stopping at the first RECURRENCE-ID past the end is safe.
      if (inst.recurrenceIdMs >= r.end && inst.item === c) return 'stop';
      if (instanceOverlaps(inst.item, inst.shift, r, ctx)) {
        found = true;
        return 'stop';
      }
      return undefined;
    },
    ctx.options.maxInstances,
  );
  // Cap reached before the range was passed: answer "overlaps". A spurious extra result is
  // harmless to a syncing client; a missing one silently loses an event.
  return found || how === 'capped';
}

/** One (non-recurring or shifted) instance of VEVENT/VTODO/VJOURNAL. */
function instanceOverlaps(c: ICAL.Component, shift: number, r: Span, ctx: Ctx): boolean {
  const at = (name: string) => {
    const v = ctx.time.propMs(c, name);
    return v === null ? null : v + shift;
  };
  const { start, end } = r;
  if (c.name === 'vevent') {
    const b = eventBounds(c, ctx.time);
    if (!b) return false;
    const s = b.start + shift;
    const e = b.end + shift;
    // With DTEND the comparison is always strict; zero-length (DURATION 0 or DATE-TIME without
    // end) events match when start <= DTSTART < end.
    return b.explicitEnd || e > s ? start < e && end > s : start <= s && end > s;
  }
  if (c.name === 'vtodo') {
    const dtstart = at('dtstart');
    const due = at('due');
    const dur = durationMs(c);
    const completed = at('completed');
    const created = at('created');
    if (dtstart !== null && dur !== null) {
      const e = dtstart + dur;
      return start <= e && (end > dtstart || end >= e);
    }
    if (dtstart !== null && due !== null) return (start < due || start <= dtstart) && (end > dtstart || end >= due);
    if (dtstart !== null) return start <= dtstart && end > dtstart;
    if (due !== null) return start < due && end >= due;
    if (completed !== null && created !== null) {
      return (start <= created || start <= completed) && (end >= created || end >= completed);
    }
    if (completed !== null) return start <= completed && end >= completed;
    if (created !== null) return end > created;
    return true;
  }
  // VJOURNAL
  const dtstart = at('dtstart');
  if (dtstart === null) return false;
  if (isDateProp(c, 'dtstart')) return start < dtstart + DAY_MS && end > dtstart;
  return start <= dtstart && end > dtstart;
}

function freebusyOverlaps(c: ICAL.Component, r: Span, ctx: Ctx): boolean {
  const periods = c.getAllProperties('freebusy').flatMap((p) => p.getValues() as unknown[]);
  if (periods.length > 0) {
    return periods.some((v) => {
      if (!(v instanceof ICAL.Period)) return false;
      const s = ctx.time.ms(v.start);
      const e = ctx.time.ms(v.getEnd());
      return r.start < e && r.end > s;
    });
  }
  const s = ctx.time.propMs(c, 'dtstart');
  const e = ctx.time.propMs(c, 'dtend');
  if (s !== null && e !== null) return r.start <= e && r.end > s;
  return false;
}

/** Trigger times (ms) of an alarm for one instance of its parent, incl. REPEAT (RFC 5545 §3.6.6). */
function alarmTriggers(alarm: ICAL.Component, parent: ICAL.Component, shift: number, ctx: Ctx): number[] {
  const prop = alarm.getFirstProperty('trigger');
  if (!prop) return [];
  const v = prop.getFirstValue();
  let first: number | null = null;
  if (v instanceof ICAL.Time) {
    first = ctx.time.ms(v); // absolute trigger: same for every instance
  } else if (v instanceof ICAL.Duration) {
    const related = String(prop.getParameter('related') ?? 'START').toUpperCase();
    let anchor: number | null;
    if (related === 'END') {
      if (parent.name === 'vtodo') {
        anchor = ctx.time.propMs(parent, 'due');
        if (anchor === null) {
          const s = ctx.time.propMs(parent, 'dtstart');
          const d = durationMs(parent);
          anchor = s !== null && d !== null ? s + d : null;
        }
      } else {
        anchor = eventBounds(parent, ctx.time)?.end ?? null;
      }
    } else {
      anchor = ctx.time.propMs(parent, 'dtstart');
    }
    if (anchor !== null) first = anchor + shift + v.toSeconds() * 1000;
  }
  if (first === null) return [];
  const out = [first];
  const repeat = Number(alarm.getFirstPropertyValue('repeat') ?? 0);
  const every = alarm.getFirstPropertyValue('duration');
  if (repeat > 0 && every instanceof ICAL.Duration && every.toSeconds() > 0) {
    for (let i = 1; i <= Math.min(repeat, 1000); i++) out.push(first + i * every.toSeconds() * 1000);
  }
  return out;
}

/** RFC 4791 §9.9: a VALARM overlaps when a trigger time t satisfies start <= t < end. */
function alarmOverlaps(alarm: ICAL.Component, r: Span, ctx: Ctx): boolean {
  const parent = alarm.parent;
  if (!parent) return false;
  const hit = (ts: number[]) => ts.some((t) => r.start <= t && r.end > t);
  // Absolute triggers (VALUE=DATE-TIME) are the same for every instance.
  const absolute = alarm.getFirstPropertyValue('trigger') instanceof ICAL.Time;
  if (absolute || !isRecurringMaster(parent)) return hit(alarmTriggers(alarm, parent, 0, ctx));
  let found = false;
  const how = forEachInstance(
    parent,
    ctx.time,
    (inst) => {
      if (inst.item !== parent) return undefined; // overrides carry their own VALARMs
      const ts = alarmTriggers(alarm, parent, inst.shift, ctx);
      if (hit(ts)) {
        found = true;
        return 'stop';
      }
      // Triggers may precede the instance by any offset; stop once all are past the range.
      if (ts.length > 0 && Math.min(...ts) >= r.end) return 'stop';
      return undefined;
    },
    ctx.options.maxInstances,
  );
  return found || how === 'capped';
}

// ---------------------------------------------------------------------------------------------
// prop-filter, param-filter, text-match — RFC 4791 §9.7.2–§9.7.5

function matchPropFilter(c: ICAL.Component, f: PropFilter, ctx: Ctx): boolean {
  const props = c.getAllProperties(f.name.toLowerCase());
  if (f.isNotDefined) return props.length === 0;
  // All conditions must hold for one and the same property instance.
  return props.some(
    (p) =>
      (!f.timeRange || propertyInRange(p, span(f.timeRange), ctx)) &&
      (!f.textMatch || propertyTexts(p).some((t) => textMatches(f.textMatch!, t))) &&
      f.paramFilters.every((pf) => matchParamFilter(p, pf)),
  );
}

function propertyInRange(p: ICAL.Property, r: Span, ctx: Ctx): boolean {
  const tzid = p.getParameter('tzid') as string | undefined;
  return (p.getValues() as unknown[]).some((v) => {
    if (v instanceof ICAL.Time) {
      const t = ctx.time.ms(v, tzid);
      return v.isDate ? r.start < t + DAY_MS && r.end > t : r.start <= t && r.end > t;
    }
    if (v instanceof ICAL.Period) {
      return r.start < ctx.time.ms(v.getEnd(), tzid) && r.end > ctx.time.ms(v.start, tzid);
    }
    return false;
  });
}

/** The text forms a text-match is applied to: every value of the property (CATEGORIES is a list). */
function propertyTexts(p: ICAL.Property): string[] {
  return (p.getValues() as unknown[]).map((v) => {
    if (typeof v === 'string') return v;
    if (v && typeof (v as { toICALString?: unknown }).toICALString === 'function') {
      return (v as { toICALString(): string }).toICALString();
    }
    return String(v);
  });
}

function matchParamFilter(p: ICAL.Property, f: ParamFilter): boolean {
  const raw = p.getParameter(f.name.toLowerCase()) as string | string[] | undefined;
  if (f.isNotDefined) return raw === undefined;
  if (raw === undefined) return false;
  if (!f.textMatch) return true;
  const values = Array.isArray(raw) ? raw : [raw];
  return values.some((v) => textMatches(f.textMatch!, v));
}

/** RFC 4790 collations as RFC 4791 §7.5 requires them. */
export function foldCollation(collation: TextMatch['collation'], s: string): string {
  switch (collation) {
    case 'i;octet':
      return s;
    case 'i;ascii-casemap':
      return s.replace(/[A-Z]/g, (ch) => ch.toLowerCase());
    case 'i;unicode-casemap':
      // RFC 5051 (titlecase + NFKD); upper-then-lower approximates the full case fold (ß → ss).
      return s.normalize('NFKD').toUpperCase().toLowerCase().normalize('NFKD');
  }
}

/** RFC 4791 §9.7.5 text-match; negate-condition inverts the result. */
export function textMatches(tm: TextMatch, value: string): boolean {
  const hay = foldCollation(tm.collation, value);
  const needle = foldCollation(tm.collation, tm.value);
  let r: boolean;
  switch (tm.matchType) {
    case 'equals':
      r = hay === needle;
      break;
    case 'starts-with':
      r = hay.startsWith(needle);
      break;
    case 'ends-with':
      r = hay.endsWith(needle);
      break;
    default:
      r = hay.includes(needle);
  }
  return tm.negate ? !r : r;
}
