/**
 * CALDAV:calendar-query — RFC 4791 §7.8. The index columns narrow the candidates in SQL (component
 * and time bounds); the common "events in a time range" filter is then answered from the index and
 * the compiled recurrence (rrule-temporal), and anything richer by the full filter evaluator.
 */
import { sql } from 'kysely';
import ICAL from 'ical.js';
import { matchesFilter, type CalendarQueryReport, type CompFilter, type MultistatusResponse } from '../../../lib/dav/index.js';
import { expandCompiled, parseCalendar, registerCanonicalZone } from '../../../lib/ical/index.js';
import { compiledCached, compiledFor } from '../../../app/events/compiled-cache.js';
import { expandSeries, floatingSingleOccurrences, hasExpansion } from '../../../app/events/expansions.js';
import { FLOAT_MARGIN_MS, icalOf } from '../../../store/objects.js';
import { DavHttpError } from '../errors.js';
import { href, inboxItems, visibleTo } from '../paths.js';
import { icalZoneFrom, timezoneFromVcalendar } from '../tz.js';
import { fastMemberListing, fastObjectResponse, fastProps, memberColumns, propsFor, requirePrivilege, sendMultistatusParts, wantsData, type DavRequest } from '../common.js';
import { knownSeriesOverlap, seriesOverlaps } from '../../../app/events/series-overlap.js';
import { timeRangeCells } from '../../../store/dav-members.js';
import { usableReadCache } from '../read-cache.js';
import type { DavCalendar, ObjectMeta, Target } from '../types.js';

const FAR_PAST = new Date(Date.UTC(1000, 0, 1));
const FAR_FUTURE = new Date(Date.UTC(9000, 0, 1));

/** A filter that is only "VCALENDAR > VEVENT [time-range]" — answerable from the index. */
function simpleEventFilter(top: CompFilter): CompFilter | null {
  if (top.isNotDefined || top.timeRange || top.propFilters.length || top.compFilters.length !== 1) return null;
  const ev = top.compFilters[0]!;
  if (ev.name !== 'VEVENT' || ev.isNotDefined || ev.propFilters.length || ev.compFilters.length) return null;
  return ev;
}

/**
 * The occurrencesOverlap hook for the filter evaluator: rrule-temporal over the compiled series,
 * expanded in `tz` (the floating zone for floating objects, UTC for the others). `single`: a
 * single floating event, every occurrence of which is checked (floatingSingleOccurrences).
 */
export function overlapUsing(etag: string, ical: string, tz = 'UTC', single = false) {
  return (_comp: unknown, start: Date | null, end: Date | null): boolean => {
    try {
      // Bounded ranges use the per-series expansion cache (expanded once per content hash).
      if (start && end && (ical || hasExpansion(etag, tz, start, end))) return (single ? floatingSingleOccurrences : expandSeries)(etag, ical, start, end, tz).length > 0;
      return expandCompiled(compiledFor(etag, ical), start ?? FAR_PAST, end ?? FAR_FUTURE, { limit: 1, defaultTz: tz }).length > 0;
    } catch {
      return true;
    }
  };
}

/**
 * The zone floating times are read in (RFC 4791 §9.9): the query's CALDAV:timezone, else the
 * calendar's CALDAV:calendar-timezone — its own zone, else the user's, as that property reports.
 * `iana` is null for a query zone that names no known zone (only the filter evaluator, with
 * `ical`, can then place floating times); `ical` is what the evaluator reads them in.
 */
export interface FloatingZone { iana: string | null; ical: ICAL.Timezone | null }
export function floatingZoneOf(queryTimezone: string | null, cal: { timezone: string | null } | null, userZone: string | null | undefined): FloatingZone {
  if (queryTimezone) return { iana: timezoneFromVcalendar(queryTimezone), ical: icalZoneFrom(queryTimezone) };
  const iana = cal?.timezone ?? userZone ?? 'UTC';
  return { iana, ical: registerCanonicalZone(iana) ? ICAL.TimezoneService.get(iana) ?? null : null };
}

interface Row extends ObjectMeta {
  recurring: boolean;
  /** Floating times (RFC 5545 §3.3.5) or all-day dates: the index columns are wall times read as UTC. */
  floating: boolean;
  ical: string;
}

/** A bounded floating row's text is needed unless its expansion in the zone is memoised. */
const floatingKnown = (etag: string, zone: FloatingZone, start?: Date | null, end?: Date | null) => !!zone.iana && !!start && !!end && hasExpansion(etag, zone.iana, start, end);

async function candidates(d: DavRequest, cal: DavCalendar, top: CompFilter, withText: boolean, zone: FloatingZone, names?: string[]): Promise<Row[]> {
  const comp = top.compFilters.length === 1 && !top.compFilters[0]!.isNotDefined ? top.compFilters[0]! : null;
  const simple = simpleEventFilter(top);
  let q = d.env.ctx.db.selectFrom('calendar_object')
    .select(['id', 'name', 'etag', 'schedule_tag', 'role', 'component', 'updated_at', 'class', 'recurring'])
    // All-day dates are floating too (RFC 4791 §9.9): both are placed in the floating zone.
    .select(sql<boolean>`floating or all_day`.as('floating'))
    .select(sql<number>`octet_length(ical)`.as('size'))
    // The simple filter needs the text only for recurring series not already compiled (fetched below).
    .select(simple && !withText ? sql<string>`''`.as('ical') : sql<string>`ical`.as('ical'))
    .where('owner_id', '=', cal.owner_id).where('calendar_id', '=', cal.id).where('deleted_at', 'is', null);
  if (names) q = q.where('name', 'in', names);
  q = visibleTo(q, cal);
  if (comp && (comp.name === 'VEVENT' || comp.name === 'VTODO')) q = q.where('component', '=', comp.name);
  else if (comp) return []; // VJOURNAL, VFREEBUSY, …: this server stores none
  const tr = comp?.name === 'VEVENT' ? comp.timeRange : null;
  if (tr) {
    const span = (f: Date | null, t: Date | null) => sql<boolean>`tstzrange(first_start, coalesce(last_end, 'infinity'::timestamptz), '[]') && tstzrange(${f}::timestamptz, ${t}::timestamptz, '[)')`;
    q = q.where((eb) => eb.or([
      eb.and([
        ...(tr.end ? [eb.or([eb('first_start', '<', tr.end), eb('first_start', 'is', null)])] : []),
        ...(tr.start ? [eb.or([eb('last_end', '>', tr.start), eb('last_end', 'is', null), eb.and([eb('last_end', '=', sql<Date>`first_start`), eb('first_start', '>=', tr.start)])])] : []),
        // The same bounds as one span overlap, the shape a GiST index on the span can answer (a
        // superset of the exact predicates above, so it only adds an index path).
        span(tr.start ?? null, tr.end ?? null),
      ]),
      // Floating and all-day rows hold wall times (dates) read as UTC: widened here, decided in the
      // floating zone below.
      eb.and([sql<boolean>`(floating or all_day)`, span(tr.start ? new Date(tr.start.getTime() - FLOAT_MARGIN_MS) : null, tr.end ? new Date(tr.end.getTime() + FLOAT_MARGIN_MS) : null)]),
    ]));
  }
  const rows = (await q.orderBy('name').execute()).map((r) => ({ ...r, size: Number(r.size) }));
  if (simple && !withText) {
    const known = (etag: string) => compiledCached(etag) || (!!tr?.start && !!tr?.end && hasExpansion(etag, 'UTC', tr.start, tr.end));
    const missing = rows.filter((r) => (r.floating ? !floatingKnown(r.etag, zone, tr?.start, tr?.end) : r.recurring && !known(r.etag)));
    if (missing.length) {
      const texts = await icalOf(d.env.ctx.db, cal.owner_id, missing.map((r) => r.id));
      for (const r of missing) r.ical = texts.get(r.id) ?? '';
    }
  }
  return rows;
}

/**
 * The common client request — "VEVENT overlapping a bounded time range" on a calendar, asking
 * only for properties the fast renderer writes (not calendar-data) — without building a row
 * object, a resource or an Occurrence per candidate: the index columns decide single events;
 * recurring ones are checked against their instance table (app/events/series-overlap.ts), their
 * text fetched (in one query) only for series not tabled yet; floating ones (single or recurring)
 * are expanded in the floating zone (RFC 4791 §9.9). Null when the request is not that;
 * else the sent reply, wrapped (a FastifyReply is thenable: awaiting it would wait for the send).
 */
async function simpleRangeQuery(d: DavRequest, q: CalendarQueryReport) {
  const t = d.target;
  if (t.res.kind !== 'calendar') return null;
  const ev = simpleEventFilter(q.filter);
  const tr = ev?.timeRange;
  const fast = fastProps(q.props);
  if (!tr?.start || !tr.end || !fast || wantsData(q.props)) return null;
  requirePrivilege(t, 'read');
  const cal = t.res.cal;
  const zone = floatingZoneOf(q.timezone, cal, d.env.user.timezone);
  // A query zone that names no known zone: only the filter evaluator can place floating times.
  if (!zone.iana) return null;
  const from = tr.start.getTime();
  const to = tr.end.getTime();
  const tz = zone.iana;
  const base = href(t.res.path);
  // The answer is kept by the read cache until the calendar changes (read-cache.ts): clients send
  // the same range again on every refresh. The key holds all it depends on besides the calendar's
  // contents: the range, the properties, the user's view, the floating zone, the limit, the href.
  const cache = await usableReadCache(d.env.ctx);
  const key = `q|${from}|${to}|${fast.map((p) => `${p.ns} ${p.name}`).join(',')}|${cal.access === 'owner' ? 'all' : 'public'}|${tz}|${q.limit ?? ''}|${base}`;
  const held = cache?.listing(cal.id, key);
  if (held) return { reply: sendMultistatusParts(d, [], [held.listing], held.truncated ? { truncatedHref: base } : {}, false) };
  const stamp = cache?.stamp();
  const cols = memberColumns(fast);
  const rows = await timeRangeCells(d.env.ctx.pool, cal.owner_id, cal.id, cal.access !== 'owner', tr.start, tr.end, cols, q.limit !== null);
  const stride = 4 + (cols.component ? 1 : 0) + (cols.size ? 1 : 0) + (cols.modified ? 1 : 0);
  const missing: string[] = [];
  for (let r = 0; r < rows.length; r += stride) {
    const kind = rows[r + 3];
    if (kind === 't' ? knownSeriesOverlap(rows[r + 2]!, from, to) === undefined : (kind === 'F' || kind === 'T') && !hasExpansion(rows[r + 2]!, tz, tr.start, tr.end)) missing.push(rows[r]!);
  }
  const texts = missing.length ? await icalOf(d.env.ctx.db, cal.owner_id, missing) : null;
  const cells: string[] = [];
  let hits = 0;
  let truncated = false;
  for (let r = 0; r < rows.length; r += stride) {
    if (rows[r + 3] === 't') {
      const etag = rows[r + 2]!;
      let match = knownSeriesOverlap(etag, from, to);
      if (match === undefined) {
        try {
          match = seriesOverlaps(etag, texts?.get(rows[r]!) ?? '', from, to);
        } catch {
          match = true; // a series that cannot be expanded is listed rather than hidden (as before)
        }
      }
      if (!match) continue;
    } else if (rows[r + 3] === 'F' || rows[r + 3] === 'T') {
      // Floating (RFC 5545 §3.3.5): its instants are its wall times in the floating zone.
      if (!overlapUsing(rows[r + 2]!, texts?.get(rows[r]!) ?? '', tz, rows[r + 3] === 'F')(null, tr.start, tr.end)) continue;
    }
    if (q.limit !== null && hits >= q.limit) {
      truncated = true;
      break;
    }
    hits++;
    // fastMemberListing's cells: name, etag, then the asked columns.
    cells.push(rows[r + 1]!, rows[r + 2]!);
    for (let i = 4; i < stride; i++) cells.push(rows[r + i]!);
  }
  const parts = fastMemberListing(base, fast, cells);
  if (!cache) return { reply: sendMultistatusParts(d, [], parts, truncated ? { truncatedHref: base } : {}, false) };
  const listing = parts.join('');
  cache.putListing(cal.id, key, listing, stamp!, truncated);
  return { reply: sendMultistatusParts(d, [], [listing], truncated ? { truncatedHref: base } : {}, false) };
}

export async function calendarQuery(d: DavRequest, q: CalendarQueryReport) {
  const quick = await simpleRangeQuery(d, q);
  if (quick) return quick.reply;
  const t = d.target;
  const data = wantsData(q.props);
  const zone = floatingZoneOf(q.timezone, t.res.kind === 'calendar' || t.res.kind === 'object' ? t.res.cal : null, d.env.user.timezone);
  let rows: Array<Row & { path: string; res: Target['res'] }>;
  if (t.res.kind === 'calendar' || t.res.kind === 'object') {
    requirePrivilege(t, 'read');
    const cal = t.res.cal;
    const base = t.res.kind === 'calendar' ? t.res.path : t.res.path.slice(0, t.res.path.lastIndexOf('/') + 1);
    const found = await candidates(d, cal, q.filter, data, zone, t.res.kind === 'object' ? [t.res.obj.name] : undefined);
    rows = found.map((r) => ({ ...r, path: `${base}${r.name}`, res: { kind: 'object', path: `${base}${r.name}`, cal, obj: r } }));
  } else if (t.res.kind === 'inbox') {
    const items = await inboxItems(d.env, true);
    // Floating invitations: in the user's zone (no calendar here), or the query's (RFC 4791 §9.9).
    rows = items.map((r) => ({ ...r, recurring: true, ical: r.ical ?? '', path: `${t.res.path}${r.name}`, res: { kind: 'inbox-item', path: `${t.res.path}${r.name}`, obj: r } }));
  } else {
    throw new DavHttpError(403, 'calendar-query runs on calendar collections', { status: 403, ns: 'DAV:', name: 'supported-report' });
  }
  const simple = simpleEventFilter(q.filter);
  const responses: MultistatusResponse[] = [];
  const fast = t.res.kind !== 'inbox' ? fastProps(q.props) : null;
  const parts: string[] = [];
  let truncated = false;
  for (const r of rows) {
    let match: boolean;
    const ownerId = r.res.kind === 'object' ? r.res.cal.owner_id : d.env.user.id;
    if (simple && t.res.kind !== 'inbox' && (!r.floating || zone.iana)) {
      const tr = simple.timeRange;
      if (tr && r.floating) {
        // Floating (RFC 5545 §3.3.5): decided by its instants in the floating zone (RFC 4791 §9.9).
        if (!r.ical && !floatingKnown(r.etag, zone, tr.start, tr.end)) r.ical = (await icalOf(d.env.ctx.db, ownerId, [r.id])).get(r.id) ?? '';
        match = overlapUsing(r.etag, r.ical, zone.iana!, !r.recurring)(null, tr.start, tr.end);
      } else {
        // (A series evicted from the compiled cache since candidates() looked needs its text again.)
        if (tr && r.recurring && !r.ical && !compiledCached(r.etag) && !(tr.start && tr.end && hasExpansion(r.etag, 'UTC', tr.start, tr.end))) r.ical = (await icalOf(d.env.ctx.db, ownerId, [r.id])).get(r.id) ?? '';
        match = !tr || !r.recurring || overlapUsing(r.etag, r.ical)(null, tr.start, tr.end);
      }
    } else {
      if (!r.ical) r.ical = (await icalOf(d.env.ctx.db, ownerId, [r.id])).get(r.id) ?? '';
      try {
        // Floating times in the floating zone (RFC 4791 §9.9); other objects' DATE values keep the
        // zone the query names, else UTC, as the index columns the fast path reads have them.
        const floating = r.floating || q.timezone ? zone.ical : null;
        match = matchesFilter(parseCalendar(r.ical), q.filter, { occurrencesOverlap: overlapUsing(r.etag, r.ical, r.floating ? zone.iana ?? 'UTC' : 'UTC'), floatingTimezone: floating });
      } catch {
        match = false;
      }
    }
    if (!match) continue;
    if (q.limit !== null && responses.length + parts.length >= q.limit) {
      truncated = true;
      break;
    }
    const text = data ? r.ical || (await icalOf(d.env.ctx.db, ownerId, [r.id])).get(r.id) : undefined;
    if (data && text === undefined) continue; // deleted since it was listed
    if (fast && r.res.kind === 'object') parts.push(fastObjectResponse(href(r.path), r.res.obj, fast, text, q.calendarData));
    else responses.push({ href: href(r.path), props: await propsFor({ env: d.env, res: r.res }, q.props, text, q.calendarData) });
  }
  return sendMultistatusParts(d, responses, parts, truncated ? { truncatedHref: href(t.res.path) } : {});
}
