/**
 * DAV:sync-collection — RFC 6578. Tokens are http://calendula.org/ns/sync/<calendar-id>/<seq>, the
 * calendar's change-log sequence; incremental answers read the log after that sequence (latest
 * entry per resource name; deleted resources come back as 404 tombstones). A DAV:limit, or more
 * than MAX_CHANGES changes, truncates the answer with a 507 response for the collection and a
 * token from which the client continues (§3.6).
 */
import { Preconditions, type MultistatusResponse, type SyncCollectionReport } from '../../../lib/dav/index.js';
import { changesSince } from '../../../store/objects.js';
import { DavHttpError, fail } from '../errors.js';
import { href, objectsOf } from '../paths.js';
import { syncToken } from '../props.js';
import { fastObjectResponse, fastProps, propsFor, requirePrivilege, sendMultistatus, sendMultistatusParts, wantsData, type DavRequest } from '../common.js';

const MAX_CHANGES = 10_000;

function parseToken(token: string, calendarId: string, current: bigint): bigint {
  const m = /^http:\/\/calendula\.org\/ns\/sync\/([0-9a-f-]{36})\/(\d{1,18})$/.exec(token);
  if (!m || m[1] !== calendarId) fail(Preconditions.validSyncToken(), 'This sync token is not valid for this calendar');
  const seq = BigInt(m[2]!);
  if (seq > current) fail(Preconditions.validSyncToken(), 'This sync token is from the future');
  return seq;
}

export async function syncCollection(d: DavRequest, q: SyncCollectionReport) {
  const t = d.target;
  if (t.res.kind !== 'calendar') throw new DavHttpError(403, 'sync-collection runs on calendar collections', Preconditions.supportedReport());
  requirePrivilege(t, 'read');
  const cal = t.res.cal;
  const base = t.res.path;
  const current = BigInt(cal.sync_seq);
  const data = wantsData(q.props);
  const limit = q.limit !== null ? Math.max(1, Math.min(q.limit, MAX_CHANGES)) : MAX_CHANGES;
  const responses: MultistatusResponse[] = [];
  if (q.syncToken === '' && q.limit === null) {
    const objs = await objectsOf(d.env, cal, data);
    const fast = fastProps(q.props);
    if (fast) return sendMultistatusParts(d, [], objs.map((obj) => fastObjectResponse(href(`${base}${obj.name}`), obj, fast, obj.ical, q.calendarData)), { syncToken: syncToken(cal) });
    for (const obj of objs) responses.push({ href: href(`${base}${obj.name}`), props: await propsFor({ env: d.env, res: { kind: 'object', path: `${base}${obj.name}`, cal, obj } }, q.props, obj.ical, q.calendarData) });
    return sendMultistatus(d, responses, { syncToken: syncToken(cal) });
  }
  // Initial sync with a limit reads the log from the start (tombstones left out); incremental from the token.
  const initial = q.syncToken === '';
  const since = initial ? 0n : parseToken(q.syncToken, cal.id, current);
  const rows = await changesSince(d.env.ctx.db, cal.owner_id, cal.id, String(since), limit + 1);
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  const latest = new Map<string, (typeof page)[number]>();
  for (const r of page) {
    latest.delete(r.name);
    latest.set(r.name, r);
  }
  const live = await objectsOf(d.env, cal, data, [...latest.values()].filter((r) => r.kind === 'put').map((r) => r.name));
  const byName = new Map(live.map((o) => [o.name, o]));
  for (const r of latest.values()) {
    const obj = byName.get(r.name);
    if (obj) responses.push({ href: href(`${base}${obj.name}`), props: await propsFor({ env: d.env, res: { kind: 'object', path: `${base}${obj.name}`, cal, obj } }, q.props, obj.ical, q.calendarData) });
    else if (!initial) responses.push({ href: href(`${base}${r.name}`), status: 404 });
  }
  const token = more ? syncToken({ id: cal.id, sync_seq: page[page.length - 1]!.seq }) : syncToken(cal);
  return sendMultistatus(d, responses, { syncToken: token, ...(more ? { truncatedHref: href(base) } : {}) });
}
