/** CALDAV:calendar-multiget — RFC 4791 §7.9: one response per requested href, 404 for the unknown. */
import type pg from 'pg';
import { escapeText, hrefToPath, DavParseError, type CalendarMultigetReport, type MultistatusResponse, type QName } from '../../../lib/dav/index.js';
import { namedMemberRows } from '../../../store/dav-members.js';
import { asciiObject, NON_ASCII, usableReadCache, type CachedObject, type DavReadCache } from '../read-cache.js';
import { MEMBER_OFFSET } from '../../../store/dav-lookup.js';
import { DavHttpError } from '../errors.js';
import { calendarPath, inboxItems, objectVisibleIn, objectsOf, parentPath } from '../paths.js';
import { cachedObjectResponse, fastMemberResponse, fastProps, fastStatusResponse, memberColumns, memberLayout, propsFor, propsKey, requirePrivilege, sendMultistatus, sendMultistatusParts, unrestricted, wantsData, type DavRequest } from '../common.js';
import type { DavCalendar, ObjectMeta, Target } from '../types.js';

/** A multiget's hrefs with their decoded paths (null: not a path, answered 404). */
export type WantedHref = { href: string; path: string | null };

export function wantedHrefs(hrefs: string[]): WantedHref[] {
  return hrefs.map((h): WantedHref => {
    try {
      return { href: h, path: hrefToPath(h) };
    } catch (e) {
      if (e instanceof DavParseError) return { href: h, path: null };
      throw e;
    }
  });
}

/** For each wanted href, the member name it names in the calendar at one of `bases` (its paths), else null. */
export function ownNames(wanted: WantedHref[], bases: Set<string>): Array<string | null> {
  return wanted.map((w) => (w.path && bases.has(parentPath(w.path)) ? w.path.slice(w.path.lastIndexOf('/') + 1) : null));
}

/**
 * The fast path with the read cache: the <D:response> of each wanted href. The named members it
 * holds are rendered from it (their calendar-data escaped once per object version); the others
 * are read in one query of only the asked columns, as without the cache, and not kept (objects
 * enter the cache from GETs and PUTs: keeping what a multiget reads cost more than it saved — a
 * client syncing fetches each changed object once). Shared with the REPORT answered before
 * Fastify (fast-report.ts).
 */
export async function cachedMultigetParts(pool: pg.Pool, cache: DavReadCache, cal: DavCalendar, fast: QName[], wanted: WantedHref[], own: Array<string | null>, spec: CalendarMultigetReport['calendarData']): Promise<{ parts: string[]; ascii: boolean }> {
  const publicOnly = cal.access !== 'owner';
  const held = new Map<string, CachedObject | null>();
  const missing = new Set<string>();
  for (const n of own) {
    if (n === null || held.has(n) || missing.has(n)) continue;
    const o = cache.object(cal.id, n);
    // A sharee never sees private or confidential events (as namedMemberRows' own condition).
    if (o) held.set(n, objectVisibleIn(cal, o.class) ? o : null);
    else missing.add(n);
  }
  const rows = missing.size ? await namedMemberRows(pool, cal.owner_id, cal.id, publicOnly, memberColumns(fast), [...missing]) : [];
  const read = new Map(rows.map((r) => [r[0]!, r]));
  const layout = memberLayout(fast);
  const plainData = unrestricted(spec);
  // Whether every part is ASCII: held objects know it of themselves, other parts are tested.
  let ascii = true;
  const key = propsKey(fast);
  const parts = wanted.map((w, i) => {
    const n = own[i];
    const o = n === null ? undefined : held.get(n);
    if (o) {
      const part = cachedObjectResponse(escapeText(w.href), o, fast, spec, key);
      if (ascii) ascii = plainData ? !NON_ASCII.test(w.href) && asciiObject(o, escapeText) : !NON_ASCII.test(part);
      return part;
    }
    const row = n !== null && o === undefined ? read.get(n) : undefined;
    const part = row ? fastMemberResponse(escapeText(w.href), row, 0, layout, spec) : fastStatusResponse(w.href, 404);
    if (ascii) ascii = !NON_ASCII.test(part);
    return part;
  });
  return { parts, ascii };
}

export async function multiget(d: DavRequest, q: CalendarMultigetReport) {
  const t = d.target;
  const data = wantsData(q.props);
  const wanted = wantedHrefs(q.hrefs);
  const name = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  let found: Map<string, { obj: ObjectMeta; res: Target['res'] }>;
  if (t.res.kind === 'calendar') {
    requirePrivilege(t, 'read');
    const cal = t.res.cal;
    const bases = new Set([t.res.path, calendarPath(d.env.user.email, cal.id)]);
    const fast = fastProps(q.props);
    if (fast) {
      // Only the asked columns of the named members, rendered straight from their cells.
      const own = ownNames(wanted, bases);
      const cols = memberColumns(fast);
      const cache = d.members?.calendarId === cal.id ? undefined : await usableReadCache(d.env.ctx);
      if (cache) return sendMultistatusParts(d, [], (await cachedMultigetParts(d.env.ctx.pool, cache, cal, fast, wanted, own, q.calendarData)).parts, {}, fast.some((p) => p.name === 'calendar-data'));
      // Read with the request's lookup (index.ts: the same rows, for a superset of these names), or now.
      const pre = d.members?.calendarId === cal.id ? d.members.rows : undefined;
      const rows = pre ?? (await namedMemberRows(d.env.ctx.pool, cal.owner_id, cal.id, cal.access !== 'owner', cols, [...new Set(own.filter((n) => n !== null))]));
      const at = pre ? MEMBER_OFFSET : 0;
      const byName = new Map(rows.map((r) => [r[at] as string, r as string[]]));
      const layout = memberLayout(fast);
      const parts = wanted.map((w, i) => {
        const row = own[i] === null ? undefined : byName.get(own[i]!);
        return row ? fastMemberResponse(escapeText(w.href), row, at, layout, q.calendarData) : fastStatusResponse(w.href, 404);
      });
      return sendMultistatusParts(d, [], parts, {}, cols.text);
    }
    const names = wanted.filter((w) => w.path && bases.has(parentPath(w.path))).map((w) => name(w.path!));
    const objs = await objectsOf(d.env, cal, data, [...new Set(names)]);
    found = new Map(objs.map((obj) => [obj.name, { obj, res: { kind: 'object', path: `${t.res.path}${obj.name}`, cal, obj } }]));
    for (const w of wanted) if (w.path && !bases.has(parentPath(w.path))) w.path = null;
  } else if (t.res.kind === 'inbox') {
    const items = await inboxItems(d.env, data);
    found = new Map(items.map((obj) => [obj.name, { obj, res: { kind: 'inbox-item', path: `${t.res.path}${obj.name}`, obj } }]));
    for (const w of wanted) if (w.path && parentPath(w.path) !== t.res.path) w.path = null;
  } else {
    throw new DavHttpError(403, 'calendar-multiget runs on calendar collections', { status: 403, ns: 'DAV:', name: 'supported-report' });
  }
  const responses: MultistatusResponse[] = [];
  for (const w of wanted) {
    const hit = w.path ? found.get(name(w.path)) : undefined;
    if (!hit) {
      responses.push({ href: w.href, status: 404 });
      continue;
    }
    responses.push({ href: w.href, props: await propsFor({ env: d.env, res: hit.res }, q.props, hit.obj.ical, q.calendarData) });
  }
  return sendMultistatus(d, responses);
}
