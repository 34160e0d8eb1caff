/**
 * Building and editing VEVENTs from the JSON model. Edits change only the
 * properties named in the patch; everything else (X- properties, unknown
 * parameters) is carried through ical.js untouched.
 */
import ICAL from 'ical.js';
import { IcalError } from './errors.js';
import { parseCalendar, serializeComponent } from './parse.js';
import { parseRRule } from './rrule.js';
import { attachTimezones } from './split.js';
import { compileResource, seriesKey } from './compile.js';
import { isIanaZone } from './zones/zone.js';
import { attendeesOf } from './index-resource.js';
import type { EventInput, EventJson, EventPatch } from './model.js';

const LOCAL_RE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?$/;

function timeFrom(value: string, allDay: boolean): ICAL.Time {
  const m = LOCAL_RE.exec(value);
  if (!m) throw new IcalError('INVALID_INPUT', `Invalid date/time "${value}" (expected YYYY-MM-DD or YYYY-MM-DDTHH:mm:ss)`);
  return new ICAL.Time({ year: +m[1], month: +m[2], day: +m[3], hour: allDay ? 0 : +(m[4] ?? 0), minute: allDay ? 0 : +(m[5] ?? 0), second: allDay ? 0 : +(m[6] ?? 0), isDate: allDay }, undefined as never);
}

function setTime(comp: ICAL.Component, name: string, value: string, tz: string | null | undefined, allDay: boolean): void {
  let p = comp.getFirstProperty(name);
  if (!p) {
    p = new ICAL.Property(name, comp);
    comp.addProperty(p);
  }
  const t = timeFrom(value, allDay);
  p.removeParameter('tzid');
  p.removeParameter('value');
  if (!allDay && tz && tz !== 'UTC') p.setParameter('tzid', tz);
  if (!allDay && tz === 'UTC') t.zone = ICAL.Timezone.utcTimezone;
  p.resetType(allDay ? 'date' : 'date-time');
  p.setValue(t);
}

function setText(comp: ICAL.Component, name: string, v: string | null | undefined): void {
  if (v === undefined) return;
  if (v === null || v === '') comp.removeAllProperties(name);
  else if (comp.hasProperty(name)) comp.getFirstProperty(name)!.setValue(v);
  else comp.addPropertyWithValue(name, v);
}

export function applyFields(comp: ICAL.Component, p: EventPatch, existingTz: string | null, existingAllDay: boolean): void {
  setText(comp, 'summary', p.summary);
  setText(comp, 'description', p.description);
  setText(comp, 'location', p.location);
  setText(comp, 'status', p.status === undefined ? undefined : p.status?.toUpperCase() ?? null);
  setText(comp, 'transp', p.transparency);
  setText(comp, 'class', p.visibility);
  setText(comp, 'url', p.url);
  setText(comp, 'color', p.color);
  if (p.conference !== undefined) {
    setText(comp, 'conference', p.conference);
    comp.getFirstProperty('conference')?.setParameter('value', 'URI');
  }
  const tz = p.timezone !== undefined ? p.timezone : existingTz;
  if (tz && tz !== 'UTC' && !isIanaZone(tz)) throw new IcalError('INVALID_INPUT', `Unknown time zone "${tz}"`);
  const allDay = p.allDay ?? (p.start ? p.start.length === 10 : existingAllDay);
  if (p.start !== undefined) setTime(comp, 'dtstart', p.start, tz, allDay);
  if (p.end !== undefined) {
    comp.removeAllProperties('duration');
    setTime(comp, 'dtend', p.end, tz, allDay);
  }
  if (p.rrule !== undefined) {
    comp.removeAllProperties('rrule');
    if (p.rrule) {
      parseRRule(p.rrule);
      comp.addProperty(ICAL.Property.fromString(`RRULE:${p.rrule.replace(/^RRULE:/i, '')}`));
    }
  }
  if (p.exdates !== undefined) {
    comp.removeAllProperties('exdate');
    for (const x of p.exdates) {
      const prop = new ICAL.Property('exdate', comp);
      if (!allDay && tz && tz !== 'UTC') prop.setParameter('tzid', tz);
      const t = timeFrom(x, allDay);
      if (!allDay && tz === 'UTC') t.zone = ICAL.Timezone.utcTimezone;
      prop.resetType(allDay ? 'date' : 'date-time');
      prop.setValue(t);
      comp.addProperty(prop);
    }
  }
  if (p.categories !== undefined) {
    comp.removeAllProperties('categories');
    if (p.categories.length) {
      const prop = new ICAL.Property('categories', comp);
      prop.setValues(p.categories);
      comp.addProperty(prop);
    }
  }
  if (p.organizer !== undefined) {
    comp.removeAllProperties('organizer');
    if (p.organizer) {
      const prop = comp.addPropertyWithValue('organizer', `mailto:${p.organizer.email}`);
      if (p.organizer.name) prop.setParameter('cn', p.organizer.name);
    }
  }
  if (p.attendees !== undefined) {
    const old = new Map(comp.getAllProperties('attendee').map((a) => [String(a.getFirstValue()).replace(/^mailto:/i, '').toLowerCase(), a]));
    comp.removeAllProperties('attendee');
    for (const a of p.attendees) {
      const prop = old.get(a.email.toLowerCase()) ?? new ICAL.Property('attendee', comp);
      if (!old.has(a.email.toLowerCase())) prop.setValue(`mailto:${a.email}`);
      if (a.name !== undefined) prop.setParameter('cn', a.name);
      if (a.role) prop.setParameter('role', a.role);
      if (a.partstat) prop.setParameter('partstat', a.partstat);
      else if (!prop.getParameter('partstat')) prop.setParameter('partstat', 'NEEDS-ACTION');
      if (a.rsvp !== undefined) prop.setParameter('rsvp', a.rsvp ? 'TRUE' : 'FALSE');
      if (a.cutype) prop.setParameter('cutype', a.cutype);
      comp.addProperty(prop);
    }
  }
  if (p.alarms !== undefined) {
    for (const v of comp.getAllSubcomponents('valarm')) comp.removeSubcomponent(v);
    for (const a of p.alarms) {
      const v = new ICAL.Component('valarm');
      v.addPropertyWithValue('action', a.action);
      const trig = v.addPropertyWithValue('trigger', ICAL.Duration.fromString(a.trigger));
      if (a.related === 'END') trig.setParameter('related', 'END');
      v.addPropertyWithValue('description', String(comp.getFirstPropertyValue('summary') ?? 'Reminder'));
      if (a.action === 'EMAIL') v.addPropertyWithValue('summary', String(comp.getFirstPropertyValue('summary') ?? 'Reminder'));
      comp.addSubcomponent(v);
    }
  }
}

/** Build a new VCALENDAR (one VEVENT plus its VTIMEZONE) from the JSON model. */
export function buildComponent(input: EventInput, meta: { uid: string; dtstamp: Date; sequence?: number }): string {
  return serializeComponent(buildCalendar(input, meta));
}

/**
 * buildComponent without the serialisation: the VCALENDAR component itself, for a caller that
 * goes on working on it (the create path plans, compiles and serialises it once).
 */
export function buildCalendar(input: EventInput, meta: { uid: string; dtstamp: Date; sequence?: number }): ICAL.Component {
  const cal = new ICAL.Component('vcalendar');
  cal.addPropertyWithValue('version', '2.0');
  cal.addPropertyWithValue('prodid', '-//Calendula//Calendula//EN');
  const ev = new ICAL.Component('vevent');
  cal.addSubcomponent(ev);
  ev.addPropertyWithValue('uid', meta.uid);
  ev.addPropertyWithValue('dtstamp', ICAL.Time.fromJSDate(meta.dtstamp, true));
  ev.addPropertyWithValue('sequence', meta.sequence ?? 0);
  applyFields(ev, { ...input, allDay: input.allDay ?? input.start.length === 10 }, null, false);
  attachTimezones(cal, []);
  return cal;
}

/** Find the master (no recurrenceId) or the override for a recurrence-id key. */
export function findComponent(cal: ICAL.Component, recurrenceId?: string | null): ICAL.Component | null {
  const events = cal.getAllSubcomponents('vevent');
  if (!recurrenceId) return events.find((e) => !e.hasProperty('recurrence-id')) ?? null;
  const s = compileResource(cal);
  return s.overrides.get(recurrenceId)?.comp ?? null;
}

/**
 * Change only the fields present in `patch` on the master, or on the override
 * for `recurrenceId` (which must exist; see addOverride). Returns VCALENDAR text.
 */
export function applyEventPatch(existingText: string, patch: EventPatch, opts: { recurrenceId?: string } = {}): string {
  const cal = parseCalendar(existingText);
  const comp = findComponent(cal, opts.recurrenceId);
  if (!comp) throw new IcalError('NOT_FOUND', opts.recurrenceId ? `No override for ${opts.recurrenceId}` : 'No master VEVENT');
  const cur = jsonOf(cal, comp);
  applyFields(comp, patch, cur.timezone ?? null, !!cur.allDay);
  attachTimezones(cal, cal.getAllSubcomponents('vtimezone'));
  return serializeComponent(cal);
}

function localOf(t: ICAL.Time): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const d = `${p(t.year, 4)}-${p(t.month)}-${p(t.day)}`;
  return t.isDate ? d : `${d}T${p(t.hour)}:${p(t.minute)}:${p(t.second)}`;
}

function jsonOf(cal: ICAL.Component, comp: ICAL.Component): EventJson {
  const s = compileResource(cal);
  const str = (n: string) => {
    const v = comp.getFirstPropertyValue(n);
    return v === null || v === undefined ? undefined : String(v);
  };
  const dtstart = comp.getFirstPropertyValue('dtstart') as ICAL.Time;
  const dtend = (comp.getFirstPropertyValue('dtend') as ICAL.Time | null) ?? null;
  const sp = comp.getFirstProperty('dtstart')!;
  const tzid = sp.getParameter('tzid');
  const tz = typeof tzid === 'string' ? (s.ctx.resolve(tzid).iana ?? tzid) : dtstart.zone === ICAL.Timezone.utcTimezone ? 'UTC' : null;
  const org = comp.getFirstProperty('organizer');
  const out: EventJson = {
    uid: s.uid,
    sequence: Number(comp.getFirstPropertyValue('sequence') ?? 0),
    recurrenceId: comp.hasProperty('recurrence-id') ? [...s.overrides.values()].find((o) => o.comp === comp)?.key ?? null : null,
    summary: str('summary') ?? '',
    start: localOf(dtstart),
    end: dtend ? localOf(dtend) : localOf(dtstart),
    timezone: tz,
    allDay: dtstart.isDate,
  };
  const opt: Array<[keyof EventJson, string]> = [['description', 'description'], ['location', 'location'], ['status', 'status'], ['transparency', 'transp'], ['visibility', 'class'], ['url', 'url'], ['conference', 'conference'], ['color', 'color']];
  for (const [k, n] of opt) {
    const v = str(n);
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  const rr = comp.getFirstPropertyValue('rrule');
  if (rr) out.rrule = String(rr);
  const cats = comp.getAllProperties('categories').flatMap((p) => p.getValues().map(String));
  if (cats.length) out.categories = cats;
  if (org) out.organizer = { email: String(org.getFirstValue()).replace(/^mailto:/i, ''), ...(org.getParameter('cn') ? { name: String(org.getParameter('cn')) } : {}) };
  const atts = attendeesOf(comp);
  if (atts.length) out.attendees = atts.map((a) => ({ email: a.email, ...(a.cn ? { name: a.cn } : {}), role: a.role, partstat: a.partstat, rsvp: a.rsvp, cutype: a.cutype }));
  const alarms = comp.getAllSubcomponents('valarm').flatMap((v) => {
    const t = v.getFirstProperty('trigger');
    const val = t?.getFirstValue();
    if (!(val instanceof ICAL.Duration)) return [];
    const action = String(v.getFirstPropertyValue('action') ?? 'DISPLAY').toUpperCase() === 'EMAIL' ? 'EMAIL' as const : 'DISPLAY' as const;
    return [{ action, trigger: val.toString(), ...(String(t!.getParameter('related') ?? '').toUpperCase() === 'END' ? { related: 'END' as const } : {}) }];
  });
  if (alarms.length) out.alarms = alarms;
  void seriesKey;
  return out;
}

/** Read a resource back into the JSON model (the master, or the override for `recurrenceId`). */
export function eventToJson(text: string, recurrenceId?: string): EventJson {
  const cal = parseCalendar(text);
  const comp = findComponent(cal, recurrenceId) ?? findComponent(cal);
  if (!comp) throw new IcalError('NOT_FOUND', 'No VEVENT in the resource');
  return jsonOf(cal, comp);
}
