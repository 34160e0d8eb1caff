/** Helpers shared by the method handlers: privileges, multistatus replies, calendar-data. */
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  NS_CALDAV, buildMultistatus, clark, el, escapeText, hasPrivilege, needPrivileges, parsePrefer, parseXml, pruneCalendarData, serializeXml, statusLine,
  type CalendarDataSpec, type XmlElement, type MultistatusOptions, type MultistatusResponse, type Privilege, type PropfindRequest, type PropResult, type QName,
} from '../../lib/dav/index.js';
import { parseCalendar } from '../../lib/ical/index.js';
import { DavHttpError } from './errors.js';
import { href } from './paths.js';
import { accessOf, CALENDAR_DATA, registry } from './props.js';
import { deadPropsOf } from '../../store/dead-props.js';
import type { DavEnv, DavResource, ObjectMeta, Target } from './types.js';

export interface DavRequest {
  req: FastifyRequest;
  reply: FastifyReply;
  env: DavEnv;
  target: Target;
  /** Raw body text ('' when absent). */
  body: string;
}

/** RFC 3744 §7.1.1: 403 with DAV:need-privileges when the user lacks `privilege` on `t`. */
export function requirePrivilege(t: Target, privilege: Privilege, at?: string): void {
  const a = accessOf(t);
  if (hasPrivilege(a.level, a.kind, privilege)) return;
  throw new DavHttpError(403, `You lack the ${privilege} privilege here`, needPrivileges([{ href: href(at ?? collectionOf(t.res)), privilege }]));
}

/** The collection a privilege is granted on (objects inherit their calendar's). */
function collectionOf(r: DavResource): string {
  if (r.kind === 'object') return r.path.slice(0, r.path.lastIndexOf('/') + 1);
  return r.path;
}

export function sendXml(reply: FastifyReply, status: number, body: string) {
  return reply.status(status).type('application/xml; charset=utf-8').send(body);
}

export function sendMultistatus(d: DavRequest, responses: MultistatusResponse[], options: MultistatusOptions = {}) {
  const prefs = parsePrefer(d.req.headers.prefer, d.req.headers.brief);
  if (prefs.returnMinimal) d.reply.header('preference-applied', 'return=minimal');
  return sendXml(d.reply, 207, buildMultistatus(responses, { ...options, minimal: options.minimal ?? prefs.returnMinimal }));
}

/** RFC 4791 §9.6: the calendar-data value for a stored resource and the request's spec. */
export function renderCalendarData(text: string, spec: CalendarDataSpec | null): string {
  if (!spec || (!spec.comp && !spec.expand && !spec.limitRecurrenceSet && !spec.limitFreebusySet)) return text;
  const pruned = pruneCalendarData(parseCalendar(text), spec, { maxInstances: 5000 });
  return pruned.toString().replace(/\r?\n/g, '\r\n') + '\r\n';
}

/** True when answering `sel` may need stored dead properties (allprop, propname, or a name no live property has). */
export function wantsDead(sel: PropfindRequest): boolean {
  return sel.kind !== 'prop' || sel.props.some((p) => !registry.get(p));
}

/** The id dead properties of a target are stored under, with its owner; null if it holds none. */
function deadKey(t: Target): { ownerId: string; id: string } | null {
  if (t.res.kind === 'calendar') return { ownerId: t.res.cal.owner_id, id: t.res.cal.id };
  if (t.res.kind === 'object') return { ownerId: t.res.cal.owner_id, id: t.res.obj.id };
  return null;
}

/** Stored dead properties of several targets (one query per owner), by target path. */
export async function deadPropsFor(targets: Target[]): Promise<Map<string, XmlElement[]>> {
  const out = new Map<string, XmlElement[]>();
  const byOwner = new Map<string, Array<{ id: string; path: string }>>();
  for (const t of targets) {
    const k = deadKey(t);
    if (!k) continue;
    const list = byOwner.get(k.ownerId) ?? [];
    list.push({ id: k.id, path: t.res.path });
    byOwner.set(k.ownerId, list);
  }
  const db = targets[0]?.env.ctx.db;
  for (const [ownerId, list] of byOwner) {
    const rows = await deadPropsOf(db!, ownerId, list.map((x) => x.id));
    for (const x of list) {
      const props = (rows.get(x.id) ?? []).flatMap((r) => {
        try {
          return [parseXml(r.xml)];
        } catch {
          return [];
        }
      });
      if (props.length) out.set(x.path, props);
    }
  }
  return out;
}

/**
 * Resolve a property selection for one target; CALDAV:calendar-data is filled from `text`.
 * `dead`: the target's stored dead properties when the caller fetched them in bulk (else looked
 * up here when the selection may need them).
 */
export async function propsFor(t: Target, sel: PropfindRequest, text?: string, spec: CalendarDataSpec | null = null, dead?: XmlElement[]): Promise<PropResult[]> {
  if (dead === undefined && wantsDead(sel) && deadKey(t)) dead = (await deadPropsFor([t])).get(t.res.path) ?? [];
  const results = await registry.resolve(t, sel, dead);
  if (text === undefined || sel.kind !== 'prop') return results;
  return results.map((r) => (clark(r.prop) === CALENDAR_DATA ? { prop: el(NS_CALDAV, 'calendar-data', [], renderCalendarData(text, spec)), status: 200 } : r));
}

export function wantsData(sel: PropfindRequest): boolean {
  return sel.kind === 'prop' && sel.props.some((p) => clark(p) === CALENDAR_DATA);
}

export { serializeXml };

// --- Fast path for member listings (PROPFIND Depth 1, REPORT answers): when every requested
// property of an object is one of FAST_PROPS, its <D:response> is written straight to a string
// (no property registry, no element tree). The output is byte-identical to the generic path.
const FAST_PROPS = new Set(['{DAV:}getetag', '{DAV:}getcontenttype', '{DAV:}resourcetype', '{DAV:}getcontentlength', '{DAV:}getlastmodified', CALENDAR_DATA]);
const OK = '<D:status>HTTP/1.1 200 OK</D:status>';

/** The requested property names if the fast path can answer them for calendar objects, else null. */
export function fastProps(sel: PropfindRequest): QName[] | null {
  if (sel.kind !== 'prop' || sel.props.length === 0) return null;
  const seen = new Set<string>();
  for (const p of sel.props) {
    const k = clark(p);
    if (!FAST_PROPS.has(k) || seen.has(k)) return null;
    seen.add(k);
  }
  return sel.props;
}

/** One <D:response> for a calendar object, as the generic path would serialise it. */
export function fastObjectResponse(hrefText: string, obj: ObjectMeta, props: QName[], text?: string, spec: CalendarDataSpec | null = null): string {
  let s = `<D:response><D:href>${escapeText(hrefText)}</D:href><D:propstat><D:prop>`;
  for (const p of props) {
    switch (p.name) {
      case 'getetag': s += `<D:getetag>"${escapeText(obj.etag)}"</D:getetag>`; break;
      case 'getcontenttype': s += `<D:getcontenttype>text/calendar; charset=utf-8; component=${obj.component.toLowerCase()}</D:getcontenttype>`; break;
      case 'resourcetype': s += '<D:resourcetype/>'; break;
      case 'getcontentlength': s += `<D:getcontentlength>${obj.size}</D:getcontentlength>`; break;
      case 'getlastmodified': s += `<D:getlastmodified>${new Date(obj.updated_at).toUTCString()}</D:getlastmodified>`; break;
      case 'calendar-data': {
        const v = text === undefined ? '' : renderCalendarData(text, spec);
        s += v ? `<C:calendar-data>${escapeText(v)}</C:calendar-data>` : '<C:calendar-data/>';
        break;
      }
    }
  }
  return `${s}</D:prop>${OK}</D:propstat></D:response>`;
}

export function fastStatusResponse(hrefText: string, status: number): string {
  return `<D:response><D:href>${escapeText(hrefText)}</D:href><D:status>${statusLine(status)}</D:status></D:response>`;
}

const PARTS_MARKER = `urn:calendula:parts:${randomUUID()}`;
const MARKER_RESPONSE = `<D:response><D:href>${PARTS_MARKER}</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>`;

/** sendMultistatus with pre-rendered <D:response> strings placed after `head` (in order). */
export function sendMultistatusParts(d: DavRequest, head: MultistatusResponse[], parts: string[], options: MultistatusOptions = {}) {
  const prefs = parsePrefer(d.req.headers.prefer, d.req.headers.brief);
  if (prefs.returnMinimal) d.reply.header('preference-applied', 'return=minimal');
  let xml = buildMultistatus([...head, { href: PARTS_MARKER, status: 200 }], { ...options, minimal: options.minimal ?? prefs.returnMinimal });
  const at = xml.indexOf(MARKER_RESPONSE);
  if (at < 0) throw new Error('multistatus marker not found');
  const body = parts.join('');
  xml = xml.slice(0, at) + body + xml.slice(at + MARKER_RESPONSE.length);
  if (body.includes('<C:') && !xml.slice(0, xml.indexOf('>', xml.indexOf('<D:multistatus'))).includes(`xmlns:C="${NS_CALDAV}"`)) {
    xml = xml.replace('<D:multistatus', `<D:multistatus xmlns:C="${NS_CALDAV}"`);
  }
  return sendXml(d.reply, 207, xml);
}
