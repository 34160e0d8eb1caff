// RFC 5546 §3.2 required-property checker for generated iTIP messages (VEVENT). Returns problems.
import ICAL from 'ical.js';

const REQUIRED: Record<string, { props: string[]; attendees: [number, number]; sequence?: boolean }> = {
  // [min, max] ATTENDEE count; Infinity = any
  REQUEST: { props: ['dtstamp', 'dtstart', 'organizer', 'uid'], attendees: [1, Infinity] },
  ADD: { props: ['dtstamp', 'dtstart', 'organizer', 'uid', 'summary'], attendees: [1, Infinity], sequence: true },
  CANCEL: { props: ['dtstamp', 'organizer', 'uid'], attendees: [0, Infinity], sequence: true },
  REPLY: { props: ['dtstamp', 'organizer', 'uid'], attendees: [1, 1] },
  REFRESH: { props: ['dtstamp', 'organizer', 'uid'], attendees: [1, 1] },
  COUNTER: { props: ['dtstamp', 'dtstart', 'organizer', 'uid'], attendees: [1, Infinity] },
  DECLINECOUNTER: { props: ['dtstamp', 'organizer', 'uid'], attendees: [1, Infinity] },
};

export function checkImip(text: string): string[] {
  const problems: string[] = [];
  let cal: ICAL.Component;
  try {
    cal = new ICAL.Component(ICAL.parse(text) as never);
  } catch (e) {
    return [`does not parse: ${(e as Error).message}`];
  }
  const method = String(cal.getFirstPropertyValue('method') ?? '').toUpperCase();
  if (!method) problems.push('no METHOD');
  if (!cal.getFirstPropertyValue('prodid')) problems.push('no PRODID');
  if (String(cal.getFirstPropertyValue('version')) !== '2.0') problems.push('VERSION is not 2.0');
  const rule = REQUIRED[method];
  if (!rule) return [...problems, `unknown METHOD ${method}`];
  const comps = cal.getAllSubcomponents('vevent');
  if (!comps.length) problems.push('no VEVENT');
  const uids = new Set(comps.map((c) => String(c.getFirstPropertyValue('uid'))));
  if (uids.size > 1) problems.push('more than one UID in one message');
  // Every TZID used has its VTIMEZONE (RFC 5546 §3.1 / RFC 5545 §3.2.19).
  const zones = new Set(cal.getAllSubcomponents('vtimezone').map((z) => String(z.getFirstPropertyValue('tzid'))));
  const walk = (c: ICAL.Component) => {
    for (const p of c.getAllProperties()) {
      const tz = p.getParameter('tzid');
      if (typeof tz === 'string' && !zones.has(tz)) problems.push(`TZID ${tz} without VTIMEZONE`);
    }
    c.getAllSubcomponents().forEach(walk);
  };
  comps.forEach(walk);
  for (const c of comps) {
    for (const p of rule.props) if (!c.hasProperty(p)) problems.push(`${method}: ${p.toUpperCase()} missing`);
    const n = c.getAllProperties('attendee').length;
    if (n < rule.attendees[0] || n > rule.attendees[1]) problems.push(`${method}: ${n} ATTENDEE (expected ${rule.attendees[0]}..${rule.attendees[1]})`);
    if (rule.sequence && !c.hasProperty('sequence')) problems.push(`${method}: SEQUENCE missing`);
    if (c.hasProperty('dtend') && c.hasProperty('duration')) problems.push('both DTEND and DURATION');
  }
  return [...new Set(problems)];
}
