// CALDAV:calendar-data request semantics — RFC 4791 §9.6: component/property selection,
// expand (§9.6.5), limit-recurrence-set (§9.6.6), limit-freebusy-set (§9.6.7).
// Never mutates its input: every function works on a deep copy.
import ICAL from 'ical.js';
import type { CalendarDataSpec, CompSelection } from './reports.js';
import type { TimeRange } from './body.js';
import { TimeContext, forEachInstance, isDateProp, isRecurringMaster } from './icaltime.js';
import { componentOverlapsRange } from './filter.js';

/** Expand one recurring master into single-instance components (UTC times, RECURRENCE-ID set,
 *  no RRULE/RDATE/EXDATE) for the instances overlapping [start, end). The expander must apply
 *  EXDATEs and the overridden instances (siblings with the same UID, via `master.parent`):
 *  expandCalendar does not emit overrides of a master on its own. */
export type ExpandFn = (master: ICAL.Component, start: Date, end: Date) => ICAL.Component[];

export interface PruneOptions {
  expander?: ExpandFn;
  floatingTimezone?: ICAL.Timezone | null;
  maxInstances?: number;
}

const RECURRENCE_PROPS = ['rrule', 'rdate', 'exdate', 'exrule'];
const TIME_PROPS = ['dtstart', 'dtend', 'due', 'recurrence-id'];

function clone(c: ICAL.Component): ICAL.Component {
  return new ICAL.Component(JSON.parse(JSON.stringify(c.toJSON())));
}

function utc(ms: number): ICAL.Time {
  return ICAL.Time.fromJSDate(new Date(ms), true);
}

/** Rewrite a DATE-TIME property in UTC (DATE values stay DATE: they have no UTC form). */
function toUtcProp(c: ICAL.Component, name: string, time: TimeContext, shift = 0): void {
  const p = c.getFirstProperty(name);
  const v = p?.getFirstValue();
  if (!p || !(v instanceof ICAL.Time)) return;
  if (v.isDate && shift === 0) return;
  const ms = time.ms(v, p.getParameter('tzid') as string | undefined) + shift;
  p.removeParameter('tzid');
  if (v.isDate) {
    const d = utc(ms);
    d.isDate = true;
    p.setValue(d);
  } else {
    p.setValue(utc(ms));
  }
}

/**
 * All-day instances: DATE values have no UTC form and shifting them by milliseconds would cross
 * midnight in the floating zone, so move them in calendar days to the instance's RECURRENCE-ID.
 */
function moveDates(c: ICAL.Component, recurrenceId: ICAL.Time): void {
  const start = c.getFirstPropertyValue('dtstart');
  if (!(start instanceof ICAL.Time)) return;
  for (const name of ['dtstart', 'dtend', 'due']) {
    const p = c.getFirstProperty(name);
    const v = p?.getFirstValue();
    if (!p || !(v instanceof ICAL.Time)) continue;
    const moved = recurrenceId.clone();
    moved.addDuration(v.subtractDate(start));
    p.setValue(moved);
  }
}

/** Default expander over ical.js iteration (capped by maxInstances). */
export function defaultExpander(time: TimeContext, maxInstances?: number): ExpandFn {
  return (master, start, end) => {
    const out: ICAL.Component[] = [];
    const range = { start: start.getTime(), end: end.getTime() };
    forEachInstance(
      master,
      time,
      (inst) => {
        if (inst.item === master && inst.recurrenceIdMs >= range.end) return 'stop';
        if (!componentOverlapsRange(inst.item, inst.shift, range, time)) return undefined;
        const c = clone(inst.item);
        for (const p of RECURRENCE_PROPS) c.removeAllProperties(p);
        if (inst.item === master && isDateProp(master, 'dtstart')) moveDates(c, inst.recurrenceId);
        else for (const p of ['dtstart', 'dtend', 'due']) toUtcProp(c, p, time, inst.shift);
        c.removeAllProperties('recurrence-id');
        const rid = inst.recurrenceId.isDate ? inst.recurrenceId.clone() : utc(inst.recurrenceIdMs);
        c.addPropertyWithValue('recurrence-id', rid);
        out.push(c);
        return undefined;
      },
      maxInstances,
    );
    return out;
  };
}

/**
 * RFC 4791 §9.6.5: replace every recurring master by its instances in range, keep non-recurring
 * components that overlap the range, convert times to UTC and drop VTIMEZONE (no longer needed).
 */
export function expandCalendar(vcalendar: ICAL.Component, range: { start: Date; end: Date }, options: PruneOptions = {}): ICAL.Component {
  const time = new TimeContext(vcalendar, options.floatingTimezone ?? null);
  const expand = options.expander ?? defaultExpander(time, options.maxInstances);
  const out = new ICAL.Component(['vcalendar', [], []]);
  for (const p of vcalendar.getAllProperties()) out.addProperty(new ICAL.Property(JSON.parse(JSON.stringify(p.toJSON()))));
  const r = { start: range.start.getTime(), end: range.end.getTime() };
  for (const c of vcalendar.getAllSubcomponents()) {
    if (c.name === 'vtimezone') continue;
    if (c.name !== 'vevent' && c.name !== 'vtodo' && c.name !== 'vjournal') {
      out.addSubcomponent(clone(c));
      continue;
    }
    if (isRecurringMaster(c)) {
      for (const inst of expand(c, range.start, range.end)) out.addSubcomponent(inst);
    } else if (c.hasProperty('recurrence-id')) {
      // Overrides are emitted by their master's expansion; orphans (no master) stand alone.
      const uid = c.getFirstPropertyValue('uid');
      const hasMaster = vcalendar.getAllSubcomponents(c.name).some((m) => m !== c && isRecurringMaster(m) && m.getFirstPropertyValue('uid') === uid);
      if (!hasMaster && componentOverlapsRange(c, 0, r, time)) out.addSubcomponent(utcCopy(c, time));
    } else if (componentOverlapsRange(c, 0, r, time)) {
      out.addSubcomponent(utcCopy(c, time));
    }
  }
  return out;
}

function utcCopy(c: ICAL.Component, time: TimeContext): ICAL.Component {
  const copy = clone(c);
  for (const p of TIME_PROPS) toUtcProp(copy, p, time);
  return copy;
}

/** RFC 4791 §9.6.6: keep masters, drop overridden instances that do not touch the range. */
function limitRecurrenceSet(vcal: ICAL.Component, range: TimeRange, time: TimeContext): void {
  const r = { start: range.start?.getTime() ?? -Infinity, end: range.end?.getTime() ?? Infinity };
  for (const c of [...vcal.getAllSubcomponents()]) {
    if (!c.hasProperty('recurrence-id')) continue;
    const rid = time.propMs(c, 'recurrence-id');
    const ridIn = rid !== null && rid >= r.start && rid < r.end;
    if (!ridIn && !componentOverlapsRange(c, 0, r, time)) vcal.removeSubcomponent(c);
  }
}

/** RFC 4791 §9.6.7: keep only FREEBUSY periods overlapping the range. */
function limitFreebusySet(vcal: ICAL.Component, range: TimeRange, time: TimeContext): void {
  const s = range.start?.getTime() ?? -Infinity;
  const e = range.end?.getTime() ?? Infinity;
  for (const fb of vcal.getAllSubcomponents('vfreebusy')) {
    for (const p of [...fb.getAllProperties('freebusy')]) {
      const keep = (p.getValues() as unknown[]).filter(
        (v) => v instanceof ICAL.Period && s < time.ms(v.getEnd()) && e > time.ms(v.start),
      );
      if (keep.length === 0) fb.removeProperty(p);
      else p.setValues(keep);
    }
  }
}

/** RFC 4791 §9.6.1–§9.6.4: keep only the selected properties and sub-components. */
function applySelection(c: ICAL.Component, sel: CompSelection): void {
  if (!sel.allProps) {
    const wanted = new Map(sel.props.map((p) => [p.name.toLowerCase(), p.novalue]));
    for (const p of [...c.getAllProperties()]) {
      if (!wanted.has(p.name)) {
        c.removeProperty(p);
      } else if (wanted.get(p.name)) {
        // novalue="yes": the property with its parameters but an empty value.
        p.resetType('text');
        p.setValue('');
      }
    }
  }
  for (const sub of [...c.getAllSubcomponents()]) {
    if (sel.allComps) continue;
    const s = sel.comps.find((x) => x.name.toLowerCase() === sub.name);
    if (!s) c.removeSubcomponent(sub);
    else applySelection(sub, s);
  }
}

/**
 * Apply a CALDAV:calendar-data spec to a calendar object: expand or limit the recurrence set,
 * limit free-busy, then select components/properties. Returns a new component.
 */
export function pruneCalendarData(vcalendar: ICAL.Component, spec: CalendarDataSpec, options: PruneOptions = {}): ICAL.Component {
  const time = new TimeContext(vcalendar, options.floatingTimezone ?? null);
  let out: ICAL.Component;
  if (spec.expand && spec.expand.start && spec.expand.end) {
    out = expandCalendar(vcalendar, { start: spec.expand.start, end: spec.expand.end }, options);
  } else {
    out = clone(vcalendar);
    if (spec.limitRecurrenceSet) limitRecurrenceSet(out, spec.limitRecurrenceSet, new TimeContext(out, time.floating));
  }
  if (spec.limitFreebusySet) limitFreebusySet(out, spec.limitFreebusySet, new TimeContext(out, time.floating));
  if (spec.comp && out.name === spec.comp.name.toLowerCase()) applySelection(out, spec.comp);
  return out;
}
