/**
 * GET and HEAD of a calendar object answered before Fastify's request machinery (http/app.ts
 * front handlers), when everything the answer depends on is known without a question:
 *   - the Authorization header is a remembered credential (auth.ts) that the read cache holds as
 *     validated, with this process's writes fenced (read-cache.ts, store/change-feed.ts);
 *   - the URL is /dav/calendars/<the user>/<calendar>/<name> and the read cache holds the user's
 *     view of that calendar with read access (owner, read or read-write share);
 *   - the object is held, or read now with one prepared statement (and then held).
 * Anything else — another URL shape, a missing or private object, an error — goes to the usual
 * route (index.ts), which answers it as always. The answer is the one get.ts gives: the stored
 * text with ETag, Last-Modified and, for a scheduling object, Schedule-Tag (RFC 6638 §3.2.10);
 * DAV and X-Request-Id headers as every route's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AppContext } from '../../app/context.js';
import { objectRows } from '../../store/dav-members.js';
import { rememberedCredential } from './auth.js';
import { DAV_HEADER } from './options.js';
import { objectValidators } from './get.js';
import { lookupHint, objectVisibleIn, requestPath } from './paths.js';
import { davReadState, lastModifiedOf, type CachedObject } from './read-cache.js';
import type { FrontHandler, ObserveHttp } from '../app.js';

const PREFIX = '/dav/calendars/';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REQUEST_ID = /^[\w.-]{1,64}$/;
/** The route the usual path reports in metrics for these requests. */
const ROUTE = '/dav/*';

export function davFastGet(ctx: AppContext, observe?: ObserveHttp): FrontHandler {
  const infoLog = () => ctx.log.isLevelEnabled?.('info') !== false;
  function send(req: IncomingMessage, res: ServerResponse, o: CachedObject, t0: number) {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.writeHead(200, {
      'x-request-id': id, dav: DAV_HEADER, ...objectValidators(o, lastModifiedOf(o)),
      'content-type': 'text/calendar; charset=utf-8', 'content-length': o.size,
    });
    res.end(req.method === 'HEAD' ? undefined : o.ical);
    const seconds = (performance.now() - t0) / 1000;
    observe?.(req.method!, ROUTE, 200, seconds);
    if (infoLog()) ctx.log.info({ reqId: id, method: req.method, url: req.url!.split('?')[0], status: 200, ms: Math.round(seconds * 1000) }, 'request');
  }

  return (req, res, next) => {
    const method = req.method;
    const url = req.url;
    if ((method !== 'GET' && method !== 'HEAD') || !url?.startsWith(PREFIX)) return next();
    const state = davReadState(ctx);
    if (!state?.feed.fenced()) return next();
    const t0 = performance.now();
    const cred = rememberedCredential(ctx, req.headers.authorization);
    const user = cred && state.cache.principal(cred.key, cred.entry.userId);
    if (!user) return next();
    let path: string;
    try {
      path = requestPath(url);
    } catch {
      return next();
    }
    // Exactly <user>/<calendar>/<name>: the user's own home (paths.ts resolvePath), no trailing slash.
    const segs = path.slice(PREFIX.length).split('/');
    if (segs.length !== 3 || !segs[1] || !segs[2] || segs[1] === 'inbox' || segs[1] === 'outbox' || segs[0]!.toLowerCase() !== user.email.toLowerCase()) return next();
    const hint = lookupHint(path, user.id);
    const cal = hint.calendarId ? state.cache.calendar(user.id, hint.calendarId) : undefined;
    // Read access (RFC 3744 DAV:read; a free-busy grant has none); a derived id names only an own calendar.
    if (!cal || hint.objectName !== segs[2] || (cal.access !== 'owner' && cal.access !== 'read' && cal.access !== 'read-write')) return next();
    if (!UUID.test(segs[1]) && cal.access !== 'owner') return next();
    const name = segs[2];
    const publicOnly = cal.access !== 'owner';
    const held = state.cache.object(cal.id, name);
    // A sharee never sees private or confidential events (as the lookup's own condition).
    if (held) return objectVisibleIn(cal, held.class) ? send(req, res, held, t0) : next();
    const stamp = state.cache.stamp();
    objectRows(ctx.pool, cal.owner_id, cal.id, publicOnly, true, [name]).then((rows) => {
      const row = rows[0];
      if (!row || row.ical === undefined || row.name !== name) return next();
      const o = row as typeof row & { ical: string };
      send(req, res, state.cache.putObject(cal.id, o, stamp) ?? o, t0);
    }, () => next());
  };
}
