/**
 * What the CalDAV requests answered before Fastify (fast-get.ts, fast-report.ts; http/app.ts front
 * handlers) share: who is asking and which calendar they may read, from the read cache alone, and
 * the request id, metrics and log line every route gives.
 */
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AppContext } from '../../app/context.js';
import type { PrincipalRow } from '../../store/schema.js';
import { rememberedCredential } from './auth.js';
import { lookupHint, requestPath } from './paths.js';
import type { DavReadState } from './read-cache.js';
import type { DavCalendar } from './types.js';
import type { ObserveHttp } from '../app.js';

export const FRONT_PREFIX = '/dav/calendars/';
/** The route the usual path reports in metrics for these requests. */
const ROUTE = '/dav/*';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REQUEST_ID = /^[\w.-]{1,64}$/;

export interface HeldTarget {
  /** The remembered credential's key (auth-cache). */
  key: string;
  user: PrincipalRow;
  cal: DavCalendar;
  /** The path's segments after the prefix: user, calendar and, for an object, its name. */
  segs: string[];
}

/**
 * The user and their view of the calendar the request's URL names, when the read cache holds both now (this
 * process's writes fenced) and the view grants read access (RFC 3744 DAV:read; a free-busy grant
 * has none). `object`: the path is <user>/<calendar>/<name>, else <user>/<calendar>/ (or without
 * the slash) — in the user's own home (paths.ts resolvePath), never the inbox or outbox.
 */
export function heldTarget(ctx: AppContext, state: DavReadState, req: IncomingMessage, object: boolean): HeldTarget | undefined {
  if (!state.feed.fenced()) return undefined;
  let path: string;
  try {
    path = requestPath(req.url!);
  } catch {
    return undefined;
  }
  const cred = rememberedCredential(ctx, req.headers.authorization);
  const user = cred && state.cache.principal(cred.key, cred.entry.userId);
  if (!user) return undefined;
  const segs = path.slice(FRONT_PREFIX.length).split('/');
  if (!object && segs.length === 3 && segs[2] === '') segs.pop();
  if (segs.length !== (object ? 3 : 2) || !segs[1] || (object && !segs[2]) || segs[1] === 'inbox' || segs[1] === 'outbox' || segs[0]!.toLowerCase() !== user.email.toLowerCase()) return undefined;
  const hint = lookupHint(path, user.id);
  if (!hint.calendarId || hint.objectName !== (object ? segs[2] : null)) return undefined;
  const cal = state.cache.calendar(user.id, hint.calendarId);
  if (!cal || (cal.access !== 'owner' && cal.access !== 'read' && cal.access !== 'read-write')) return undefined;
  // A derived id (not a UUID) names only an own calendar.
  if (!UUID.test(segs[1]) && cal.access !== 'owner') return undefined;
  return { key: cred.key, user, cal, segs };
}

/** The X-Request-Id of the answer: the client's when well-formed, else a new one (as every route). */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** The metrics sample and the request log line of an answered request, as the usual route writes them. */
export function frontAnswered(ctx: AppContext, observe: ObserveHttp | undefined, req: IncomingMessage, id: string, status: number, t0: number): void {
  const seconds = (performance.now() - t0) / 1000;
  observe?.(req.method!, ROUTE, status, seconds);
  if (ctx.log.isLevelEnabled?.('info') !== false) ctx.log.info({ reqId: id, method: req.method, url: req.url!.split('?')[0], status, ms: Math.round(seconds * 1000) }, 'request');
}
