/**
 * Pure recurrence edits: exclude one occurrence, override one occurrence,
 * split a series at an occurrence ("this and following").
 */
import ICAL from 'ical.js';
import { IcalError } from './errors.js';
import { parseCalendar, serializeComponent } from './parse.js';
import { compileResource, type CompiledSeries } from './compile.js';
import { applyFields } from './build.js';
import { expandCompiled } from './expand.js';
import { formatRRule, parseRRule } from './rrule.js';
import { DAY_MS, basicDate, basicDateTime, parseKey } from './values.js';
import { utcToWall, type Zone } from './zones/zone.js';
import type { EventPatch } from './model.js';

const clone = (c: ICAL.Component) => new ICAL.Component(JSON.parse(JSON.stringify(c.toJSON())));

/** Wall ms (series clock) of a recurrence-id key. */
function keyWall(s: CompiledSeries, key: string): number {
  const k = parseKey(key);
  if (k.kind === 'utc' && s.zone) return utcToWall(k.ms, s.zone);
  return k.ms;
}

/** Set a DATE/DATE-TIME property to a series wall time, in the master's form (TZID, UTC or floating). */
function setSeriesTime(comp: ICAL.Component, name: string, s: CompiledSeries, wall: number, tzid: string | null): void {
  comp.removeAllProperties(name);
  const d = new Date(wall);
  const t = new ICAL.Time({
    year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(),
    hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), isDate: s.allDay,
  }, undefined as never);
  if (!s.allDay && s.zone?.kind === 'utc') t.zone = ICAL.Timezone.utcTimezone;
  const p = new ICAL.Property(name, comp);
  if (!s.allDay && tzid && s.zone?.kind !== 'utc') p.setParameter('tzid', tzid);
  p.resetType(s.allDay ? 'date' : 'date-time');
  p.setValue(t);
  comp.addProperty(p);
}

function load(text: string) {
  const cal = parseCalendar(text);
  const s = compileResource(cal);
  if (!s.master) throw new IcalError('NOT_FOUND', 'The resource has no master component');
  const tzid = s.master.comp.getFirstProperty('dtstart')!.getParameter('tzid');
  return { cal, s, master: s.master.comp, tzid: typeof tzid === 'string' ? tzid : null };
}

/** Remove one occurrence: drops its override (if any) and adds an EXDATE (RFC 5545 §3.8.5.1). */
export function excludeOccurrence(text: string, recurrenceId: string): string {
  const { cal, s, master, tzid } = load(text);
  const o = s.overrides.get(recurrenceId);
  if (o) cal.removeSubcomponent(o.comp);
  const tmp = new ICAL.Component('vevent');
  setSeriesTime(tmp, 'exdate', s, keyWall(s, recurrenceId), tzid);
  master.addProperty(tmp.getFirstProperty('exdate')!);
  return serializeComponent(cal);
}

/** Add (or update) the override for one occurrence with the given changes. */
export function addOverride(text: string, recurrenceId: string, patch: EventPatch): string {
  const { cal, s, master, tzid } = load(text);
  let comp = s.overrides.get(recurrenceId)?.comp;
  if (!comp) {
    comp = clone(master);
    for (const n of ['rrule', 'rdate', 'exdate', 'dtstart', 'dtend', 'duration']) comp.removeAllProperties(n);
    const wall = keyWall(s, recurrenceId);
    setSeriesTime(comp, 'recurrence-id', s, wall, tzid);
    setSeriesTime(comp, 'dtstart', s, wall, tzid);
    const span = s.master!.span;
    setSeriesTime(comp, 'dtend', s, wall + span.days * DAY_MS + span.ms, tzid);
    cal.addSubcomponent(comp);
  }
  const zoneId = tzid ? (s.ctx.resolve(tzid).iana ?? null) : s.zone?.kind === 'utc' ? 'UTC' : null;
  applyFields(comp, patch, zoneId, s.allDay);
  return serializeComponent(cal);
}

/**
 * Split a series at an occurrence: the old series ends just before it (UNTIL),
 * the new one (new UID) starts there, keeps the later overrides, attendees and
 * their PARTSTAT. Returns both texts.
 */
export function splitSeries(text: string, recurrenceId: string, newUid: string): { oldSeriesText: string; newSeriesText: string } {
  const { cal, s, master, tzid } = load(text);
  if (!s.rule) throw new IcalError('INVALID_INPUT', 'Only a recurring series can be split');
  const wall = keyWall(s, recurrenceId);
  const zone: Zone | null = s.zone;
  const rule = parseRRule(String(master.getFirstPropertyValue('rrule')));
  // Occurrences before the split (for COUNT bookkeeping).
  const startMs = parseKey(recurrenceId).kind === 'utc' ? parseKey(recurrenceId).ms : wall;
  const before = rule.count !== undefined ? expandCompiled(s, new Date(-8.64e15), new Date(startMs), { limit: 1e6 }).filter((o) => !o.override).length : 0;
  // New series.
  const newCal = clone(cal);
  for (const c of [...newCal.getAllSubcomponents()]) if (c.name === 'vevent') newCal.removeSubcomponent(c);
  const newMaster = clone(master);
  newMaster.updatePropertyWithValue('uid', newUid);
  newMaster.updatePropertyWithValue('sequence', 0);
  setSeriesTime(newMaster, 'dtstart', s, wall, tzid);
  if (newMaster.hasProperty('dtend')) {
    const span = s.master!.span;
    setSeriesTime(newMaster, 'dtend', s, wall + span.days * DAY_MS + span.ms, tzid);
  }
  const newRule = { ...rule };
  if (rule.count !== undefined) newRule.count = Math.max(1, rule.count - before);
  newMaster.updatePropertyWithValue('rrule', ICAL.Recur.fromString(formatRRule(newRule)));
  newCal.addSubcomponent(newMaster);
  // Old series ends one second (or one day) before the split point.
  const oldRule = { ...rule };
  delete oldRule.count;
  if (s.allDay) oldRule.until = basicDate(wall - DAY_MS);
  else if (zone === null) oldRule.until = basicDateTime(wall - 1000);
  else oldRule.until = basicDateTime(startMs - 1000) + 'Z';
  master.updatePropertyWithValue('rrule', ICAL.Recur.fromString(formatRRule(oldRule)));
  for (const o of s.overrides.values()) {
    if (o.ridWall < wall) continue;
    cal.removeSubcomponent(o.comp);
    const moved = clone(o.comp);
    moved.updatePropertyWithValue('uid', newUid);
    newCal.addSubcomponent(moved);
  }
  return { oldSeriesText: serializeComponent(cal), newSeriesText: serializeComponent(newCal) };
}
