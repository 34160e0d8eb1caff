/**
 * POST to the schedule outbox — RFC 6638 §5: a VFREEBUSY REQUEST is answered at once with one
 * CALDAV:response per recipient (users and rooms of the directory). Invitations themselves are
 * sent by implicit scheduling on PUT, so other iTIP methods are refused.
 */
import ICAL from 'ical.js';
import { NS_CALDAV, NS_DAV, davEl, el, serializeXml } from '../../lib/dav/index.js';
import { addressOf, parseCalendar } from '../../lib/ical/index.js';
import { freeBusy } from '../../app/events/freebusy.js';
import { DavHttpError, NS_CALENDULA } from './errors.js';
import { vfreebusy } from './reports/free-busy-query.js';
import { sendXml, type DavRequest } from './common.js';

const MAX_RANGE_MS = 400 * 86_400_000;

export async function post(d: DavRequest) {
  if (d.target.res.kind !== 'outbox') throw new DavHttpError(405, 'POST goes to the schedule outbox', undefined, { allow: 'OPTIONS, GET, HEAD, PROPFIND, REPORT' });
  let cal: ICAL.Component;
  try {
    cal = parseCalendar(d.body);
  } catch (e) {
    throw new DavHttpError(400, `Not iCalendar: ${(e as Error).message}`, { status: 400, ns: NS_CALDAV, name: 'valid-calendar-data' });
  }
  const method = String(cal.getFirstPropertyValue('method') ?? '').toUpperCase();
  const fb = cal.getFirstSubcomponent('vfreebusy');
  if (method !== 'REQUEST' || !fb) {
    throw new DavHttpError(403, 'Only VFREEBUSY requests are accepted; invitations are sent when the event is saved (implicit scheduling)', { status: 403, ns: NS_CALENDULA, name: 'implicit-scheduling-only' });
  }
  const organizer = addressOf(fb.getFirstPropertyValue('organizer'));
  // RFC 6638 §5.2.1: the organizer must be the authenticated user.
  if (organizer !== d.env.user.email.toLowerCase()) throw new DavHttpError(403, 'ORGANIZER must be your own address', { status: 403, ns: NS_CALDAV, name: 'organizer-allowed' });
  const start = fb.getFirstPropertyValue('dtstart');
  const end = fb.getFirstPropertyValue('dtend');
  if (!(start instanceof ICAL.Time) || !(end instanceof ICAL.Time)) throw new DavHttpError(400, 'VFREEBUSY needs DTSTART and DTEND', { status: 400, ns: NS_CALDAV, name: 'valid-calendar-data' });
  const from = start.toJSDate();
  const to = end.toJSDate();
  if (to <= from || to.getTime() - from.getTime() > MAX_RANGE_MS) throw new DavHttpError(403, 'The free-busy range must be positive and at most 400 days', { status: 403, ns: NS_CALDAV, name: 'max-date-time' });
  const attendees = fb.getAllProperties('attendee').map((p) => addressOf(p.getFirstValue())).filter((a): a is string => !!a);
  if (!attendees.length) throw new DavHttpError(400, 'VFREEBUSY needs at least one ATTENDEE', { status: 400, ns: NS_CALDAV, name: 'valid-calendar-data' });
  const uid = fb.getFirstPropertyValue('uid');
  const items = await freeBusy(d.env.ctx, d.env.actor, attendees.slice(0, 200), from, to);
  const responses = items.map((it) => {
    const recipient = el(NS_CALDAV, 'recipient', [davEl('href', [], `mailto:${it.email}`)]);
    if (it.error) return el(NS_CALDAV, 'response', [recipient, el(NS_CALDAV, 'request-status', [], '3.7;Invalid calendar user')]);
    const periods = it.busy.map((b) => ({ start: Date.parse(b.start), end: Date.parse(b.end), type: b.type }));
    const extra = ['METHOD:REPLY', `ORGANIZER:mailto:${organizer}`, `ATTENDEE:mailto:${it.email}`, ...(uid ? [`UID:${String(uid)}`] : [])];
    return el(NS_CALDAV, 'response', [recipient, el(NS_CALDAV, 'request-status', [], '2.0;Success'), el(NS_CALDAV, 'calendar-data', [], vfreebusy(periods, from, to, extra))]);
  });
  void NS_DAV;
  return sendXml(d.reply, 200, serializeXml(el(NS_CALDAV, 'schedule-response', responses)));
}
