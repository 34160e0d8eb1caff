/**
 * The property registry: every live property Calendula answers, by resource kind. Getters are
 * small and mostly synchronous; the few that touch the database (quota) stay out of allprop.
 */
import { sql } from 'kysely';
import {
  NS_APPLE, NS_CALDAV, NS_CS, NS_DAV, PropertyRegistry, SUPPORTED_REPORTS, child, clark, currentUserPrivilegeSet, davEl, deepText, el,
  supportedReportSet, type AccessLevel, type CollectionKind, type QName, type XmlElement,
} from '../../lib/dav/index.js';
import { vtimezoneFor } from '../../lib/ical/index.js';
import { timezoneFromVcalendar } from './tz.js';
import { DavHttpError } from './errors.js';
import { calendarPath, homePath, href, inboxPath, outboxPath, principalPath, principalsPath } from './paths.js';
import type { DavCalendar, DavResource, Target } from './types.js';

export const MAX_RESOURCE_SIZE = 1_048_576;
const QUOTA_BYTES = 2 ** 40;

const dav = (name: string): QName => ({ ns: NS_DAV, name });
const cal = (name: string): QName => ({ ns: NS_CALDAV, name });
const hrefEl = (path: string) => davEl('href', [], href(path));

const REPORT_BY_NAME = new Map(SUPPORTED_REPORTS.map((q) => [q.name, q]));
const reports = (...names: string[]) => names.map((n) => REPORT_BY_NAME.get(n)!).filter(Boolean);
const PRINCIPAL_REPORTS = reports('expand-property', 'principal-property-search', 'principal-search-property-set', 'calendarserver-principal-search');
export const CALENDAR_REPORTS = reports('calendar-query', 'calendar-multiget', 'sync-collection', 'free-busy-query', 'expand-property');
const INBOX_REPORTS = reports('calendar-query', 'calendar-multiget', 'expand-property');

type Kind = DavResource['kind'];
const isKind = (...kinds: Kind[]) => (t: Target) => kinds.includes(t.res.kind);

/** Access level and collection kind for privilege answers. */
export function accessOf(t: Target): { level: AccessLevel; kind: CollectionKind } {
  const r = t.res;
  switch (r.kind) {
    case 'calendar':
    case 'object':
      return { level: r.cal.access, kind: 'calendar' };
    case 'inbox':
    case 'inbox-item':
      return { level: 'owner', kind: 'inbox' };
    case 'outbox':
      return { level: 'owner', kind: 'outbox' };
    case 'home':
      return { level: 'owner', kind: 'home' };
    case 'principal':
      return { level: r.principal.id === t.env.user.id ? 'owner' : 'read', kind: 'principal' };
    default:
      return { level: 'read', kind: 'home' };
  }
}

function calOf(t: Target): DavCalendar {
  if (t.res.kind !== 'calendar') throw new Error('not a calendar');
  return t.res.cal;
}

/** RFC 4791 §5.2.2: the calendar's zone as a VCALENDAR with one VTIMEZONE. */
function calendarTimezone(c: DavCalendar, fallback: string): string {
  const tz = c.timezone ?? fallback;
  return `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Calendula//CalDAV//EN\r\n${vtimezoneFor(tz).trim()}\r\nEND:VCALENDAR\r\n`;
}

/** Apple sends #RRGGBBAA; we keep #RRGGBB. */
export function normaliseColor(value: string): string | null {
  const m = /^\s*#?([0-9a-f]{6})([0-9a-f]{2})?\s*$/i.exec(value);
  return m ? `#${m[1]!.toLowerCase()}` : null;
}

/** Pending changes of one PROPPATCH/MKCALENDAR, applied together by the caller. */
export interface CalendarPatch {
  name?: string;
  description?: string;
  color?: string;
  order?: number;
  timezone?: string | null;
  components?: string[];
}

export type PatchTarget = Target & { patch: CalendarPatch };

function invalidProp(message: string): never {
  throw new DavHttpError(409, message);
}

export function syncToken(c: { id: string; sync_seq: string | number }): string {
  return `http://calendula.org/ns/sync/${c.id}/${c.sync_seq}`;
}

export const registry = new PropertyRegistry<Target>();
registry
  .register({ name: dav('resourcetype'), protected: true, inAllprop: true, get: (t) => {
    switch (t.res.kind) {
      case 'root': case 'principals': case 'home': return [davEl('collection')];
      case 'principal': return [davEl('collection'), davEl('principal')];
      case 'calendar': return [davEl('collection'), el(NS_CALDAV, 'calendar'), ...(t.res.cal.access === 'owner' ? [] : [el(NS_CS, 'shared')])];
      case 'inbox': return [davEl('collection'), el(NS_CALDAV, 'schedule-inbox')];
      case 'outbox': return [davEl('collection'), el(NS_CALDAV, 'schedule-outbox')];
      default: return [];
    }
  } })
  .register({
    name: dav('displayname'), protected: false, inAllprop: true,
    appliesTo: isKind('principal', 'home', 'calendar', 'inbox', 'outbox', 'root', 'principals'),
    get: (t) => {
      const r = t.res;
      switch (r.kind) {
        case 'principal': return r.principal.name || r.principal.email;
        case 'calendar': return r.cal.access === 'owner' ? r.cal.name : `${r.cal.name} (${r.cal.ownerEmail})`;
        case 'home': return t.env.user.name || t.env.user.email;
        case 'inbox': return 'Inbox';
        case 'outbox': return 'Outbox';
        default: return 'Calendula';
      }
    },
    set: (t, e) => {
      if (t.res.kind !== 'calendar') throw new DavHttpError(403, 'Only calendars can be renamed');
      const v = deepText(e).trim();
      if (!v) invalidProp('The name must not be empty');
      (t as PatchTarget).patch.name = v.slice(0, 200);
    },
  })
  .register({ name: dav('current-user-principal'), protected: true, inAllprop: false, get: (t) => [hrefEl(principalPath(t.env.user.email))] })
  .register({ name: dav('principal-collection-set'), protected: true, inAllprop: false, get: () => [hrefEl(principalsPath())] })
  .register({
    name: dav('owner'), protected: true, inAllprop: false,
    appliesTo: isKind('home', 'calendar', 'inbox', 'outbox', 'object', 'principal'),
    get: (t) => {
      const r = t.res;
      if (r.kind === 'calendar' || r.kind === 'object') return [hrefEl(principalPath(r.cal.ownerEmail))];
      if (r.kind === 'principal') return [hrefEl(principalPath(r.principal.email))];
      return [hrefEl(principalPath(t.env.user.email))];
    },
  })
  .register({ name: dav('current-user-privilege-set'), protected: true, inAllprop: false, get: (t) => { const a = accessOf(t); return currentUserPrivilegeSet(a.level, a.kind); } })
  .register({
    name: dav('supported-report-set'), protected: true, inAllprop: false,
    get: (t) => {
      const k = t.res.kind;
      const list = k === 'calendar' || k === 'object' ? CALENDAR_REPORTS : k === 'inbox' ? INBOX_REPORTS : PRINCIPAL_REPORTS;
      return supportedReportSet(list).children;
    },
  })
  // --- principals (RFC 3744 §4, RFC 4791 §6.2, RFC 6638 §2)
  .register({ name: dav('principal-URL'), protected: true, inAllprop: false, appliesTo: isKind('principal'), get: (t) => t.res.kind === 'principal' ? [hrefEl(principalPath(t.res.principal.email))] : null })
  .register({ name: dav('alternate-URI-set'), protected: true, inAllprop: false, appliesTo: isKind('principal'), get: () => [] })
  .register({ name: dav('group-membership'), protected: true, inAllprop: false, appliesTo: isKind('principal'), get: () => [] })
  .register({
    name: cal('calendar-home-set'), protected: true, inAllprop: false, appliesTo: isKind('principal'),
    get: (t) => t.res.kind === 'principal' && t.res.principal.id === t.env.user.id ? [hrefEl(homePath(t.env.user.email))] : null,
  })
  .register({
    name: cal('calendar-user-address-set'), protected: true, inAllprop: false, appliesTo: isKind('principal'),
    get: (t) => t.res.kind === 'principal' ? [davEl('href', [], `mailto:${t.res.principal.email}`), hrefEl(principalPath(t.res.principal.email))] : null,
  })
  .register({
    name: cal('calendar-user-type'), protected: true, inAllprop: false, appliesTo: isKind('principal'),
    get: (t) => t.res.kind === 'principal' ? (t.res.principal.kind === 'room' ? 'ROOM' : 'INDIVIDUAL') : null,
  })
  .register({
    name: { ns: NS_CS, name: 'email-address-set' }, protected: true, inAllprop: false, appliesTo: isKind('principal'),
    get: (t) => t.res.kind === 'principal' ? [el(NS_CS, 'email-address', [], t.res.principal.email)] : null,
  })
  .register({
    name: cal('schedule-inbox-URL'), protected: true, inAllprop: false, appliesTo: isKind('principal'),
    get: (t) => t.res.kind === 'principal' && t.res.principal.id === t.env.user.id ? [hrefEl(inboxPath(t.env.user.email))] : null,
  })
  .register({
    name: cal('schedule-outbox-URL'), protected: true, inAllprop: false, appliesTo: isKind('principal'),
    get: (t) => t.res.kind === 'principal' && t.res.principal.id === t.env.user.id ? [hrefEl(outboxPath(t.env.user.email))] : null,
  })
  // --- calendars (RFC 4791 §5.2, Apple and calendarserver extensions)
  .register({
    name: cal('calendar-description'), protected: false, inAllprop: true, appliesTo: isKind('calendar'),
    get: (t) => calOf(t).description,
    set: (t, e) => { (t as PatchTarget).patch.description = deepText(e).slice(0, 5000); },
    remove: (t) => { (t as PatchTarget).patch.description = ''; },
  })
  .register({
    name: cal('calendar-timezone'), protected: false, inAllprop: false, appliesTo: isKind('calendar'),
    get: (t) => calendarTimezone(calOf(t), t.env.user.timezone),
    set: (t, e) => {
      const tz = timezoneFromVcalendar(deepText(e));
      if (!tz) invalidProp('CALDAV:calendar-timezone must be a VCALENDAR with one VTIMEZONE of a known zone');
      (t as PatchTarget).patch.timezone = tz;
    },
    remove: (t) => { (t as PatchTarget).patch.timezone = null; },
  })
  .register({
    name: { ns: NS_APPLE, name: 'calendar-color' }, protected: false, inAllprop: true, appliesTo: isKind('calendar'),
    get: (t) => `${calOf(t).color}FF`.toUpperCase(),
    set: (t, e) => {
      const c = normaliseColor(deepText(e));
      if (!c) invalidProp('calendar-color must look like #RRGGBB or #RRGGBBAA');
      (t as PatchTarget).patch.color = c;
    },
  })
  .register({
    name: { ns: NS_APPLE, name: 'calendar-order' }, protected: false, inAllprop: true, appliesTo: isKind('calendar'),
    get: (t) => String(calOf(t).sort_order),
    set: (t, e) => {
      const n = Number(deepText(e).trim());
      if (!Number.isInteger(n) || Math.abs(n) > 1e9) invalidProp('calendar-order must be an integer');
      (t as PatchTarget).patch.order = n;
    },
  })
  .register({
    name: cal('supported-calendar-component-set'), protected: true, inAllprop: true, appliesTo: isKind('calendar', 'inbox'),
    get: (t) => (t.res.kind === 'calendar' ? t.res.cal.components : ['VEVENT', 'VTODO']).map((c) => el(NS_CALDAV, 'comp', [], '', { name: c })),
  })
  .register({
    name: cal('supported-calendar-data'), protected: true, inAllprop: false, appliesTo: isKind('calendar', 'inbox'),
    get: () => [el(NS_CALDAV, 'calendar-data', [], '', { 'content-type': 'text/calendar', version: '2.0' })],
  })
  .register({ name: cal('max-resource-size'), protected: true, inAllprop: false, appliesTo: isKind('calendar'), get: () => String(MAX_RESOURCE_SIZE) })
  .register({
    name: cal('schedule-calendar-transp'), protected: true, inAllprop: false, appliesTo: isKind('calendar'),
    get: () => [el(NS_CALDAV, 'opaque')],
  })
  .register({
    name: cal('schedule-default-calendar-URL'), protected: true, inAllprop: false, appliesTo: isKind('inbox'),
    get: async (t) => {
      const row = await t.env.ctx.db.selectFrom('calendar').select('id').where('owner_id', '=', t.env.user.id).where('is_default', '=', true).executeTakeFirst();
      return row ? [hrefEl(calendarPath(t.env.user.email, row.id))] : null;
    },
  })
  .register({ name: { ns: NS_CS, name: 'getctag' }, protected: true, inAllprop: false, appliesTo: isKind('calendar'), get: (t) => `"${calOf(t).sync_seq}"` })
  .register({ name: dav('sync-token'), protected: true, inAllprop: false, appliesTo: isKind('calendar'), get: (t) => syncToken(calOf(t)) })
  .register({
    name: dav('quota-used-bytes'), protected: true, inAllprop: false, appliesTo: isKind('calendar', 'home'),
    get: async (t) => String(await usedBytes(t)),
  })
  .register({
    name: dav('quota-available-bytes'), protected: true, inAllprop: false, appliesTo: isKind('calendar', 'home'),
    get: async (t) => String(Math.max(0, QUOTA_BYTES - (await usedBytes(t)))),
  })
  // --- calendar object resources (RFC 4918 §15, RFC 4791 §9.6, RFC 6638 §3.2.10)
  .register({ name: dav('getetag'), protected: true, inAllprop: true, appliesTo: isKind('object', 'inbox-item'), get: (t) => t.res.kind === 'object' || t.res.kind === 'inbox-item' ? `"${t.res.obj.etag}"` : null })
  .register({
    name: dav('getcontenttype'), protected: true, inAllprop: true, appliesTo: isKind('object', 'inbox-item'),
    get: (t) => t.res.kind === 'object' || t.res.kind === 'inbox-item' ? `text/calendar; charset=utf-8; component=${t.res.obj.component.toLowerCase()}` : null,
  })
  .register({ name: dav('getcontentlength'), protected: true, inAllprop: true, appliesTo: isKind('object', 'inbox-item'), get: (t) => t.res.kind === 'object' || t.res.kind === 'inbox-item' ? String(t.res.obj.size) : null })
  .register({ name: dav('getlastmodified'), protected: true, inAllprop: true, appliesTo: isKind('object', 'inbox-item'), get: (t) => t.res.kind === 'object' || t.res.kind === 'inbox-item' ? new Date(t.res.obj.updated_at).toUTCString() : null })
  .register({
    name: cal('schedule-tag'), protected: true, inAllprop: false, appliesTo: isKind('object'),
    get: (t) => t.res.kind === 'object' && t.res.obj.role !== 'none' ? `"${t.res.obj.schedule_tag}"` : null,
  })
  .register({
    // Filled in by the caller (it needs the text and the request's calendar-data spec).
    name: cal('calendar-data'), protected: true, inAllprop: false, appliesTo: isKind('object', 'inbox-item'),
    get: () => null,
  });

async function usedBytes(t: Target): Promise<number> {
  const r = t.res;
  let q = t.env.ctx.db.selectFrom('calendar_object').select(sql<string>`coalesce(sum(octet_length(ical)), 0)`.as('n')).where('deleted_at', 'is', null);
  if (r.kind === 'calendar') q = q.where('owner_id', '=', r.cal.owner_id).where('calendar_id', '=', r.cal.id);
  else q = q.where('owner_id', '=', t.env.user.id);
  const row = await q.executeTakeFirst();
  return Number(row?.n ?? 0);
}

export const CALENDAR_DATA = clark(cal('calendar-data'));
export function wantsCalendarData(props: QName[]): boolean {
  return props.some((p) => clark(p) === CALENDAR_DATA);
}
export { child, type XmlElement };
