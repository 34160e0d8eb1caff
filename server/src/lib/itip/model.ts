/**
 * Small ical.js helpers used by the iTIP planner and applier. Deliberately independent of
 * lib/ical (built concurrently); everything here is pure.
 */
import ICAL from 'ical.js';
import { propAddress, sameAddress } from './address.js';

export type Comp = ICAL.Component;
export type Prop = ICAL.Property;

export const MASTER = 'master';
const SCHEDULABLE = ['vevent', 'vtodo'];

export function parseCalendar(text: string): Comp {
  const jcal = ICAL.parse(text);
  const root = new ICAL.Component(Array.isArray(jcal[0]) ? jcal[0] : jcal);
  if (root.name !== 'vcalendar') throw new Error('not a VCALENDAR');
  return root;
}

export function clone(c: Comp): Comp {
  return new ICAL.Component(structuredClone(c.toJSON()));
}

export function schedulable(cal: Comp): Comp[] {
  return cal.getAllSubcomponents().filter((c) => SCHEDULABLE.includes(c.name));
}

export function uidOf(cal: Comp): string {
  const c = schedulable(cal)[0];
  return c ? String(c.getFirstPropertyValue('uid') ?? '') : '';
}

function vtimezone(cal: Comp | null, tzid: string): ICAL.Timezone | null {
  if (!cal) return null;
  for (const v of cal.getAllSubcomponents('vtimezone')) {
    if (String(v.getFirstPropertyValue('tzid') ?? '').trim() === tzid.trim()) {
      try {
        return new ICAL.Timezone(v);
      } catch {
        return null;
      }
    }
  }
  return null;
}

/**
 * A stable key for one instance start: UTC 'YYYYMMDDTHHMMSSZ', 'YYYYMMDD' for dates, or the local
 * value prefixed by its TZID when the zone is unknown. RECURRENCE-ID and EXDATE are compared by
 * these keys, so `20140707T050000Z` and `TZID=Europe/Berlin:20140707T070000` meet when the
 * calendar carries the VTIMEZONE.
 */
export function timeKey(t: ICAL.Time, tzid: string | null, cal: Comp | null): string {
  const compact = (s: string) => s.replace(/[-:]/g, '');
  if (t.isDate) return compact(t.toString());
  if (t.zone === ICAL.Timezone.utcTimezone || t.toString().endsWith('Z')) {
    return compact(t.toString()).replace(/Z?$/, 'Z');
  }
  const tz = tzid ? vtimezone(cal, tzid) : null;
  if (tz) {
    const local = t.clone();
    local.zone = tz;
    return compact(local.convertToZone(ICAL.Timezone.utcTimezone).toString()).replace(/Z?$/, 'Z');
  }
  return (tzid ? `${tzid}:` : '') + compact(t.toString());
}

function propTimeKeys(p: Prop, cal: Comp | null): string[] {
  const tzid = p.getParameter('tzid');
  return p.getValues().map((v) => {
    const t = v instanceof ICAL.Period ? v.start : (v as ICAL.Time);
    return timeKey(t, typeof tzid === 'string' ? tzid : null, cal);
  });
}

export function compKey(c: Comp, cal: Comp | null): string {
  const rid = c.getFirstProperty('recurrence-id');
  return rid ? propTimeKeys(rid, cal)[0] : MASTER;
}

export function dateKeys(c: Comp, name: 'exdate' | 'rdate', cal: Comp | null): string[] {
  return c.getAllProperties(name).flatMap((p) => propTimeKeys(p, cal));
}

export function byKey(cal: Comp): Map<string, Comp> {
  const m = new Map<string, Comp>();
  for (const c of schedulable(cal)) m.set(compKey(c, cal), c);
  return m;
}

export function seqOf(c: Comp | undefined | null): number {
  const v = c?.getFirstPropertyValue('sequence');
  const n = typeof v === 'number' ? v : parseInt(String(v ?? '0'), 10);
  return Number.isFinite(n) ? n : 0;
}

/** DTSTAMP as a comparable 'YYYYMMDDTHHMMSSZ' string ('' when absent). */
export function stampOf(c: Comp | undefined | null): string {
  const p = c?.getFirstProperty('dtstamp');
  return p ? propTimeKeys(p, null)[0] : '';
}

export function utcStamp(d: Date): ICAL.Time {
  return ICAL.Time.fromJSDate(d, true);
}

export function setStamp(c: Comp, now: Date): void {
  c.updatePropertyWithValue('dtstamp', utcStamp(now));
}

export function setSeq(c: Comp, seq: number): void {
  c.updatePropertyWithValue('sequence', seq);
}

/** RFC 5546 §2.1.5: newer = higher SEQUENCE, or same SEQUENCE and later DTSTAMP. */
export function isNewer(incoming: Comp, existing: Comp | undefined | null): boolean {
  if (!existing) return true;
  const a = seqOf(incoming);
  const b = seqOf(existing);
  if (a !== b) return a > b;
  return stampOf(incoming) > stampOf(existing);
}

export function organizerOf(c: Comp | undefined | null): Prop | null {
  return c?.getFirstProperty('organizer') ?? null;
}

export function organizerAddress(cal: Comp): string {
  for (const c of schedulable(cal)) {
    const o = organizerOf(c);
    if (o) return propAddress(o);
  }
  return '';
}

export function attendeeProp(c: Comp, address: string): Prop | null {
  return c.getAllProperties('attendee').find((p) => sameAddress(p, address)) ?? null;
}

export function partstatOf(p: Prop | null): string {
  const v = p?.getParameter('partstat');
  return typeof v === 'string' ? v.toUpperCase() : 'NEEDS-ACTION';
}

export function param(p: Prop, name: string): string {
  const v = p.getParameter(name);
  return typeof v === 'string' ? v : Array.isArray(v) ? v.join(',') : '';
}

export function removeParams(p: Prop, pred: (name: string) => boolean): void {
  const params = (p.toJSON() as unknown[])[1] as Record<string, unknown>;
  for (const k of Object.keys(params)) if (pred(k.toLowerCase())) p.removeParameter(k);
}

/** Properties and components that belong to one user's copy and never leave it. */
export function isPrivateProp(name: string): boolean {
  const n = name.toLowerCase();
  return n.startsWith('x-moz-') || n.startsWith('x-calendula-private-');
}

const SCHEDULING_PARAMS = ['schedule-status', 'schedule-agent', 'schedule-force-send'];

/** Make a component fit to leave the server: RFC 6638 §7.1–7.3 params and private data removed. */
export function sanitizeOutgoing(c: Comp): void {
  for (const a of c.getAllSubcomponents('valarm')) c.removeSubcomponent(a);
  for (const p of [...c.getAllProperties()]) {
    if (isPrivateProp(p.name)) c.removeProperty(p);
  }
  for (const p of [...c.getAllProperties('attendee'), ...c.getAllProperties('organizer')]) {
    removeParams(p, (n) => SCHEDULING_PARAMS.includes(n) || n.startsWith('x-calendula-'));
  }
}

export function newCalendar(method: string | null, source: Comp | null): Comp {
  const cal = new ICAL.Component('vcalendar');
  cal.addPropertyWithValue('prodid', '-//Calendula//Calendula iTIP//EN');
  cal.addPropertyWithValue('version', '2.0');
  if (source?.getFirstProperty('calscale')) {
    cal.addPropertyWithValue('calscale', source.getFirstPropertyValue('calscale'));
  }
  if (method) cal.addPropertyWithValue('method', method);
  if (source) for (const tz of source.getAllSubcomponents('vtimezone')) cal.addSubcomponent(clone(tz));
  return cal;
}

export function serialize(cal: Comp): string {
  const s = cal.toString();
  return s.replace(/\r?\n/g, '\r\n') + (s.endsWith('\n') ? '' : '\r\n');
}

/**
 * Canonical text of a set of components for equality checks: private data, DTSTAMP and
 * scheduling params removed, properties sorted, EXDATE/RDATE reduced to sorted key sets.
 * `skip` removes more (e.g. SEQUENCE, or one attendee's PARTSTAT).
 */
export function fingerprint(
  comps: Map<string, Comp>,
  cal: Comp | null,
  opts: { skipProps?: string[]; dropPartstat?: boolean } = {},
): string {
  const skip = new Set(['dtstamp', 'last-modified', ...(opts.skipProps ?? [])]);
  const out: string[] = [];
  for (const key of [...comps.keys()].sort()) {
    const c = clone(comps.get(key)!);
    sanitizeOutgoing(c);
    const lines: string[] = [];
    for (const p of c.getAllProperties()) {
      if (skip.has(p.name) || p.name === 'exdate' || p.name === 'rdate') continue;
      if (opts.dropPartstat && p.name === 'attendee') {
        removeParams(p, (n) => n === 'partstat' || n === 'rsvp');
      }
      lines.push(p.toICALString());
    }
    if (!skip.has('exdate')) lines.push(`EXDATE:${[...new Set(dateKeys(c, 'exdate', cal))].sort().join(',')}`);
    if (!skip.has('rdate')) lines.push(`RDATE:${[...new Set(dateKeys(c, 'rdate', cal))].sort().join(',')}`);
    for (const sub of c.getAllSubcomponents()) lines.push(sub.toString());
    out.push(`${key}\n${lines.sort().join('\n')}`);
  }
  return out.join('\n--\n');
}

/** An ICAL.Time for an instance key, shaped like the master's DTSTART (same TZID). */
export function instanceStart(master: Comp, key: string, cal: Comp | null): { time: ICAL.Time; tzid: string | null } {
  const dt = master.getFirstProperty('dtstart')!;
  const tzidRaw = dt.getParameter('tzid');
  const tzid = typeof tzidRaw === 'string' ? tzidRaw : null;
  const start = dt.getFirstValue() as ICAL.Time;
  const m = /^(?:(.*):)?(\d{8})(?:T(\d{6})(Z?))?$/.exec(key);
  if (!m) return { time: start.clone(), tzid };
  const [, keyTz, d, t, z] = m;
  const base = ICAL.Time.fromData({
    year: +d.slice(0, 4), month: +d.slice(4, 6), day: +d.slice(6, 8),
    hour: t ? +t.slice(0, 2) : 0, minute: t ? +t.slice(2, 4) : 0, second: t ? +t.slice(4, 6) : 0,
    isDate: !t,
  });
  if (!t) return { time: base, tzid: null };
  if (z) {
    base.zone = ICAL.Timezone.utcTimezone;
    const tz = tzid ? vtimezone(cal, tzid) : null;
    if (tz) return { time: base.convertToZone(tz), tzid };
    // Zone unknown: keep the instance in UTC rather than guess an offset.
    return { time: base, tzid: null };
  }
  return { time: base, tzid: keyTz ?? tzid };
}
