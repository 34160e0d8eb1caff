/**
 * PROPFIND — RFC 4918 §9.1. Depth 0 or 1. Depth: infinity is refused with 403
 * DAV:propfind-finite-depth on the collections above calendars (root, principals, a principal,
 * the home: walking them would list every calendar's every object); on a calendar or the
 * schedule inbox, which hold no sub-collections, it means the same as Depth 1. A request
 * without a Depth header is read as Depth 1 (RFC 4918 would read infinity): simple clients and
 * scripts that leave it out keep working.
 */
import { Preconditions, parseDepth, parsePrefer, parsePropfind, type MultistatusResponse } from '../../lib/dav/index.js';
import { hasPrivilege } from '../../lib/dav/index.js';
import { href, homeCalendars, inboxItems, objectsOf, calendarPath, homePath, inboxPath, outboxPath, principalPath } from './paths.js';
import { accessOf } from './props.js';
import { DavHttpError, fail } from './errors.js';
import { deadPropsFor, fastMemberListing, fastProps, memberColumns, propsFor, propsKey, sendMultistatus, sendMultistatusParts, wantsData, wantsDead, type DavRequest } from './common.js';
import { memberCells } from '../../store/dav-members.js';
import { usableReadCache } from './read-cache.js';
import type { DavResource, Target } from './types.js';

/** Collections whose members are collections: Depth: infinity is refused there. */
const ABOVE_CALENDARS = new Set<Target['res']['kind']>(['root', 'principals', 'principal', 'home']);

/** The members of a collection (Depth: 1). */
export async function membersOf(t: Target, withText = false): Promise<DavResource[]> {
  const { env, res } = t;
  switch (res.kind) {
    case 'root':
      return [{ kind: 'principals', path: '/dav/principals/' }, { kind: 'home', path: homePath(env.user.email) }];
    case 'principals':
      return [{ kind: 'principal', path: principalPath(env.user.email), principal: env.user }];
    case 'home': {
      const cals = await homeCalendars(env);
      return [
        ...cals.map((cal): DavResource => ({ kind: 'calendar', path: calendarPath(env.user.email, cal.id), cal })),
        { kind: 'inbox', path: inboxPath(env.user.email) },
        { kind: 'outbox', path: outboxPath(env.user.email) },
      ];
    }
    case 'calendar': {
      // Free-busy-only grants expose no members (RFC 4791 §6.1.1).
      const a = accessOf(t);
      if (!hasPrivilege(a.level, a.kind, 'read')) return [];
      const objs = await objectsOf(env, res.cal, withText);
      return objs.map((obj) => ({ kind: 'object', path: `${res.path}${obj.name}`, cal: res.cal, obj }));
    }
    case 'inbox': {
      const items = await inboxItems(env, withText);
      return items.map((obj) => ({ kind: 'inbox-item', path: `${res.path}${obj.name}`, obj }));
    }
    default:
      return [];
  }
}

async function textOf(t: Target): Promise<string | undefined> {
  const r = t.res;
  if (r.kind !== 'object' && r.kind !== 'inbox-item') return undefined;
  if (r.obj.ical !== undefined) return r.obj.ical;
  const row = await t.env.ctx.db.selectFrom('calendar_object').select('ical').where('owner_id', '=', r.kind === 'object' ? r.cal.owner_id : t.env.user.id).where('id', '=', r.obj.id).executeTakeFirst();
  return row?.ical;
}

export async function propfind(d: DavRequest) {
  const depth = parseDepth(d.req.headers.depth, '1');
  const sel = parsePropfind(d.body);
  const t = d.target;
  if (t.res.kind === 'null') throw new DavHttpError(404, 'No such resource');
  if (depth === 'infinity' && ABOVE_CALENDARS.has(t.res.kind)) {
    fail(Preconditions.propfindFiniteDepth(), 'PROPFIND with Depth: infinity is not supported here; use Depth: 0 or 1');
  }
  if (t.res.kind === 'object') {
    const a = accessOf(t);
    if (!hasPrivilege(a.level, a.kind, 'read')) throw new DavHttpError(404, 'No such resource');
  }
  const prefs = parsePrefer(d.req.headers.prefer, d.req.headers.brief);
  const data = wantsData(sel);
  const targets: Target[] = [];
  if (!(depth !== '0' && prefs.depthNoroot)) targets.push(t);
  // Fast path: a calendar's members with only getetag/getcontenttype/resourcetype/… asked for
  // (what every client's sync loop sends) are rendered straight to strings.
  const fast = depth !== '0' && t.res.kind === 'calendar' ? fastProps(sel) : null;
  if (fast && t.res.kind === 'calendar') {
    const head: MultistatusResponse[] = [];
    for (const x of targets) head.push({ href: href(x.res.path), props: await propsFor(x, sel) });
    const cal = t.res.cal;
    const a = accessOf(t);
    // Free-busy-only grants expose no members (RFC 4791 §6.1.1).
    const caldav = fast.some((p) => p.name === 'calendar-data');
    if (!hasPrivilege(a.level, a.kind, 'read')) return sendMultistatusParts(d, head, [], {}, caldav);
    const base = href(t.res.path);
    // The rendered listing is kept by the read cache until the calendar changes (read-cache.ts):
    // per asked properties, the user's view (a sharee's leaves out private events) and the href.
    const cache = caldav ? undefined : await usableReadCache(d.env.ctx);
    const key = `${propsKey(fast)}|${cal.access === 'owner' ? 'all' : 'public'}|${base}`;
    const held = cache?.listing(cal.id, key);
    if (held !== undefined) return sendMultistatusParts(d, head, [held.listing], {}, false);
    const stamp = cache?.stamp();
    const parts = fastMemberListing(base, fast, await memberCells(d.env.ctx.pool, cal.owner_id, cal.id, cal.access !== 'owner', memberColumns(fast)));
    if (!cache) return sendMultistatusParts(d, head, parts, {}, caldav);
    const listing = parts.join('');
    cache.putListing(cal.id, key, listing, stamp!);
    return sendMultistatusParts(d, head, [listing], {}, false);
  }
  if (depth !== '0') for (const m of await membersOf(t, data)) targets.push({ env: d.env, res: m });
  // Dead properties of every target in one query per owner, when the selection may name them.
  const dead = wantsDead(sel) ? await deadPropsFor(targets) : null;
  const responses: MultistatusResponse[] = [];
  for (const x of targets) {
    const text = data ? await textOf(x) : undefined;
    responses.push({ href: href(x.res.path), props: await propsFor(x, sel, text, null, dead ? (dead.get(x.res.path) ?? []) : undefined) });
  }
  return sendMultistatus(d, responses);
}
