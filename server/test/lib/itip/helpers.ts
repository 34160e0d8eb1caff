import ICAL from 'ical.js';

export const ORG = 'org@example.com';
export const NOW = new Date('2024-05-01T10:00:00Z');
export const LATER = new Date('2024-05-02T10:00:00Z');

export interface Att { email: string; partstat?: string; params?: string }
export interface Ev {
  uid?: string; seq?: number; start?: string; end?: string; rrule?: string; exdate?: string[];
  summary?: string; description?: string; location?: string; status?: string; rid?: string;
  attendees?: Att[]; extra?: string[]; stamp?: string; organizer?: string;
}

export function vevent(e: Ev): string {
  const lines = [
    'BEGIN:VEVENT',
    `UID:${e.uid ?? 'evt-1@example.com'}`,
    `DTSTAMP:${e.stamp ?? '20240401T000000Z'}`,
    ...(e.rid ? [`RECURRENCE-ID:${e.rid}`] : []),
    `DTSTART:${e.start ?? '20240610T090000Z'}`,
    `DTEND:${e.end ?? '20240610T100000Z'}`,
    `SEQUENCE:${e.seq ?? 0}`,
    `SUMMARY:${e.summary ?? 'Planning'}`,
    ...(e.description ? [`DESCRIPTION:${e.description}`] : []),
    ...(e.location ? [`LOCATION:${e.location}`] : []),
    ...(e.status ? [`STATUS:${e.status}`] : []),
    ...(e.rrule ? [`RRULE:${e.rrule}`] : []),
    ...(e.exdate ?? []).map((x) => `EXDATE:${x}`),
    `ORGANIZER;CN=Olga:mailto:${e.organizer ?? ORG}`,
    ...(e.attendees ?? []).map((a) => `ATTENDEE;PARTSTAT=${a.partstat ?? 'NEEDS-ACTION'}${a.params ?? ''}:mailto:${a.email}`),
    ...(e.extra ?? []),
    'END:VEVENT',
  ];
  return lines.join('\r\n');
}

export function cal(...events: Ev[]): string {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', ...events.map(vevent), 'END:VCALENDAR', ''].join('\r\n');
}

export function comps(text: string): ICAL.Component[] {
  const c = new ICAL.Component(ICAL.parse(text));
  return c.getAllSubcomponents().filter((x) => x.name === 'vevent');
}

export function master(text: string): ICAL.Component {
  return comps(text).find((c) => !c.getFirstProperty('recurrence-id'))!;
}

export function att(c: ICAL.Component, email: string): ICAL.Property | undefined {
  return c.getAllProperties('attendee').find((p) => String(p.getFirstValue()).toLowerCase() === `mailto:${email}`);
}

export function prop(text: string, name: string): string | undefined {
  const c = comps(text)[0];
  const v = c?.getFirstPropertyValue(name);
  return v == null ? undefined : String(v);
}

export function method(text: string): string {
  return String(new ICAL.Component(ICAL.parse(text)).getFirstPropertyValue('method') ?? '');
}
