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
import type { AppContext } from '../../app/context.js';
import { objectRows } from '../../store/dav-members.js';
import { DAV_HEADER } from './options.js';
import { objectValidators } from './get.js';
import { objectVisibleIn } from './paths.js';
import { davReadState, lastModifiedOf, type CachedObject } from './read-cache.js';
import { FRONT_PREFIX, frontAnswered, heldTarget, requestIdOf } from './front.js';
import type { FrontHandler, ObserveHttp } from '../app.js';

export function davFastGet(ctx: AppContext, observe?: ObserveHttp): FrontHandler {
  function send(req: IncomingMessage, res: ServerResponse, o: CachedObject, t0: number) {
    const id = requestIdOf(req);
    res.writeHead(200, {
      'x-request-id': id, dav: DAV_HEADER, ...objectValidators(o, lastModifiedOf(o)),
      'content-type': 'text/calendar; charset=utf-8', 'content-length': o.size,
    });
    res.end(req.method === 'HEAD' ? undefined : o.ical);
    frontAnswered(ctx, observe, req, id, 200, t0);
  }

  return (req, res, next) => {
    const method = req.method;
    const url = req.url;
    if ((method !== 'GET' && method !== 'HEAD') || !url?.startsWith(FRONT_PREFIX)) return next();
    const state = davReadState(ctx);
    if (!state) return next();
    const t0 = performance.now();
    const target = heldTarget(ctx, state, req, true);
    if (!target) return next();
    const { cal } = target;
    const name = target.segs[2]!;
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
