/** What one attendee sees of an organizer's copy, and the message bodies built from it. */
import ICAL from 'ical.js';
import { propAddress } from './address.js';
import {
  MASTER, attendeeProp, byKey, clone, compKey, dateKeys, instanceStart, newCalendar,
  sanitizeOutgoing, schedulable, seqOf, serialize, setSeq, setStamp, type Comp,
} from './model.js';

export type View = Map<string, Comp>;

export function isCancelled(c: Comp | undefined): boolean {
  return String(c?.getFirstPropertyValue('status') ?? '').toUpperCase() === 'CANCELLED';
}

export function addExdate(master: Comp, key: string, cal: Comp | null): void {
  if (dateKeys(master, 'exdate', cal).includes(key)) return;
  const { time, tzid } = instanceStart(master, key, cal);
  const p = new ICAL.Property('exdate', master);
  if (time.isDate) p.resetType('date');
  p.setValue(time);
  if (tzid) p.setParameter('tzid', tzid);
  master.addProperty(p);
}

/** An override for instance `key` derived from the master (RFC 5545 §3.8.4.4). */
export function projectInstance(master: Comp, key: string, cal: Comp | null): Comp {
  const c = clone(master);
  for (const n of ['rrule', 'rdate', 'exdate', 'recurrence-id']) c.removeAllProperties(n);
  for (const a of c.getAllSubcomponents('valarm')) c.removeSubcomponent(a);
  const { time, tzid } = instanceStart(master, key, cal);
  const oldStart = master.getFirstPropertyValue('dtstart') as ICAL.Time;
  const rid = new ICAL.Property('recurrence-id', c);
  if (time.isDate) rid.resetType('date');
  rid.setValue(time);
  if (tzid) rid.setParameter('tzid', tzid);
  c.addProperty(rid);
  const dt = c.getFirstProperty('dtstart')!;
  dt.setValue(time.clone());
  const end = c.getFirstProperty('dtend') ?? c.getFirstProperty('due');
  if (end && oldStart) {
    const dur = (end.getFirstValue() as ICAL.Time).subtractDate(oldStart);
    const ne = time.clone();
    ne.addDuration(dur);
    end.setValue(ne);
  }
  return c;
}

/**
 * The components of `cal` that concern `address` (RFC 6638 §3.2.1): the master (with EXDATEs for
 * overrides they are not invited to) and the overrides listing them. Null when not invited.
 */
export function viewFor(cal: Comp, address: string): View | null {
  const comps = byKey(cal);
  const master = comps.get(MASTER);
  const out: View = new Map();
  const m = master && attendeeProp(master, address) ? clone(master) : null;
  if (m) out.set(MASTER, m);
  for (const [k, c] of comps) {
    if (k === MASTER) continue;
    if (attendeeProp(c, address)) out.set(k, clone(c));
    else if (m) addExdate(m, k, cal);
  }
  return out.size ? out : null;
}

/** Every attendee address across all components, with the last property seen for it. */
export function attendeesOf(cal: Comp | null): Map<string, ICAL.Property> {
  const out = new Map<string, ICAL.Property>();
  if (!cal) return out;
  for (const c of schedulable(cal)) {
    for (const p of c.getAllProperties('attendee')) {
      const a = propAddress(p);
      if (a && !out.has(a)) out.set(a, p);
    }
  }
  return out;
}

export function buildMessage(method: string, source: Comp, comps: Comp[], now: Date): string {
  const cal = newCalendar(method, source);
  for (const c of comps) {
    const x = clone(c);
    sanitizeOutgoing(x);
    setStamp(x, now);
    cal.addSubcomponent(x);
  }
  return serialize(cal);
}

/** A CANCEL/REPLY body: the identifying properties of `base`, plus the given attendees. */
export function minimalComp(
  base: Comp, opts: { key: string | null; cal: Comp | null; seq: number; attendees: ICAL.Property[]; status?: string },
): Comp {
  const src = opts.key && opts.key !== MASTER && compKey(base, opts.cal) === MASTER
    ? projectInstance(base, opts.key, opts.cal)
    : base;
  const c = new ICAL.Component(src.name);
  const keep = ['uid', 'recurrence-id', 'dtstart', 'dtend', 'duration', 'due', 'summary', 'location', 'organizer'];
  if (!opts.key) keep.push('rrule', 'rdate', 'exdate');
  for (const n of keep) for (const p of src.getAllProperties(n)) c.addProperty(new ICAL.Property(structuredClone(p.toJSON()) as never));
  for (const a of opts.attendees) c.addProperty(new ICAL.Property(structuredClone(a.toJSON()) as never));
  setSeq(c, opts.seq);
  if (opts.status) c.updatePropertyWithValue('status', opts.status);
  return c;
}

export function maxSeq(cal: Comp | null): number {
  return cal ? Math.max(0, ...schedulable(cal).map(seqOf)) : 0;
}

export function cnOf(p: ICAL.Property | undefined): string | undefined {
  const v = p?.getParameter('cn');
  return typeof v === 'string' && v ? v : undefined;
}

