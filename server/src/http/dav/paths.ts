/**
 * The CalDAV URL space and its resolution to resources.
 *   /dav/                                    root
 *   /dav/principals/<email>/                 principal (any directory entry: users and rooms)
 *   /dav/calendars/<email>/                  calendar home (only the signed-in user's own)
 *   /dav/calendars/<email>/<calendar-id>/    own calendars and calendars shared with the user
 *   /dav/calendars/<email>/<calendar-id>/<name>   calendar object resources
 *   /dav/calendars/<email>/inbox/ and /outbox/    RFC 6638 scheduling collections
 * Another user's home answers 404 everywhere below it (existence is not revealed): shared
 * calendars appear in the grantee's own home instead.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { pathToHref, type AccessLevel } from '../../lib/dav/index.js';
import * as cals from '../../store/calendars.js';
import * as principals from '../../store/principals.js';
import { objectRows } from '../../store/dav-members.js';
import type { DavCalendar, DavEnv, DavResource, ObjectMeta } from './types.js';
import { DavHttpError } from './errors.js';

export const DAV_PREFIX = '/dav';
export const principalsPath = () => `${DAV_PREFIX}/principals/`;
export const principalPath = (email: string) => `${DAV_PREFIX}/principals/${email.toLowerCase()}/`;
export const homePath = (email: string) => `${DAV_PREFIX}/calendars/${email.toLowerCase()}/`;
export const calendarPath = (email: string, id: string) => `${homePath(email)}${id}/`;
export const inboxPath = (email: string) => `${homePath(email)}inbox/`;
export const outboxPath = (email: string) => `${homePath(email)}outbox/`;
export const href = (path: string) => pathToHref(path);

/** Decoded path of the request URL (no query), or 400 for broken percent-encoding. */
export function requestPath(url: string): string {
  const raw = url.split('?')[0] ?? '/';
  try {
    return decodeURIComponent(raw).replace(/\/{2,}/g, '/');
  } catch {
    throw new DavHttpError(400, 'Badly percent-encoded URL');
  }
}

/** The parent collection's path of a path ("/a/b/c" → "/a/b/", "/a/b/" → "/a/"). */
export function parentPath(path: string): string {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed.slice(0, trimmed.lastIndexOf('/') + 1);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The calendar id for a URL segment a client chose (MKCALENDAR): the UUID itself, or a UUID
 *  derived from (owner, segment) so the same URL keeps addressing the same calendar. */
export function calendarIdFor(ownerId: string, segment: string): string {
  if (UUID.test(segment)) return segment.toLowerCase();
  const h = createHash('sha1').update(`calendula-dav:${ownerId}:${segment}`).digest('hex');
  // RFC 9562 §5.5 layout (version 5, variant 10).
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const OBJECT_COLUMNS = ['id', 'name', 'etag', 'schedule_tag', 'role', 'component', 'updated_at', 'class'] as const;

export async function loadCalendar(env: DavEnv, id: string): Promise<DavCalendar | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const cal = await cals.findCalendarAnyOwner(env.ctx.db, id);
  if (!cal) return null;
  if (cal.owner_id === env.user.id) return { ...cal, access: 'owner', ownerEmail: env.user.email };
  const access = await cals.accessTo(env.ctx.db, env.user.id, await principals.groupIdsOf(env.ctx.db, env.user.id), cal);
  if (!access) return null;
  const owner = await principals.findPrincipalById(env.ctx.db, cal.owner_id);
  return { ...cal, access: access as AccessLevel, ownerEmail: owner?.email ?? '' };
}

/** Every calendar in the user's home: own ones, then shared ones (strongest grant). */
export async function homeCalendars(env: DavEnv): Promise<DavCalendar[]> {
  const groups = await principals.groupIdsOf(env.ctx.db, env.user.id);
  const [own, shared] = await Promise.all([cals.ownCalendars(env.ctx.db, env.user.id), cals.sharedCalendars(env.ctx.db, env.user.id, groups)]);
  return [
    ...own.map((c) => ({ ...c, access: 'owner' as const, ownerEmail: env.user.email })),
    ...shared.map((c) => ({ ...c, access: c.access as AccessLevel, ownerEmail: c.owner_email ?? '' })),
  ];
}

/** Private and confidential events are the owner's alone (as in the REST API's hidesDetails). */
export const objectVisibleIn = (cal: Pick<DavCalendar, 'access'>, cls: string | null) => cal.access === 'owner' || cls === null || (cls !== 'PRIVATE' && cls !== 'CONFIDENTIAL');

/** objectVisibleIn as a condition of a query on calendar_object. */
export function visibleTo<Q extends { where: (...a: never[]) => Q }>(q: Q, cal: DavCalendar): Q {
  if (cal.access === 'owner') return q;
  return (q as unknown as { where: (f: (eb: any) => unknown) => Q }).where((eb: any) => eb.or([eb('class', 'is', null), eb('class', 'not in', ['PRIVATE', 'CONFIDENTIAL'])]));
}

export async function objectByName(env: DavEnv, cal: DavCalendar, name: string): Promise<ObjectMeta | null> {
  let q = env.ctx.db.selectFrom('calendar_object').select(OBJECT_COLUMNS)
    .select(sql<number>`octet_length(ical)`.as('size'))
    .where('owner_id', '=', cal.owner_id).where('calendar_id', '=', cal.id).where('name', '=', name).where('deleted_at', 'is', null);
  q = visibleTo(q, cal);
  const row = await q.executeTakeFirst();
  return row ? { ...row, size: Number(row.size) } : null;
}

/** All objects of a calendar, or those with the given names (metadata; the text only when asked for). */
export async function objectsOf(env: DavEnv, cal: DavCalendar, withText = false, names?: string[]): Promise<ObjectMeta[]> {
  if (names && names.length === 0) return [];
  return objectRows(env.ctx.pool, cal.owner_id, cal.id, cal.access !== 'owner', withText, names);
}

/** Pending invitations of the user (RFC 6638 §4: what the schedule inbox shows). */
export async function inboxItems(env: DavEnv, withText = false): Promise<(ObjectMeta & { floating: boolean })[]> {
  const rows = await env.ctx.db.selectFrom('calendar_object').select(OBJECT_COLUMNS).select('floating')
    .select(sql<number>`octet_length(ical)`.as('size'))
    .select(withText ? sql<string>`ical`.as('ical') : sql<string>`null`.as('ical'))
    .where('owner_id', '=', env.user.id).where('deleted_at', 'is', null)
    .where('role', '=', 'attendee').where('my_partstat', '=', 'NEEDS-ACTION')
    .orderBy('created_at').limit(500).execute();
  return rows.map((r) => ({ ...r, name: `${r.id}.ics`, size: Number(r.size), ical: r.ical ?? undefined }));
}

const sameEmail = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * Map a decoded request path to a resource. Unknown paths below a collection the user may use
 * resolve to a 'null' resource (so PUT/MKCALENDAR can create it); anything else is 404.
 */
/**
 * What the request's one lookup query (store/dav-lookup.ts) should read besides the principal:
 * the calendar a path names below /dav/calendars/<who>/ and the object in it. Whether <who> is
 * the user is decided later by resolvePath (the lookup only ever returns what the user may see).
 */
export function lookupHint(path: string, userId: string): { calendarId: string | null; objectName: string | null } {
  const prefix = `${DAV_PREFIX}/calendars/`;
  if (!path.startsWith(prefix)) return { calendarId: null, objectName: null };
  const segs = path.slice(prefix.length).split('/');
  const trailing = path.endsWith('/');
  if (trailing) segs.pop();
  const [, third, fourth, ...rest] = segs;
  if (!third || rest.length || third === 'inbox' || third === 'outbox') return { calendarId: null, objectName: null };
  return { calendarId: calendarIdFor(userId, third), objectName: fourth !== undefined && !trailing ? fourth : null };
}

/** What the lookup found for lookupHint(path): used by resolvePath instead of querying again. */
export interface Prefetched {
  calendarId: string | null;
  objectName: string | null;
  calendar?: DavCalendar;
  object?: ObjectMeta;
}

export async function resolvePath(env: DavEnv, path: string, pre?: Prefetched): Promise<DavResource> {
  if (path === DAV_PREFIX || path === `${DAV_PREFIX}/`) return { kind: 'root', path: `${DAV_PREFIX}/` };
  if (!path.startsWith(`${DAV_PREFIX}/`)) throw new DavHttpError(404, 'Not a CalDAV path');
  const segs = path.slice(DAV_PREFIX.length + 1).split('/');
  const trailing = path.endsWith('/');
  if (trailing) segs.pop();
  const [top, who, third, fourth, ...rest] = segs;
  if (rest.length) {
    // Below a resource that cannot have members: a missing intermediate collection (409 on PUT/MKCOL).
    if (top === 'calendars' && who && sameEmail(who, env.user.email)) return { kind: 'null', path, parent: null, name: segs[segs.length - 1] ?? '' };
    throw new DavHttpError(404, 'No such resource');
  }
  if (top === 'principals') {
    if (!who) return { kind: 'principals', path: principalsPath() };
    if (third !== undefined) throw new DavHttpError(404, 'No such principal resource');
    const p = await principals.findPrincipalByEmail(env.ctx.db, who);
    if (!p || p.disabled || p.kind === 'group') throw new DavHttpError(404, 'No such principal');
    return { kind: 'principal', path: principalPath(p.email), principal: p };
  }
  if (top !== 'calendars' || !who) throw new DavHttpError(404, 'No such resource');
  // Another user's home: 404, whatever is asked below it (see the file comment).
  if (!sameEmail(who, env.user.email)) throw new DavHttpError(404, 'No such calendar home');
  const home: DavResource = { kind: 'home', path: homePath(env.user.email) };
  if (third === undefined) return home;
  if (third === 'inbox' || third === 'outbox') {
    const box: DavResource = third === 'inbox' ? { kind: 'inbox', path: inboxPath(env.user.email) } : { kind: 'outbox', path: outboxPath(env.user.email) };
    if (fourth === undefined) return box;
    if (third === 'inbox') {
      const m = /^([0-9a-f-]{36})\.ics$/i.exec(fourth);
      if (m) {
        const item = (await inboxItems(env)).find((i) => i.id === m[1]);
        if (item) return { kind: 'inbox-item', path: `${box.path}${item.name}`, obj: item };
      }
    }
    return { kind: 'null', path: `${box.path}${fourth}${trailing ? '/' : ''}`, parent: box, name: fourth };
  }
  const calId = calendarIdFor(env.user.id, third);
  const prefetched = pre !== undefined && pre.calendarId === calId;
  const found = prefetched ? (pre.calendar ?? null) : await loadCalendar(env, calId);
  // A derived id only ever names the user's own calendar.
  const cal = found && (UUID.test(third) || found.access === 'owner') ? found : null;
  if (!cal) return { kind: 'null', path: `${home.path}${third}${fourth === undefined && trailing ? '/' : ''}`, parent: fourth === undefined ? home : null, name: third };
  const calRes: DavResource = { kind: 'calendar', path: `${home.path}${third}/`, cal };
  if (fourth === undefined) return calRes;
  const obj = trailing ? null : prefetched && pre.objectName === fourth ? (pre.object ?? null) : await objectByName(env, cal, fourth);
  if (obj) return { kind: 'object', path: `${calRes.path}${fourth}`, cal, obj };
  return { kind: 'null', path: `${calRes.path}${fourth}${trailing ? '/' : ''}`, parent: calRes, name: fourth };
}
