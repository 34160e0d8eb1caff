/** Helpers shared by the method handlers: privileges, multistatus replies, calendar-data. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  NS_CALDAV, buildMultistatus, clark, el, hasPrivilege, needPrivileges, parsePrefer, pruneCalendarData, serializeXml,
  type CalendarDataSpec, type MultistatusOptions, type MultistatusResponse, type Privilege, type PropfindRequest, type PropResult,
} from '../../lib/dav/index.js';
import { parseCalendar } from '../../lib/ical/index.js';
import { DavHttpError } from './errors.js';
import { href } from './paths.js';
import { accessOf, CALENDAR_DATA, registry } from './props.js';
import type { DavEnv, DavResource, Target } from './types.js';

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

/** Resolve a property selection for one target; CALDAV:calendar-data is filled from `text`. */
export async function propsFor(t: Target, sel: PropfindRequest, text?: string, spec: CalendarDataSpec | null = null): Promise<PropResult[]> {
  const results = await registry.resolve(t, sel);
  if (text === undefined || sel.kind !== 'prop') return results;
  return results.map((r) => (clark(r.prop) === CALENDAR_DATA ? { prop: el(NS_CALDAV, 'calendar-data', [], renderCalendarData(text, spec)), status: 200 } : r));
}

export function wantsData(sel: PropfindRequest): boolean {
  return sel.kind === 'prop' && sel.props.some((p) => clark(p) === CALENDAR_DATA);
}

export { serializeXml };
