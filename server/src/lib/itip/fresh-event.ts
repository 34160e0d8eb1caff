/**
 * A new event the server builds from the JSON model (REST / web create), with its implicit
 * scheduling planned — written directly as jCal and serialised once by ical.js's own stringifier.
 *
 * It yields the same bytes as `buildCalendar` → `plan` (RFC 6638 §3.2: SEQUENCE, DTSTAMP,
 * SCHEDULE-STATUS on the organizer's copy; one REQUEST per deliverable attendee, RFC 5546 §3.2.2)
 * → `serialize`, and the index columns and JSON that `compileResource` / `indexResource` /
 * `eventToJson` would read back from that text — without building ical.js Component, Property and
 * Time objects, the planner's clones and views, the compile of the result and the re-parse for
 * the answer (≈ 0.8 ms of CPU per 10-attendee create). The tests compare it with that path
 * property by property (server/test/lib/itip/fresh-event.test.ts).
 *
 * It covers the usual create: one timed, non-recurring VEVENT (IANA zone, UTC or floating) with
 * summary / description / location / status / transparency / visibility, organizer and
 * attendees. Anything else — all-day, RRULE, EXDATE, alarms, categories, URL, conference, colour,
 * control characters in text, a zone alias — returns null, and the caller takes the general path.
 */
import ICAL from 'ical.js';
import type { EventInput, EventJson } from '../ical/model.js';
import type { AttendeeInfo, ResourceIndex } from '../ical/index-resource.js';
import { resolveTzid, vtimezoneFor } from '../ical/zones/resolve.js';
import { ianaZone, wallToUtc } from '../ical/zones/zone.js';
import { isDeliverableAddress, normalizeAddress } from './address.js';
import type { ItipMessage } from './types.js';

export interface FreshEvent {
  /** The organizer's copy as stored (CRLF, trailing CRLF). */
  text: string;
  /** The iTIP messages of the create (all REQUEST, one per deliverable attendee; [] without attendees). */
  messages: ItipMessage[];
  /** Index columns of `text` (as indexResource reads them). */
  index: ResourceIndex;
  /** `text` read back as eventToJson would (the master). */
  json: EventJson;
}

type JProp = [string, Record<string, string>, string, ...unknown[]];

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;
/** Characters that do not survive an iCalendar text value unchanged (only \n is escaped). */
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f]/;
const TEXT_FIELDS = [['summary', 'summary'], ['description', 'description'], ['location', 'location'], ['status', 'status'], ['transparency', 'transp'], ['visibility', 'class']] as const;
/** Fields of EventInput this builder writes; any other field set means the general path. */
const COVERED = new Set(['summary', 'description', 'location', 'start', 'end', 'timezone', 'allDay', 'status', 'transparency', 'visibility', 'organizer', 'attendees']);

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** 'YYYY-MM-DDTHH:mm[:ss]' → jCal date-time value and wall-clock milliseconds. */
function local(value: string): { jcal: string; wall: number } | null {
  const m = LOCAL.exec(value);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [+m[1], +m[2], +m[3], +m[4], +m[5], +(m[6] ?? 0)];
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  const t = new Date(wall);
  // Out-of-range fields (month 13, 25:00, Feb 30) are normalised by ical.js: not covered here.
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || t.getUTCHours() !== h || t.getUTCMinutes() !== mi || t.getUTCSeconds() !== s || y < 1000) return null;
  return { jcal: `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}`, wall };
}

/** DTSTAMP as utcStamp(now) writes it: UTC, whole seconds. */
function stampOf(now: Date): { jcal: string; date: Date } {
  const t = new Date(Math.floor(now.getTime() / 1000) * 1000);
  return { jcal: t.toISOString().slice(0, 19) + 'Z', date: t };
}

/** indexResource's addressOf for a `mailto:` value. */
const addressOf = (email: string) => `mailto:${email}`.trim().replace(/^mailto:/i, '').trim().toLowerCase();

/** ical.js's reading of a parameter value as indexResource's `param` returns it. */
const indexParam = (v: string) => v.replace(/^'(.*)'$/, '$1');

/**
 * The organizer's copy, its REQUEST and what would be read back from them, for `input` as
 * createEventIn resolves it (organizer and attendees set when there are attendees). `now` is the
 * DTSTAMP of both (the planner's messageStamp for a new event). Null when not covered.
 */
export function buildFreshEvent(input: EventInput, meta: { uid: string; now: Date }): FreshEvent | null {
  for (const [k, v] of Object.entries(input)) if (v !== undefined && !COVERED.has(k)) return null;
  if (input.allDay) return null;
  const tz = input.timezone ?? null;
  if (tz !== null && tz !== 'UTC' && resolveTzid(tz).iana !== tz) return null;
  const start = local(input.start);
  const end = local(input.end);
  if (!start || !end || end.wall <= start.wall) return null;
  if (CONTROL.test(meta.uid)) return null;
  const texts: [string, string][] = [];
  for (const [field, prop] of TEXT_FIELDS) {
    let v = input[field] as string | null | undefined;
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string' || CONTROL.test(v)) return null;
    if (field === 'status') v = v.toUpperCase();
    texts.push([prop, v]);
  }
  if (!texts.length || texts[0][0] !== 'summary') return null; // SUMMARY always (an empty one is left out by the builder)
  const org = input.organizer ?? null;
  const atts = input.attendees ?? [];
  // Parameter values (CN): ical.js reads a backslash in a quoted value back as an escape (`\;` → `;`).
  const badParam = (x: unknown) => x !== undefined && (typeof x !== 'string' || CONTROL.test(x) || x.includes('\\'));
  if (org && (CONTROL.test(org.email) || badParam(org.name))) return null;
  for (const a of atts) if (CONTROL.test(a.email) || [a.name, a.role, a.partstat, a.cutype].some(badParam)) return null;

  const stamp = stampOf(meta.now);
  const props: JProp[] = [
    ['uid', {}, 'text', meta.uid],
    ['dtstamp', {}, 'date-time', stamp.jcal],
    ['sequence', {}, 'integer', 0],
  ];
  for (const [prop, v] of texts) props.push([prop, {}, 'text', v]);
  const utc = tz === 'UTC' ? 'Z' : '';
  const tzParam: Record<string, string> = tz && tz !== 'UTC' ? { tzid: tz } : {};
  props.push(['dtstart', { ...tzParam }, 'date-time', start.jcal + utc], ['dtend', { ...tzParam }, 'date-time', end.jcal + utc]);
  if (org) props.push(['organizer', org.name ? { cn: org.name } : {}, 'cal-address', `mailto:${org.email}`]);
  const attParams: Record<string, string>[] = [];
  for (const a of atts) {
    const params: Record<string, string> = {};
    if (a.name !== undefined) params.cn = a.name;
    if (a.role) params.role = a.role;
    params.partstat = a.partstat || 'NEEDS-ACTION';
    if (a.rsvp !== undefined) params.rsvp = a.rsvp ? 'TRUE' : 'FALSE';
    if (a.cutype) params.cutype = a.cutype;
    attParams.push(params);
    props.push(['attendee', params, 'cal-address', `mailto:${a.email}`]);
  }
  // Two attendees with one address make the planner's choices differ: not covered.
  const addrs = atts.map((a) => normalizeAddress(`mailto:${a.email}`));
  if (new Set(addrs).size !== addrs.length) return null;

  let requestLines: string[] | undefined;
  const organizer = org ? normalizeAddress(`mailto:${org.email}`) : '';
  const messages: ItipMessage[] = [];
  if (organizer && atts.length) {
    // The REQUEST (RFC 5546 §3.2.2; lib/itip buildMessage): the event as built, before
    // SCHEDULE-STATUS is added below, in a VCALENDAR with METHOD — one text for every attendee.
    const requestText = calendarText(REQUEST_HEAD, tz, requestLines = props.map(propertyLine));
    atts.forEach((a, i) => {
      const addr = addrs[i];
      if (addr === organizer) return;
      // RFC 6638 §7.3 SCHEDULE-STATUS: 1.2 delivered / queued; 3.7 an address nothing can deliver to.
      if (!isDeliverableAddress(addr)) { attParams[i]['schedule-status'] = '3.7'; return; }
      attParams[i]['schedule-status'] = '1.2';
      messages.push({ uid: meta.uid, sender: organizer, recipient: addr, recipientCn: a.name ? a.name : undefined, method: 'REQUEST', ical: requestText, significantChange: true, recurrenceIds: undefined });
    });
  }
  // The stored copy: the REQUEST's lines but the attendees' (SCHEDULE-STATUS added since).
  const text = calendarText(COPY_HEAD, tz, requestLines ? props.map((pr, i) => (pr[0] === 'attendee' ? propertyLine(pr) : requestLines![i])) : props.map(propertyLine));

  const zone = tz === null ? null : tz === 'UTC' ? 'UTC' : tz;
  const instant = (wall: number) => (zone === null || zone === 'UTC' ? wall : wallToUtc(wall, ianaZone(zone)));
  const textOf = (prop: string) => texts.find((t) => t[0] === prop)?.[1] ?? null;
  const attendees: AttendeeInfo[] = atts.map((a, i) => {
    const p = attParams[i];
    return {
      email: addressOf(a.email), cn: p.cn === undefined ? null : indexParam(p.cn), partstat: (p.partstat ?? 'NEEDS-ACTION').toUpperCase(),
      role: (p.role ?? 'REQ-PARTICIPANT').toUpperCase(), rsvp: (p.rsvp ?? '').toUpperCase() === 'TRUE',
      cutype: (p.cutype ?? 'INDIVIDUAL').toUpperCase(), scheduleAgent: 'SERVER',
    };
  }).filter((a) => a.email);
  const index: ResourceIndex = {
    uid: meta.uid, componentType: 'VEVENT',
    firstStart: new Date(instant(start.wall)), lastEnd: new Date(instant(end.wall)), recurring: false,
    organizer: org ? addressOf(org.email) || null : null, attendees,
    status: textOf('status')?.toUpperCase() ?? null, transp: textOf('transp')?.toUpperCase() ?? null, class: textOf('class')?.toUpperCase() ?? null,
    summary: textOf('summary'), location: textOf('location'), description: textOf('description'),
    sequence: 0, dtstamp: stamp.date, allDay: false, floating: tz === null, hasAlarms: false,
  };
  const json: EventJson = {
    uid: meta.uid, sequence: 0, recurrenceId: null, summary: textOf('summary') ?? '',
    start: start.jcal, end: end.jcal, timezone: zone, allDay: false,
  };
  const jsonFields: [keyof EventJson, string][] = [['description', 'description'], ['location', 'location'], ['status', 'status'], ['transparency', 'transp'], ['visibility', 'class']];
  for (const [k, prop] of jsonFields) {
    const v = textOf(prop);
    if (v !== null) (json as unknown as Record<string, unknown>)[k] = v;
  }
  if (org) json.organizer = { email: org.email, ...(org.name ? { name: org.name } : {}) };
  if (attendees.length) json.attendees = attendees.map((a) => ({ email: a.email, ...(a.cn ? { name: a.cn } : {}), role: a.role, partstat: a.partstat, rsvp: a.rsvp, cutype: a.cutype }));
  return { text, messages, index, json };
}

/*
 * The texts are what lib/itip's serialize(component) makes of the VCALENDAR (ical.js's
 * stringify.component: BEGIN, each property line, each subcomponent, END, CRLF between; a final
 * CRLF), assembled from parts: the VCALENDAR properties and each zone's VTIMEZONE are serialised
 * once per process, and the REQUEST's VEVENT lines are reused for the stored copy except the
 * attendees'. fresh-event.test.ts compares the bytes with the component path.
 */
const CRLF = '\r\n';
const propertyLine = (p: JProp) => ICAL.stringify.property(p as never, ICAL.design.icalendar, false);
const REQUEST_HEAD = ([['prodid', {}, 'text', '-//Calendula//Calendula iTIP//EN'], ['version', {}, 'text', '2.0'], ['method', {}, 'text', 'REQUEST']] as JProp[]).map(propertyLine);
const COPY_HEAD = ([['version', {}, 'text', '2.0'], ['prodid', {}, 'text', '-//Calendula//Calendula//EN']] as JProp[]).map(propertyLine);
const vtimezoneTexts = new Map<string, string>();

function vtimezoneText(tz: string): string {
  let t = vtimezoneTexts.get(tz);
  if (t === undefined) {
    // The VTIMEZONE attachTimezones adds for an IANA zone, as ical.js writes it back.
    t = ICAL.stringify.component(ICAL.parse(vtimezoneFor(tz, tz)) as never, ICAL.design.icalendar);
    if (vtimezoneTexts.size < 1000) vtimezoneTexts.set(tz, t);
  }
  return t;
}

function calendarText(head: string[], tz: string | null, eventLines: string[]): string {
  let r = 'BEGIN:VCALENDAR' + CRLF;
  for (const l of head) r += l + CRLF;
  if (tz && tz !== 'UTC') r += vtimezoneText(tz) + CRLF;
  r += 'BEGIN:VEVENT' + CRLF;
  for (const l of eventLines) r += l + CRLF;
  return r + 'END:VEVENT' + CRLF + 'END:VCALENDAR' + CRLF;
}
