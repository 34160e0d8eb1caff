/**
 * The CalDAV transport (RFC 4791, 4918, 6578, 6638, 6764, 3744 subset), mounted by the api role.
 * Thin: resolve the URL, authenticate (HTTP Basic), parse with lib/dav, call the domain, render.
 * Errors are mapped in exactly one place (errors.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../app/context.js';
import { decodeIcalBytes } from '../../lib/ical/index.js';
import { authenticate, stillValid } from './auth.js';
import { davLookup, type DavLookup, type DavObjectMeta } from '../../store/dav-lookup.js';
import { davReadState, startDavReadCache, stopDavReadCache, type DavReadCache, type Stamp } from './read-cache.js';
import type { PrincipalRow } from '../../store/schema.js';
import { davErrorHandler, DavHttpError, sendDavError, WWW_AUTHENTICATE } from './errors.js';
import { DAV_PREFIX, href, lookupHint, objectVisibleIn, parentPath, requestPath, resolvePath } from './paths.js';
import { ALLOW, DAV_HEADER, options } from './options.js';
import { propfind } from './propfind.js';
import { proppatch } from './proppatch.js';
import { mkcol } from './mkcol.js';
import { get } from './get.js';
import { davFastGet } from './fast-get.js';
import { davFastReport, PRE_PARSED_REPORT, PRE_READ_BODY } from './fast-report.js';
import { Readable } from 'node:stream';
import { put } from './put.js';
import { del } from './delete.js';
import { copyMove } from './copymove.js';
import { post } from './post.js';
import { report } from './report.js';
import { fastProps, memberColumns, primeHeldObject, type DavRequest } from './common.js';
import { hrefToPath, parseReport, parseXml, type ReportRequest } from '../../lib/dav/index.js';
import type { MemberColumns } from '../../store/dav-members.js';
import type { DavCalendar, DavEnv } from './types.js';

export const DAV_METHODS = ['PROPFIND', 'PROPPATCH', 'REPORT', 'MKCALENDAR', 'MKCOL', 'MOVE', 'COPY'] as const;
const ALL_METHODS = ['OPTIONS', 'GET', 'HEAD', 'PUT', 'DELETE', 'POST', ...DAV_METHODS];
/** Large enough for any calendar object (max-resource-size is checked on PUT with a DAV:error). */
const DAV_BODY_LIMIT = 8 * 1024 * 1024;

declare module 'fastify' {
  interface FastifyRequest {
    davScope?: { calendarHref?: string; requestHref?: string };
  }
}

/** The hrefs an error reply may name (errors.ts): encoded only when one is read, not on every request. */
class ErrorScopeHrefs {
  constructor(private readonly calendarPath: string, private readonly requestPathText: string) {}
  get calendarHref() { return href(this.calendarPath); }
  get requestHref() { return href(this.requestPathText); }
}

/** Methods that only read: the ones the read cache serves (read-cache.ts). */
const READ_METHODS = new Set(['GET', 'HEAD', 'PROPFIND', 'REPORT']);

/**
 * The request's lookup from the read cache: the principal a remembered credential was validated
 * as, the user's view of the addressed calendar, and the addressed object (held with its text).
 * Undefined when any of them is not held: the lookup query then runs and fills what it read.
 */
function cachedLookup(cache: DavReadCache, key: string, userId: string, path: string, method: string): { hint: ReturnType<typeof lookupHint>; found: DavLookup & { principal: PrincipalRow } } | undefined {
  const principal = cache.principal(key, userId);
  if (!principal) return undefined;
  const hint = lookupHint(path, userId);
  const found: DavLookup & { principal: PrincipalRow } = { principal, appPasswordValid: true };
  if (hint.calendarId === null) return { hint, found };
  const calendar = cache.calendar(userId, hint.calendarId);
  if (calendar === undefined) return undefined;
  if (calendar) found.calendar = calendar as DavLookup['calendar'];
  if (hint.objectName === null || !calendar) return { hint, found };
  // A REPORT or PROPFIND on one object is rare: the lookup reads it.
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const obj = cache.object(calendar.id, hint.objectName);
  if (!obj) return undefined;
  // A sharee never sees private or confidential events (as the lookup's own condition).
  if (objectVisibleIn(calendar, obj.class)) found.object = obj;
  return { hint, found };
}

/** What a lookup read (since `stamp`) into the read cache. */
function fillCache(cache: DavReadCache, stamp: Stamp, key: string, user: PrincipalRow, hint: ReturnType<typeof lookupHint>, found: DavLookup) {
  cache.putPrincipal(key, user, stamp);
  if (hint.calendarId === null) return;
  cache.putCalendar(user.id, hint.calendarId, (found.calendar as DavCalendar | undefined) ?? null, stamp);
  if (found.calendar && found.object?.ical !== undefined) cache.putObject(found.calendar.id, found.object as DavObjectMeta & { ical: string }, stamp);
}

function bodyText(req: FastifyRequest): string {
  const b = req.body as Buffer | string | undefined | null;
  if (b == null) return '';
  if (typeof b === 'string') return b;
  // iCalendar arrives in any encoding (BOM, UTF-16, windows-1252); XML bodies are UTF-8.
  return req.method === 'PUT' || req.method === 'POST' ? decodeIcalBytes(b) : b.toString('utf8');
}

interface EarlyMultiget {
  body: string;
  report: ReportRequest;
  /** Set for a calendar-multiget the fast path answers: the member names to read with the lookup. */
  members?: { names: string[]; cols: MemberColumns };
}

/**
 * A REPORT body parsed before the lookup; for a calendar-multiget of fast-path properties, the
 * names its hrefs give for this calendar — every href whose parent collection's last segment is
 * the URL's calendar segment or the calendar's id (a superset of what multiget() accepts, which
 * checks each href's full parent path itself). Null when the body does not parse: the report
 * handler then parses it again and answers the error in its usual place (after sign-in).
 */
function earlyMultiget(body: string, path: string, calendarId: string): EarlyMultiget | null {
  if (!body.trim()) return null;
  let report: ReportRequest;
  try {
    report = parseReport(parseXml(body));
  } catch {
    return null;
  }
  if (report.kind !== 'calendar-multiget' || !fastProps(report.props)) return { body, report };
  const lastSegment = (p: string) => {
    const t = p.endsWith('/') ? p.slice(0, -1) : p;
    return t.slice(t.lastIndexOf('/') + 1);
  };
  const segment = lastSegment(path);
  const names = new Set<string>();
  for (const h of report.hrefs) {
    let p: string;
    try {
      p = hrefToPath(h);
    } catch {
      continue;
    }
    const parent = parentPath(p);
    const last = lastSegment(parent);
    if ((last === segment || last.toLowerCase() === calendarId) && !p.endsWith('/')) names.add(p.slice(p.lastIndexOf('/') + 1));
  }
  return { body, report, members: { names: [...names], cols: memberColumns(fastProps(report.props)!) } };
}

async function handle(ctx: AppContext, req: FastifyRequest, reply: FastifyReply) {
  reply.header('dav', DAV_HEADER);
  if (req.method === 'OPTIONS') return options(reply);
  const path = requestPath(req.url);
  // One query reads the principal, the addressed calendar with the user's access, and the object
  // (with its text for a GET); a remembered credential is re-validated from that same row.
  const withText = req.method === 'GET';
  const cred = await authenticate(ctx, req);
  let user: PrincipalRow | undefined;
  let hint: ReturnType<typeof lookupHint>;
  let found: DavLookup;
  let early: EarlyMultiget | null = null;
  const cache = READ_METHODS.has(req.method) ? davReadState(ctx) : undefined;
  if (cred.kind === 'remembered' && cache) {
    // Served from the read cache when the credential, the calendar view and (for a GET) the
    // object are all held and current (read-cache.ts; this process's writes fenced first).
    const hit = (cache.feed.fenced() || (await cache.feed.fence())) ? cachedLookup(cache.cache, cred.key, cred.entry.userId, path, req.method) : undefined;
    if (hit) {
      hint = hit.hint;
      found = hit.found;
      user = hit.found.principal;
    }
  }
  let stamp: Stamp | undefined;
  if (cred.kind === 'remembered' && !user) {
    stamp = cache?.feed.live ? cache.cache.stamp() : undefined;
    hint = lookupHint(path, cred.entry.userId);
    // A calendar-multiget of a calendar reads its members in the same statement (one round trip).
    // Only for a credential verified before: an unknown caller's body is not parsed before sign-in.
    if (req.method === 'REPORT' && hint.calendarId && hint.objectName === null) early = earlyMultiget(bodyText(req), path, hint.calendarId);
    found = await davLookup(ctx.pool, { ...hint, userId: cred.entry.userId, withText, appPasswordHash: cred.entry.appPasswordHash, members: early?.members });
    if (stillValid(cred.entry, found.principal, found.appPasswordValid)) {
      user = found.principal;
      if (stamp) fillCache(cache!.cache, stamp, cred.key, user, hint, found);
    }
  }
  if (!user) {
    // Not remembered, or no longer valid: the full check (which fails for a revoked secret).
    const verified = cred.kind === 'verified' ? cred : await authenticate(ctx, req, true);
    if (verified.kind !== 'verified') throw new DavHttpError(401, 'Sign in again', undefined, { 'www-authenticate': WWW_AUTHENTICATE });
    hint = lookupHint(path, verified.user.id);
    found = await davLookup(ctx.pool, { ...hint, userId: verified.user.id, withText });
    user = found.principal ?? verified.user;
    if (user.kind !== 'user' || user.disabled) throw new DavHttpError(401, 'This account cannot use CalDAV', undefined, { 'www-authenticate': WWW_AUTHENTICATE });
  }
  const env: DavEnv = { ctx, user, actor: { userId: user.id, email: user.email, isAdmin: user.is_admin, via: 'caldav', requestId: req.id } };
  const res = await resolvePath(env, path, { ...hint!, calendar: found!.calendar, object: found!.object });
  const parent = res.kind === 'object' || res.kind === 'null' ? parentPath(res.path) : res.path;
  req.davScope = new ErrorScopeHrefs(parent, res.path);
  const d: DavRequest = { req, reply, env, target: { env, res }, body: early?.body ?? bodyText(req) };
  if (early && user === found!.principal) {
    d.report = early.report;
    if (early.members && found!.members && found!.calendar) d.members = { calendarId: found!.calendar.id, rows: found!.members };
  }
  // A REPORT body the front handler read and parsed (fast-report.ts) is not parsed again.
  if (!d.report && req.method === 'REPORT') d.report = (req.raw as typeof req.raw & { [PRE_PARSED_REPORT]?: ReportRequest })[PRE_PARSED_REPORT];
  switch (req.method) {
    case 'PROPFIND': return propfind(d);
    case 'PROPPATCH': return proppatch(d);
    case 'REPORT': return report(d);
    case 'MKCALENDAR': return mkcol(d, 'MKCALENDAR');
    case 'MKCOL': return mkcol(d, 'MKCOL');
    case 'GET':
    case 'HEAD': return get(d);
    case 'PUT': return put(d);
    case 'DELETE': return del(d);
    case 'COPY':
    case 'MOVE': return copyMove(d, req.method);
    case 'POST': return post(d);
    default:
      throw new DavHttpError(405, `${req.method} is not supported`, undefined, { allow: ALLOW });
  }
}

/** Registers WebDAV methods on the root instance (Fastify requires it before routes use them). */
export function registerDavMethods(app: FastifyInstance) {
  for (const m of DAV_METHODS) if (!app.supportedMethods.includes(m)) app.addHttpMethod(m, { hasBody: true });
}

export function davPlugin(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    registerDavMethods(app);
    if (startDavReadCache(ctx, primeHeldObject)) {
      app.addHook('onClose', async () => stopDavReadCache(ctx));
      // GET/HEAD of an object the read cache can answer skips Fastify's request machinery.
      app.frontHandlers?.push(davFastGet(ctx, app.observeHttp));
      // So is a calendar-multiget of held objects; another REPORT's body, read there, is handed back here.
      app.frontHandlers?.push(davFastReport(ctx, app.observeHttp));
      app.addHook('preParsing', (req, _reply, payload, done) => {
        const raw = req.raw as typeof req.raw & { [PRE_READ_BODY]?: Buffer };
        const body = raw[PRE_READ_BODY];
        if (!body) return done(null, payload);
        raw[PRE_READ_BODY] = undefined;
        // A stream that already holds the whole body (cheaper than Readable.from's async iteration).
        const stream = new Readable({ read() {} });
        stream.push(body);
        stream.push(null);
        done(null, Object.assign(stream, { receivedEncodedLength: body.length }));
      });
    }
    app.removeAllContentTypeParsers();
    // Some clients send bodies with no or odd Content-Type (DEPENDENCIES.md item 5): take them all as bytes.
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: DAV_BODY_LIMIT }, (_req, body, done) => done(null, body));
    app.setErrorHandler(davErrorHandler);
    // RFC 6764 §5: the well-known URI redirects to the context path.
    const wellKnown = async (_req: FastifyRequest, reply: FastifyReply) => reply.redirect(`${DAV_PREFIX}/`, 301);
    app.route({ method: ['GET', 'HEAD', 'PROPFIND', 'OPTIONS'], url: '/.well-known/caldav', config: { auth: 'none' }, schema: { hide: true }, handler: wellKnown });
    const route = { method: ALL_METHODS, config: { auth: 'none' as const }, schema: { hide: true }, handler: (req: FastifyRequest, reply: FastifyReply) => handle(ctx, req, reply) };
    app.route({ ...route, url: DAV_PREFIX });
    app.route({ ...route, url: `${DAV_PREFIX}/` });
    app.route({ ...route, url: `${DAV_PREFIX}/*` });
    void sendDavError;
  };
}
