/**
 * A calendar-multiget (RFC 4791 §7.9) answered before Fastify's request machinery (http/app.ts
 * front handlers), as fast-get.ts answers a GET, when everything the answer depends on is known
 * without a question:
 *   - the Authorization header is a remembered credential (auth.ts) that the read cache holds as
 *     validated, with this process's writes fenced (read-cache.ts, store/change-feed.ts);
 *   - the URL is the calendar /dav/calendars/<the user>/<calendar>/ and the read cache holds the
 *     user's view of it with read access (owner, read or read-write share);
 *   - the body (read here only for such a caller, and only up to MAX_BODY bytes with a
 *     Content-Length) is a calendar-multiget of the properties the fast path renders, and the
 *     request asks for no Prefer / Brief variant.
 * Its members come from the read cache, those not held from one prepared statement, exactly as
 * reports/multiget.ts renders them (the same function). Anything else goes to the usual route
 * (index.ts) with the body already read handed back to it (the dav plugin's preParsing hook), and
 * is answered as always; so is a request whose credential or calendar view stopped being held
 * while its body arrived.
 */
import type { IncomingMessage } from 'node:http';
import type { AppContext } from '../../app/context.js';
import { parseReport, parseXml, type ReportRequest } from '../../lib/dav/index.js';
import { DAV_HEADER } from './options.js';
import { calendarPath } from './paths.js';
import { davReadState, type DavReadState } from './read-cache.js';
import { fastProps, multistatusText } from './common.js';
import { cachedMultigetParts, ownNames, wantedHrefs } from './reports/multiget.js';
import { FRONT_PREFIX, frontAnswered, heldTarget, requestIdOf, type HeldTarget } from './front.js';
import type { FrontHandler, ObserveHttp } from '../app.js';

/** Bodies read here at most (a multiget of 1,000 hrefs is ~100 KB). */
const MAX_BODY = 1024 * 1024;
/** Answers longer than this (UTF-16 units) are left to the usual route (which streams them). */
const MAX_ANSWER = 16 * 1024 * 1024;

/** Counts for tests and metrics: answered here, and read here but handed to the usual route. */
export const fastReportStats = { answered: 0, handedOver: 0 };

/** Where a request's body read by the front handler waits for the usual route (index.ts preParsing hook). */
export const PRE_READ_BODY = Symbol('calendula.davPreReadBody');
/** The same body parsed as a REPORT (when it parses), so the usual route does not parse it again. */
export const PRE_PARSED_REPORT = Symbol('calendula.davPreParsedReport');
type WithBody = IncomingMessage & { [PRE_READ_BODY]?: Buffer; [PRE_PARSED_REPORT]?: ReportRequest };

/** Whether what heldTarget() found is still held and current (this process's writes fenced). */
const stillHeld = (state: DavReadState, t: HeldTarget) =>
  state.feed.fenced() && state.cache.principal(t.key, t.user.id) === t.user && state.cache.calendar(t.user.id, t.cal.id) === t.cal;

export function davFastReport(ctx: AppContext, observe?: ObserveHttp): FrontHandler {
  return (req, res, next) => {
    const url = req.url;
    if (req.method !== 'REPORT' || !url?.startsWith(FRONT_PREFIX)) return next();
    const state = davReadState(ctx);
    const length = Number(req.headers['content-length']);
    if (!state || !(length > 0 && length <= MAX_BODY) || req.headers['content-encoding'] !== undefined || req.headers.prefer !== undefined || req.headers.brief !== undefined) return next();
    // Only a caller already known here gets its body read before the usual route.
    const target = heldTarget(ctx, state, req, false);
    if (!target) return next();
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    let size = 0;
    const handOver = (body: Buffer, report?: ReportRequest) => {
      fastReportStats.handedOver++;
      (req as WithBody)[PRE_READ_BODY] = body;
      (req as WithBody)[PRE_PARSED_REPORT] = report;
      next();
    };
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (size !== length) return handOver(body);
      let report: ReportRequest;
      try {
        report = parseReport(parseXml(body.toString('utf8')));
      } catch {
        return handOver(body);
      }
      const fast = report.kind === 'calendar-multiget' ? fastProps(report.props) : null;
      // Checked again: a write of this process, a change announced, while the body arrived.
      if (!fast || report.kind !== 'calendar-multiget' || !stillHeld(state, target)) return handOver(body, report);
      const { user, cal } = target;
      const base = `${FRONT_PREFIX}${user.email.toLowerCase()}/${target.segs[1]}/`;
      const wanted = wantedHrefs(report.hrefs);
      const own = ownNames(wanted, new Set([base, calendarPath(user.email, cal.id)]));
      cachedMultigetParts(ctx.pool, state.cache, cal, fast, wanted, own, report.calendarData).then(({ parts, ascii }) => {
        const text = multistatusText(parts, fast.some((p) => p.name === 'calendar-data'));
        if (text.length > MAX_ANSWER) return handOver(body, report);
        const id = requestIdOf(req);
        res.writeHead(207, { 'x-request-id': id, dav: DAV_HEADER, 'content-type': 'application/xml; charset=utf-8', 'content-length': ascii ? text.length : Buffer.byteLength(text, 'utf8') });
        // ASCII text is its own UTF-8: written as Latin-1, the socket copies it instead of encoding it (~40 µs for 60 KB).
        res.end(text, ascii ? 'latin1' : 'utf8');
        fastReportStats.answered++;
        frontAnswered(ctx, observe, req, id, 207, t0);
      }, () => handOver(body, report));
    });
  };
}
