/**
 * MKCALENDAR (RFC 4791 §5.3.1) and MKCOL, plain or extended (RFC 5689). Calendars live directly
 * in the user's home; the URL segment becomes the calendar id when it is a UUID, otherwise a
 * UUID derived from (owner, segment) so the same URL keeps addressing the same calendar.
 * A plain MKCOL in the home also creates a calendar: the home holds nothing else.
 */
import { NS_CALDAV, NS_DAV, Preconditions, deepText, parseExtendedMkcol, parseMkcalendar, type MkcolRequest } from '../../lib/dav/index.js';
import { createCalendar, deleteCalendar } from '../../app/calendars.js';
import { DavHttpError, fail } from './errors.js';
import { calendarIdFor, href, loadCalendar } from './paths.js';
import { applyProps, commitProps } from './proppatch.js';
import type { PatchTarget } from './props.js';
import { sendMultistatus, type DavRequest } from './common.js';
import type { DavCalendar } from './types.js';

export async function mkcol(d: DavRequest, method: 'MKCALENDAR' | 'MKCOL') {
  const t = d.target;
  const ct = String(d.req.headers['content-type'] ?? '');
  // RFC 4918 §9.3: a body the server does not understand is 415.
  if (method === 'MKCOL' && d.body.trim() && !/xml/i.test(ct)) throw new DavHttpError(415, 'MKCOL bodies are XML (RFC 5689)');
  if (t.res.kind !== 'null') fail(Preconditions.resourceMustBeNull(), 'Something already exists at this URL');
  const parent = t.res.parent;
  if (!parent) throw new DavHttpError(409, 'The parent collection does not exist');
  if (parent.kind !== 'home') fail(Preconditions.calendarCollectionLocationOk('Calendars can be created only in the calendar home'));
  let req: MkcolRequest;
  if (method === 'MKCALENDAR') req = parseMkcalendar(d.body);
  else {
    req = parseExtendedMkcol(d.body);
    if (req.resourceType) {
      const names = req.resourceType.map((q) => `{${q.ns}}${q.name}`);
      const ok = names.every((n) => n === `{${NS_DAV}}collection` || n === `{${NS_CALDAV}}calendar`);
      if (!ok) fail(Preconditions.validResourcetype(), 'Only calendar collections can be created here');
    }
  }
  const id = calendarIdFor(d.env.user.id, t.res.name);
  // Components first: supported-calendar-component-set is settable only at creation (RFC 4791 §5.2.3).
  let components: string[] | undefined;
  const rest = req.set.filter((p) => {
    if (p.name.ns === NS_CALDAV && p.name.name === 'supported-calendar-component-set') {
      components = p.element.children.filter((c) => c.name === 'comp').map((c) => (c.attrs['name'] ?? '').toUpperCase());
      return false;
    }
    return true;
  });
  if (components && (components.length === 0 || components.some((c) => c !== 'VEVENT' && c !== 'VTODO'))) {
    fail(Preconditions.supportedCalendarComponent('Calendula calendars hold VEVENT and VTODO'));
  }
  const displayname = rest.find((p) => p.name.ns === NS_DAV && p.name.name === 'displayname');
  const name = (displayname ? deepText(displayname.element).trim() : '') || t.res.name;
  const created = await createCalendar(d.env.ctx, d.env.actor, { id, name: name.slice(0, 200), components });
  const cal = (await loadCalendar(d.env, created.id)) as DavCalendar;
  const pt: PatchTarget = { env: d.env, res: { kind: 'calendar', path: t.res.path, cal }, patch: {} };
  const { results, ok, dead } = await applyProps(pt, rest.map((p) => ({ op: 'set' as const, ...p })));
  if (!ok) {
    // RFC 4791 §5.3.1: if a property cannot be set, the whole MKCALENDAR fails.
    await deleteCalendar(d.env.ctx, d.env.actor, created.id);
    return sendMultistatus(d, [{ href: href(t.res.path), props: results }], { minimal: false });
  }
  try {
    await commitProps(d.env, pt, pt.patch, dead, created.id);
  } catch (e) {
    await deleteCalendar(d.env.ctx, d.env.actor, created.id);
    throw e;
  }
  d.reply.header('location', href(t.res.path.endsWith('/') ? t.res.path : `${t.res.path}/`));
  d.reply.header('cache-control', 'no-cache');
  return d.reply.status(201).send();
}
