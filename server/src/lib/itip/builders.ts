/** Message builders for the less common methods, and helpers for internal (same-server) scheduling. */
import ICAL from 'ical.js';
import { normalizeAddress, propAddress } from './address.js';
import { apply } from './apply.js';
import {
  MASTER, attendeeProp, byKey, clone, organizerAddress, organizerOf, parseCalendar, schedulable,
  seqOf, serialize, uidOf,
} from './model.js';
import type { ApplyResult, ItipMessage } from './types.js';
import { buildMessage, cnOf, minimalComp, projectInstance, viewFor } from './views.js';

function pick(cal: ICAL.Component, recurrenceId?: string): { key: string; comp: ICAL.Component } {
  const m = byKey(cal);
  if (recurrenceId && recurrenceId !== MASTER) {
    const o = m.get(recurrenceId) ?? (m.get(MASTER) ? projectInstance(m.get(MASTER)!, recurrenceId, cal) : undefined);
    if (o) return { key: recurrenceId, comp: o };
  }
  const master = m.get(MASTER) ?? [...m.values()][0];
  if (!master) throw new Error('no VEVENT/VTODO');
  return { key: MASTER, comp: master };
}

function setTime(c: ICAL.Component, name: string, value: string | ICAL.Time, tzid?: string): void {
  const t = typeof value === 'string' ? ICAL.Time.fromString(value.replace(/^(\d{4})(\d{2})(\d{2})(T(\d{2})(\d{2})(\d{2})(Z?))?$/, (_, y, mo, d, _t, h, mi, s, z) => `${y}-${mo}-${d}${h ? `T${h}:${mi}:${s}${z}` : ''}`), null) : value;
  c.removeAllProperties(name);
  const p = new ICAL.Property(name, c);
  if (t.isDate) p.resetType('date');
  p.setValue(t);
  if (tzid && !t.isDate && t.zone !== ICAL.Timezone.utcTimezone) p.setParameter('tzid', tzid);
  c.addProperty(p);
}

/**
 * COUNTER (RFC 5546 §3.2.7): the attendee proposes another time. Built from the attendee's copy;
 * times are 'YYYYMMDDTHHMMSSZ', ISO strings or ICAL.Time.
 */
export function counter(input: {
  attendeeText: string; attendeeEmail: string; dtstart: string | ICAL.Time; dtend?: string | ICAL.Time;
  tzid?: string; recurrenceId?: string; comment?: string; now?: Date;
}): ItipMessage {
  const cal = parseCalendar(input.attendeeText);
  const me = normalizeAddress(input.attendeeEmail);
  const { key, comp } = pick(cal, input.recurrenceId);
  const c = clone(comp);
  for (const n of ['rrule', 'rdate', 'exdate']) if (key !== MASTER) c.removeAllProperties(n);
  setTime(c, 'dtstart', input.dtstart, input.tzid);
  if (input.dtend) {
    c.removeAllProperties('duration');
    setTime(c, 'dtend', input.dtend, input.tzid);
  }
  for (const a of c.getAllProperties('attendee')) if (propAddress(a) !== me) c.removeProperty(a);
  c.removeAllProperties('comment');
  if (input.comment) c.addPropertyWithValue('comment', input.comment);
  const org = organizerOf(c);
  return {
    method: 'COUNTER', uid: uidOf(cal), sender: me, recipient: organizerAddress(cal), recipientCn: org ? cnOf(org) : undefined,
    ical: buildMessage('COUNTER', cal, [c], input.now ?? new Date()), significantChange: true,
    recurrenceIds: key === MASTER ? undefined : [key],
  };
}

/** DECLINECOUNTER (RFC 5546 §3.2.8): the organizer refuses a COUNTER. */
export function declineCounter(input: { organizerText: string; counterIcal: string; comment?: string; now?: Date }): ItipMessage {
  const cal = parseCalendar(input.organizerText);
  const ctr = schedulable(parseCalendar(input.counterIcal))[0];
  const who = propAddress(ctr.getFirstProperty('attendee')!);
  const rid = ctr.getFirstProperty('recurrence-id');
  const { key, comp } = pick(cal, rid ? byKeyOf(input.counterIcal) : undefined);
  const att = attendeeProp(comp, who) ?? ctr.getFirstProperty('attendee')!;
  const c = minimalComp(comp, { key: key === MASTER ? null : key, cal, seq: seqOf(comp), attendees: [att] });
  if (input.comment) c.addPropertyWithValue('comment', input.comment);
  return {
    method: 'DECLINECOUNTER', uid: uidOf(cal), sender: organizerAddress(cal), recipient: who, recipientCn: cnOf(att),
    ical: buildMessage('DECLINECOUNTER', cal, [c], input.now ?? new Date()), significantChange: true,
    recurrenceIds: key === MASTER ? undefined : [key],
  };
}

function byKeyOf(ical: string): string {
  return [...byKey(parseCalendar(ical)).keys()][0];
}

/** REFRESH (RFC 5546 §3.2.6): an attendee asks the organizer for the current version. */
export function refresh(input: { attendeeText: string; attendeeEmail: string; recurrenceId?: string; now?: Date }): ItipMessage {
  const cal = parseCalendar(input.attendeeText);
  const me = normalizeAddress(input.attendeeEmail);
  const { key, comp } = pick(cal, input.recurrenceId);
  const att = attendeeProp(comp, me);
  if (!att) throw new Error(`${me} is not an attendee`);
  const c = new ICAL.Component(comp.name);
  for (const n of ['uid', 'recurrence-id', 'organizer']) for (const p of comp.getAllProperties(n)) c.addProperty(new ICAL.Property(structuredClone(p.toJSON()) as never));
  c.addProperty(new ICAL.Property(structuredClone(att.toJSON()) as never));
  return {
    method: 'REFRESH', uid: uidOf(cal), sender: me, recipient: organizerAddress(cal),
    ical: buildMessage('REFRESH', cal, [c], input.now ?? new Date()), significantChange: false,
    recurrenceIds: key === MASTER ? undefined : [key],
  };
}

/** The REQUEST carrying `attendeeEmail`'s current view of the organizer's copy (answer to REFRESH). */
export function requestFor(organizerText: string, attendeeEmail: string, now: Date = new Date()): ItipMessage | null {
  const cal = parseCalendar(organizerText);
  const who = normalizeAddress(attendeeEmail);
  const view = viewFor(cal, who);
  if (!view) return null;
  const p = [...view.values()].map((c) => attendeeProp(c, who)).find(Boolean);
  return {
    method: 'REQUEST', uid: uidOf(cal), sender: organizerAddress(cal), recipient: who, recipientCn: p ? cnOf(p) : undefined,
    ical: buildMessage('REQUEST', cal, [...view.values()], now), significantChange: false,
    recurrenceIds: view.has(MASTER) ? undefined : [...view.keys()],
  };
}

/**
 * Internal scheduling: the attendee's own copy after the organizer's write — the same result as
 * delivering and applying the REQUEST (or CANCEL when they are no longer invited).
 */
export function attendeeCopyFromOrganizer(organizerText: string, attendeeEmail: string, existingAttendeeCopy: string | null, now: Date = new Date()): ApplyResult {
  const organizer = organizerAddress(parseCalendar(organizerText));
  const req = requestFor(organizerText, attendeeEmail, now);
  if (req) return apply({ method: 'REQUEST', ical: req.ical, sender: organizer }, existingAttendeeCopy, attendeeEmail, { trust: 'trusted', now });
  if (!existingAttendeeCopy) return { action: 'ignore', code: 'NOT_ATTENDEE', reason: `${attendeeEmail} is not invited and has no copy.` };
  const cal = parseCalendar(organizerText);
  const comps = schedulable(cal).filter((c) => !c.getFirstProperty('recurrence-id'));
  const c = minimalComp(comps[0] ?? schedulable(cal)[0], { key: null, cal, seq: Math.max(...schedulable(cal).map(seqOf)), attendees: [], status: 'CANCELLED' });
  const ical = buildMessage('CANCEL', cal, [c], now);
  return apply({ method: 'CANCEL', ical, sender: organizer }, existingAttendeeCopy, attendeeEmail, { trust: 'trusted', now });
}

/** Internal scheduling: the organizer's copy after applying the attendee's answers from their copy. */
export function replyToOrganizerCopy(organizerText: string, attendeeCopyText: string, attendeeEmail: string, now: Date = new Date()): ApplyResult {
  const cal = parseCalendar(attendeeCopyText);
  const who = normalizeAddress(attendeeEmail);
  const comps = schedulable(cal).filter((c) => attendeeProp(c, who)).map((c) => {
    const x = minimalComp(c, { key: c.getFirstProperty('recurrence-id') ? 'instance' : null, cal, seq: seqOf(c), attendees: [attendeeProp(c, who)!] });
    x.removeAllProperties('rrule');
    for (const cm of c.getAllProperties('comment')) x.addProperty(new ICAL.Property(structuredClone(cm.toJSON()) as never));
    return x;
  });
  if (!comps.length) return { action: 'ignore', code: 'NOT_ATTENDEE', reason: `${who} is not an attendee in their copy.` };
  const ical = buildMessage('REPLY', cal, comps, now);
  return apply({ method: 'REPLY', ical, sender: who }, organizerText, organizerAddress(parseCalendar(organizerText)), { trust: 'trusted', now });
}

/**
 * Write SCHEDULE-STATUS (RFC 6638 §7.3) for one attendee after delivery: '1.2' queued/delivered,
 * '2.0' success, '3.7' invalid calendar user, '5.1' could not deliver, '5.2' no delivery method, '5.3' no scheduling support.
 */
export function setScheduleStatus(organizerText: string, attendeeEmail: string, status: string): string {
  const cal = parseCalendar(organizerText);
  for (const c of schedulable(cal)) attendeeProp(c, attendeeEmail)?.setParameter('schedule-status', status);
  return serialize(cal);
}
