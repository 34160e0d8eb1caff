/**
 * Derived index columns for a stored resource (DESIGN.md principle 3): UID,
 * time bounds (accounting for RRULE COUNT/UNTIL, RDATE, moved overrides),
 * organizer, attendees, status and the other columns the store keeps.
 */
import ICAL from 'ical.js';
import { asIcalError } from './errors.js';
import { compileResource, type CompiledComponent, type CompiledSeries } from './compile.js';
import { isCompiled, ruleOf } from './expand.js';
import { DAY_MS, addressOf } from './values.js';
import { ianaZone, wallToUtc, type Zone } from './zones/zone.js';

/** An attendee as indexed. */
export interface AttendeeInfo {
  email: string;
  cn: string | null;
  partstat: string;
  role: string;
  rsvp: boolean;
  cutype: string;
  scheduleAgent: string;
}

/** Index columns of a resource. */
export interface ResourceIndex {
  uid: string;
  componentType: 'VEVENT' | 'VTODO';
  firstStart: Date | null;
  /** null = open-ended (infinite RRULE). Otherwise a safe upper bound of the last end. */
  lastEnd: Date | null;
  recurring: boolean;
  organizer: string | null;
  attendees: AttendeeInfo[];
  status: string | null;
  transp: string | null;
  class: string | null;
  summary: string | null;
  location: string | null;
  description: string | null;
  sequence: number;
  dtstamp: Date | null;
  allDay: boolean;
  floating: boolean;
  hasAlarms: boolean;
}

export { addressOf };

function param(p: ICAL.Property, name: string): string | null {
  const v = p.getParameter(name);
  if (v === undefined || v === null) return null;
  return (Array.isArray(v) ? v.join(',') : String(v)).replace(/^'(.*)'$/, '$1');
}

/** Attendees of a component, normalised. */
export function attendeesOf(comp: ICAL.Component): AttendeeInfo[] {
  return comp.getAllProperties('attendee').flatMap((p) => {
    const email = addressOf(p.getFirstValue());
    if (!email) return [];
    return [{
      email, cn: param(p, 'cn'), partstat: (param(p, 'partstat') ?? 'NEEDS-ACTION').toUpperCase(),
      role: (param(p, 'role') ?? 'REQ-PARTICIPANT').toUpperCase(), rsvp: (param(p, 'rsvp') ?? '').toUpperCase() === 'TRUE',
      cutype: (param(p, 'cutype') ?? 'INDIVIDUAL').toUpperCase(), scheduleAgent: (param(p, 'schedule-agent') ?? 'SERVER').toUpperCase(),
    }];
  });
}

function bounds(wall: number, c: Pick<CompiledComponent, 'span'>, zone: Zone): [number, number] {
  const a = wallToUtc(wall, zone);
  return [a, c.span.days ? wallToUtc(wall + c.span.days * DAY_MS, zone) + c.span.ms : a + c.span.ms];
}

const MAX_COUNT_SCAN = 100_000;

function lastRuleWall(s: CompiledSeries): number | null | 'infinite' {
  const r = ruleOf(s);
  if (!r || !s.rule) return null;
  if (s.rule.count === undefined && s.untilWall === null) return 'infinite';
  if (s.rule.count !== undefined && s.untilWall === null) {
    if (s.rule.count > MAX_COUNT_SCAN) return 'infinite';
    const all = r.all(); // no iterator callback: that disables rrule-temporal's fast path
    return all.length ? all[all.length - 1].epochMilliseconds : null;
  }
  const prev = r.previous(new Date(s.untilWall! + 1000), true);
  return prev ? prev.epochMilliseconds : null;
}

/** Compute the index columns of one resource. Floating/all-day times are read in `defaultTz` (default UTC). */
export function indexResource(input: string | ICAL.Component | CompiledSeries, opts: { defaultTz?: string } = {}): ResourceIndex {
  const s = isCompiled(input) ? input : compileResource(input);
  try {
    return indexInner(s, ianaZone(opts.defaultTz ?? 'UTC'));
  } catch (e) {
    throw asIcalError(e, 'INVALID_ICALENDAR', `Cannot index ${s.uid}`);
  }
}

function indexInner(s: CompiledSeries, floatZone: Zone): ResourceIndex {
  const zone = s.zone ?? floatZone;
  let first = Infinity;
  let last = -Infinity;
  let open = false;
  const see = ([a, b]: [number, number]) => {
    first = Math.min(first, a);
    last = Math.max(last, b);
  };
  if (s.master) {
    see(bounds(s.master.start.wall, s.master, zone));
    const lw = lastRuleWall(s);
    if (lw === 'infinite') open = true;
    else if (lw !== null) see(bounds(lw, s.master, zone));
    for (const r of s.rdates) see(bounds(r.wall, r.span ? { span: r.span } : s.master, zone));
  }
  for (const o of s.overrides.values()) {
    if (s.exKeys.has(o.key)) continue;
    see(bounds(o.start.wall, o, o.start.isDate ? floatZone : (o.start.zone ?? floatZone)));
  }
  const main = s.master?.comp ?? s.components[0];
  const str = (name: string) => {
    const v = main.getFirstPropertyValue(name);
    return v === null || v === undefined ? null : String(v);
  };
  const stamp = main.getFirstPropertyValue('dtstamp') as unknown;
  const seq = Number(main.getFirstPropertyValue('sequence') ?? 0);
  return {
    uid: s.uid,
    componentType: s.componentType,
    firstStart: Number.isFinite(first) ? new Date(first) : null,
    lastEnd: open ? null : Number.isFinite(last) ? new Date(last) : null,
    recurring: !!(s.rule || s.rdates.length),
    organizer: addressOf(main.getFirstPropertyValue('organizer')),
    attendees: attendeesOf(main),
    status: str('status')?.toUpperCase() ?? null,
    transp: str('transp')?.toUpperCase() ?? null,
    class: str('class')?.toUpperCase() ?? null,
    summary: str('summary'),
    location: str('location'),
    description: str('description'),
    sequence: Number.isFinite(seq) ? seq : 0,
    dtstamp: stamp instanceof ICAL.Time ? stamp.toJSDate() : null,
    allDay: s.allDay,
    floating: s.floating,
    hasAlarms: s.components.some((c) => c.getAllSubcomponents('valarm').length > 0),
  };
}
