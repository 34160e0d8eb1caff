/**
 * Splitting a VCALENDAR into calendar object resources (RFC 4791 §4.1): one
 * resource per UID holding the master and its RECURRENCE-ID overrides plus the
 * VTIMEZONEs they reference.
 */
import ICAL from 'ical.js';
import { randomUUID } from 'node:crypto';
import { IcalError } from './errors.js';
import { serializeComponent, toComponent } from './parse.js';
import { cleanTzid, resolveTzid, vtimezoneFor } from './zones/resolve.js';

/** One calendar object resource. */
export interface Resource {
  uid: string;
  componentType: 'VEVENT' | 'VTODO' | 'VJOURNAL';
  /** Its own VCALENDAR text. */
  text: string;
  /** The VCALENDAR component of `text`. */
  calendar: ICAL.Component;
  /** True when the UID was generated because the item had none. */
  generatedUid: boolean;
}

/** Options for splitResources. */
export interface SplitOptions {
  /** Drop METHOD (stored CalDAV objects must not carry it, RFC 4791 §4.1). Default false. */
  stripMethod?: boolean;
  /** Give items without UID a new UID (import) instead of reporting NO_UID. */
  generateUid?: boolean | (() => string);
  /** Component types accepted (default VEVENT and VTODO); others give UNSUPPORTED_COMPONENT. */
  accept?: Array<'VEVENT' | 'VTODO' | 'VJOURNAL'>;
  /** Add a canonical VTIMEZONE for TZIDs used but not defined (default true). */
  addMissingTimezones?: boolean;
}

/** Result of splitResources: resources, VFREEBUSY calendars, per-item errors. */
export interface SplitResult {
  resources: Resource[];
  freebusy: string[];
  errors: IcalError[];
}

/** TZIDs referenced by property parameters of a component and its children. */
export function referencedTzids(comp: ICAL.Component, into = new Set<string>()): Set<string> {
  for (const p of comp.getAllProperties()) {
    const t = p.getParameter('tzid');
    if (typeof t === 'string') into.add(t);
  }
  for (const c of comp.getAllSubcomponents()) referencedTzids(c, into);
  return into;
}

function newCalendar(src: ICAL.Component, stripMethod: boolean): ICAL.Component {
  const cal = new ICAL.Component('vcalendar');
  for (const p of src.getAllProperties()) {
    if (stripMethod && p.name === 'method') continue;
    cal.addProperty(ICAL.Property.fromString(p.toICALString()));
  }
  if (!cal.hasProperty('version')) cal.addPropertyWithValue('version', '2.0');
  if (!cal.hasProperty('prodid')) cal.addPropertyWithValue('prodid', '-//Calendula//EN');
  return cal;
}

/** Add the VTIMEZONEs that the components of `cal` reference (from `zones` or canonical). */
export function attachTimezones(cal: ICAL.Component, zones: ICAL.Component[], addMissing = true): void {
  const have = new Set(cal.getAllSubcomponents('vtimezone').map((z) => String(z.getFirstPropertyValue('tzid'))));
  const added: ICAL.Component[] = [];
  for (const tzid of referencedTzids(cal)) {
    if (have.has(tzid)) continue;
    const vtz = zones.find((z) =>
      z.getAllProperties('tzid').some((p) => String(p.getFirstValue()) === tzid || cleanTzid(String(p.getFirstValue())) === cleanTzid(tzid)),
    );
    let comp: ICAL.Component | null = null;
    if (vtz) comp = new ICAL.Component(JSON.parse(JSON.stringify(vtz.toJSON())));
    else if (addMissing) {
      const r = resolveTzid(tzid);
      if (r.iana) comp = new ICAL.Component(ICAL.parse(vtimezoneFor(r.iana, tzid)) as never);
    }
    if (!comp) continue;
    have.add(tzid);
    added.push(comp);
  }
  if (!added.length) return;
  // VTIMEZONEs go before the components that use them.
  const others = cal.getAllSubcomponents().filter((x) => x.name !== 'vtimezone');
  for (const c of others) cal.removeSubcomponent(c);
  for (const z of added) cal.addSubcomponent(z);
  for (const c of others) cal.addSubcomponent(c);
}

/**
 * Split a calendar (text or component) into one resource per UID. Order of
 * master and overrides in the input does not matter. Items without UID are
 * reported as NO_UID errors (or given a UID with `generateUid`).
 */
export function splitResources(input: string | ICAL.Component, opts: SplitOptions = {}): SplitResult {
  const src = toComponent(input);
  const accept = new Set(opts.accept ?? ['VEVENT', 'VTODO']);
  const zones = src.getAllSubcomponents('vtimezone');
  const groups = new Map<string, { type: string; comps: ICAL.Component[]; generated: boolean }>();
  const result: SplitResult = { resources: [], freebusy: [], errors: [] };
  const fb: ICAL.Component[] = [];
  let n = 0;
  for (const c of src.getAllSubcomponents()) {
    const type = c.name.toUpperCase();
    n++;
    if (type === 'VTIMEZONE') continue;
    if (type === 'VFREEBUSY') {
      fb.push(c);
      continue;
    }
    if (type !== 'VEVENT' && type !== 'VTODO' && type !== 'VJOURNAL') continue; // X- components are ignored
    const summary = c.getFirstPropertyValue('summary');
    const label = `${type} #${n}${summary ? ` "${String(summary).slice(0, 60)}"` : ''}`;
    if (!accept.has(type as 'VEVENT')) {
      result.errors.push(new IcalError('UNSUPPORTED_COMPONENT', `${label}: ${type} is not supported here`));
      continue;
    }
    let uid = String(c.getFirstPropertyValue('uid') ?? '').trim();
    let generated = false;
    if (!uid) {
      if (!opts.generateUid) {
        result.errors.push(new IcalError('NO_UID', `${label} has no UID`));
        continue;
      }
      uid = typeof opts.generateUid === 'function' ? opts.generateUid() : randomUUID();
      c.updatePropertyWithValue('uid', uid);
      generated = true;
    }
    const g = groups.get(uid);
    if (!g) groups.set(uid, { type, comps: [c], generated });
    else if (g.type !== type) result.errors.push(new IcalError('INVALID_ICALENDAR', `UID ${uid} is used by both ${g.type} and ${type}`, { uid }));
    else g.comps.push(c);
  }
  for (const [uid, g] of groups) {
    const cal = newCalendar(src, !!opts.stripMethod);
    const sorted = [...g.comps].sort((a, b) => Number(a.hasProperty('recurrence-id')) - Number(b.hasProperty('recurrence-id')));
    for (const c of sorted) cal.addSubcomponent(new ICAL.Component(JSON.parse(JSON.stringify(c.toJSON()))));
    attachTimezones(cal, zones, opts.addMissingTimezones ?? true);
    result.resources.push({ uid, componentType: g.type as Resource['componentType'], text: serializeComponent(cal), calendar: cal, generatedUid: g.generated });
  }
  if (fb.length) {
    const cal = newCalendar(src, false);
    for (const c of fb) cal.addSubcomponent(c);
    result.freebusy.push(serializeComponent(cal));
  }
  return result;
}
