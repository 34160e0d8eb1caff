/** PROPFIND — RFC 4918 §9.1. Depth 0 or 1 (infinity is answered as 1: collections here are flat). */
import { parseDepth, parsePrefer, parsePropfind, type MultistatusResponse } from '../../lib/dav/index.js';
import { hasPrivilege } from '../../lib/dav/index.js';
import { href, homeCalendars, inboxItems, objectsOf, calendarPath, homePath, inboxPath, outboxPath, principalPath } from './paths.js';
import { accessOf } from './props.js';
import { DavHttpError } from './errors.js';
import { deadPropsFor, fastObjectResponse, fastProps, propsFor, sendMultistatus, sendMultistatusParts, wantsData, wantsDead, type DavRequest } from './common.js';
import type { DavResource, Target } from './types.js';

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
  const row = await t.env.ctx.db.selectFrom('calendar_object').select('ical').where('id', '=', r.obj.id).executeTakeFirst();
  return row?.ical;
}

export async function propfind(d: DavRequest) {
  const depth = parseDepth(d.req.headers.depth, 'infinity');
  const sel = parsePropfind(d.body);
  const t = d.target;
  if (t.res.kind === 'null') throw new DavHttpError(404, 'No such resource');
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
  if (fast) {
    const head: MultistatusResponse[] = [];
    for (const x of targets) head.push({ href: href(x.res.path), props: await propsFor(x, sel) });
    const base = href(t.res.path);
    const parts: string[] = [];
    for (const m of await membersOf(t, data)) {
      if (m.kind !== 'object') continue;
      parts.push(fastObjectResponse(base + href(m.obj.name), m.obj, fast, m.obj.ical));
    }
    return sendMultistatusParts(d, head, parts);
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
