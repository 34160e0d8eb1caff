// Time helpers shared by filter.ts and calendarData.ts: ical.js values → UTC milliseconds, and
// iteration over the instances of a recurring component (RFC 4791 §9.9 needs both).
import ICAL from 'ical.js';

const DAY_MS = 86_400_000;

/**
 * Converts ical.js times to epoch ms. Floating times (and DATE values) are interpreted in
 * `floating` (RFC 4791 §9.9: the CALDAV:timezone of the query, else the calendar's
 * calendar-timezone), UTC when none is given.
 *
 * A TZID that the process never registered makes ical.js silently produce floating time
 * (DEPENDENCIES.md gotcha 5). We then fall back to the VTIMEZONE carried in the object itself,
 * built into a local ICAL.Timezone — never registered globally, as DESIGN.md asks.
 */
export class TimeContext {
  private readonly zones = new Map<string, ICAL.Timezone | null>();
  constructor(
    private readonly root: ICAL.Component | null,
    readonly floating: ICAL.Timezone | null = null,
  ) {}

  private zone(tzid: string): ICAL.Timezone | null {
    if (this.zones.has(tzid)) return this.zones.get(tzid)!;
    let tz: ICAL.Timezone | null = ICAL.TimezoneService.get(tzid) ?? null;
    if (!tz && this.root) {
      const vtz = this.root.getAllSubcomponents('vtimezone').find((c) => c.getFirstPropertyValue('tzid') === tzid);
      if (vtz) {
        try {
          tz = new ICAL.Timezone({ component: vtz, tzid });
        } catch {
          tz = null;
        }
      }
    }
    this.zones.set(tzid, tz);
    return tz;
  }

  /** Epoch ms of `t`; `tzid` is the TZID parameter of the property the time came from. */
  ms(t: ICAL.Time, tzid?: string | null): number {
    const base = t.toUnixTime() * 1000;
    const z = t.zone;
    const isFloating = t.isDate || !z || z === ICAL.Timezone.localTimezone || z.tzid === 'floating';
    if (!isFloating) return base;
    const tz = tzid && !t.isDate ? this.zone(tzid) : this.floating;
    if (!tz) return base;
    return base - tz.utcOffset(t) * 1000;
  }

  /** Epoch ms of the first value of `name` on `comp`, or null. */
  propMs(comp: ICAL.Component, name: string): number | null {
    const p = comp.getFirstProperty(name);
    if (!p) return null;
    const v = p.getFirstValue();
    if (!(v instanceof ICAL.Time)) return null;
    return this.ms(v, p.getParameter('tzid') as string | undefined);
  }
}

export function isDateProp(comp: ICAL.Component, name: string): boolean {
  const v = comp.getFirstPropertyValue(name);
  return v instanceof ICAL.Time && v.isDate;
}

export function durationMs(comp: ICAL.Component): number | null {
  const d = comp.getFirstPropertyValue('duration');
  return d instanceof ICAL.Duration ? d.toSeconds() * 1000 : null;
}

/** RFC 5545 §3.8.5.3: a component with RRULE or RDATE and no RECURRENCE-ID is a master. */
export function isRecurringMaster(comp: ICAL.Component): boolean {
  return !comp.hasProperty('recurrence-id') && (comp.hasProperty('rrule') || comp.hasProperty('rdate'));
}

/** The overridden instances (same UID, RECURRENCE-ID set) next to `master` in its VCALENDAR. */
export function overridesOf(master: ICAL.Component): ICAL.Component[] {
  const parent = master.parent;
  if (!parent) return [];
  const uid = master.getFirstPropertyValue('uid');
  return parent
    .getAllSubcomponents(master.name)
    .filter((c) => c !== master && c.hasProperty('recurrence-id') && c.getFirstPropertyValue('uid') === uid);
}

/** Start and end (ms) of a VEVENT-like component per RFC 4791 §9.9 / RFC 5545 §3.6.1.
 *  `explicitEnd` is true when DTEND is present (§9.9 then always uses the strict comparison). */
export function eventBounds(comp: ICAL.Component, ctx: TimeContext): { start: number; end: number; explicitEnd?: boolean } | null {
  const start = ctx.propMs(comp, 'dtstart');
  if (start === null) return null;
  const dtend = ctx.propMs(comp, 'dtend');
  if (dtend !== null) return { start, end: dtend, explicitEnd: true };
  const dur = durationMs(comp);
  if (dur !== null) return { start, end: start + dur };
  // No DTEND/DURATION: a DATE lasts one day, a DATE-TIME is instantaneous.
  return { start, end: isDateProp(comp, 'dtstart') ? start + DAY_MS : start };
}

export interface Instance {
  /** The component holding this instance's properties: the master or an override. */
  item: ICAL.Component;
  /** ms to add to the item's own times to get this instance's times (0 for overrides). */
  shift: number;
  /** RECURRENCE-ID of the instance. */
  recurrenceId: ICAL.Time;
  recurrenceIdMs: number;
}

export const DEFAULT_MAX_INSTANCES = 5000;

/**
 * Visit the instances of a recurring master in RECURRENCE-ID order until `visit` returns
 * 'stop' or `max` instances were seen (a safety cap: ical.js iterates from DTSTART at ~15 µs
 * per step, so a daily rule from 1990 needs ~12k steps to reach 2024). Returns why it ended.
 * Production should inject a faster expander (rrule-temporal) instead of relying on this.
 */
export function forEachInstance(
  master: ICAL.Component,
  ctx: TimeContext,
  visit: (inst: Instance) => 'stop' | void,
  max = DEFAULT_MAX_INSTANCES,
): 'done' | 'stopped' | 'capped' {
  const event = new ICAL.Event(master, { exceptions: overridesOf(master) });
  const dtstartProp = master.getFirstProperty('dtstart');
  if (!dtstartProp) return 'done';
  const tzid = dtstartProp.getParameter('tzid') as string | undefined;
  const masterStart = ctx.propMs(master, 'dtstart')!;
  const it = event.iterator();
  for (let i = 0; i < max; i++) {
    const next = it.next();
    if (!next) return 'done';
    const recurrenceIdMs = ctx.ms(next, tzid);
    const details = event.getOccurrenceDetails(next);
    const item = details.item.component;
    const shift = item === master ? recurrenceIdMs - masterStart : 0;
    if (visit({ item, shift, recurrenceId: next, recurrenceIdMs }) === 'stop') return 'stopped';
  }
  return 'capped';
}

/**
 * The VTIMEZONE carried by a CALDAV:timezone element or the calendar-timezone property (a
 * VCALENDAR text), as an ICAL.Timezone for floating times. Not registered globally.
 * Returns null when the text holds no usable VTIMEZONE (callers answer valid-calendar-data).
 */
export function timezoneFromCalendarText(text: string): ICAL.Timezone | null {
  try {
    const cal = ICAL.Component.fromString(text);
    const vtz = cal.name === 'vtimezone' ? cal : cal.getFirstSubcomponent('vtimezone');
    const tzid = vtz?.getFirstPropertyValue('tzid');
    if (!vtz || typeof tzid !== 'string') return null;
    return new ICAL.Timezone({ component: vtz, tzid });
  } catch {
    return null;
  }
}
