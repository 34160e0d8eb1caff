/** Small iCalendar edits the commands need on top of lib/ical (answers, attachments, identity). */
import ICAL from 'ical.js';
import { parseCalendar, serializeComponent } from '../../lib/ical/index.js';
import { findComponent } from '../../lib/ical/build.js';

const addr = (p: ICAL.Property) => String(p.getFirstValue()).replace(/^mailto:/i, '').trim().toLowerCase();

function events(cal: ICAL.Component) {
  return cal.getAllSubcomponents().filter((c) => c.name === 'vevent' || c.name === 'vtodo');
}

/** Sets the owner's PARTSTAT on the series (all components) or on one override, with an optional COMMENT. */
export function setPartstat(text: string, email: string, partstat: string, opts: { recurrenceId?: string; comment?: string } = {}): string {
  const cal = parseCalendar(text);
  const targets = opts.recurrenceId ? [findComponent(cal, opts.recurrenceId)].filter((c): c is ICAL.Component => !!c) : events(cal);
  const me = email.toLowerCase();
  let found = false;
  for (const c of targets) {
    for (const a of c.getAllProperties('attendee')) {
      if (addr(a) !== me) continue;
      a.setParameter('partstat', partstat);
      a.removeParameter('rsvp');
      found = true;
    }
    c.removeAllProperties('comment');
    if (opts.comment) c.addPropertyWithValue('comment', opts.comment);
  }
  if (!found) throw new Error('not an attendee');
  return serializeComponent(cal);
}

/** Resets every attendee but the organizer to NEEDS-ACTION with RSVP (after a time change). */
export function resetAnswers(text: string, organizer: string): string {
  const cal = parseCalendar(text);
  for (const c of events(cal)) {
    for (const a of c.getAllProperties('attendee')) {
      if (addr(a) === organizer.toLowerCase()) continue;
      a.setParameter('partstat', 'NEEDS-ACTION');
      a.setParameter('rsvp', 'TRUE');
    }
  }
  return serializeComponent(cal);
}

export interface AttachmentRef { id: string; filename: string; contentType: string; size: number; url: string }

/** Replaces the managed ATTACH properties of the master (unmanaged ones, e.g. URLs from clients, stay). */
export function setAttachments(text: string, atts: AttachmentRef[]): string {
  const cal = parseCalendar(text);
  const comp = findComponent(cal);
  if (!comp) return text;
  for (const p of comp.getAllProperties('attach')) if (p.getParameter('x-calendula-id')) comp.removeProperty(p);
  for (const a of atts) {
    const p = new ICAL.Property('attach', comp);
    p.setValue(a.url);
    p.setParameter('fmttype', a.contentType);
    p.setParameter('filename', a.filename);
    p.setParameter('size', String(a.size));
    p.setParameter('x-calendula-id', a.id);
    comp.addProperty(p);
  }
  return serializeComponent(cal);
}

export function managedAttachments(text: string): { id: string; filename: string; contentType: string; size: number }[] {
  const comp = findComponent(parseCalendar(text));
  if (!comp) return [];
  return comp.getAllProperties('attach').flatMap((p) => {
    const id = p.getParameter('x-calendula-id');
    if (typeof id !== 'string') return [];
    return [{ id, filename: String(p.getParameter('filename') ?? 'file'), contentType: String(p.getParameter('fmttype') ?? 'application/octet-stream'), size: Number(p.getParameter('size') ?? 0) }];
  });
}

/** A copy under a new UID with answers reset (duplicate). */
export function withNewUid(text: string, uid: string, organizer: string | null): string {
  const cal = parseCalendar(text);
  for (const c of events(cal)) {
    c.updatePropertyWithValue('uid', uid);
    c.updatePropertyWithValue('sequence', 0);
    c.updatePropertyWithValue('dtstamp', ICAL.Time.fromJSDate(new Date(), true));
  }
  const out = serializeComponent(cal);
  return organizer ? resetAnswers(out, organizer) : out;
}

/** Raises SEQUENCE on every component (a restored meeting must outrank the CANCEL sent at deletion). */
export function bumpSequence(text: string, by: number): string {
  const cal = parseCalendar(text);
  for (const c of events(cal)) c.updatePropertyWithValue('sequence', Number(c.getFirstPropertyValue('sequence') ?? 0) + by);
  return serializeComponent(cal);
}
