/**
 * PUT of a calendar object resource — RFC 4791 §5.3.2, RFC 6638 §3.2. Everything goes through
 * saveObject (the one write path): per-UID lock, etag checks, implicit scheduling, change log.
 */
import { Preconditions, etagMatches, parseIfMatch, parseIfNoneMatch, parseIfScheduleTagMatch, type EtagCondition } from '../../lib/dav/index.js';
import { normalizeLineEndings } from '../../lib/ical/index.js';
import { saveObject } from '../../app/events/write.js';
import { DavHttpError, fail } from './errors.js';
import { MAX_RESOURCE_SIZE } from './props.js';
import { requirePrivilege, type DavRequest } from './common.js';
import { davReadState } from './read-cache.js';
import type { DavCalendar, ObjectMeta } from './types.js';

const CALENDAR_TYPES = /^(text\/calendar|application\/octet-stream|text\/plain|application\/ics|text\/x-vcalendar)\b/i;

/** RFC 9110 §13.1: evaluate If-Match / If-None-Match against the current resource. */
export function checkConditions(headers: Record<string, unknown>, current: ObjectMeta | null, method: string): { ifNoneMatchAny: boolean } {
  const ifMatch = parseIfMatch(headers['if-match'] as string | undefined);
  const ifNoneMatch = parseIfNoneMatch(headers['if-none-match'] as string | undefined);
  const etag = current ? `"${current.etag}"` : null;
  if (ifMatch && !etagMatches(ifMatch, etag, true)) throw new DavHttpError(412, current ? 'The resource changed (If-Match)' : 'The resource does not exist (If-Match)');
  if (ifNoneMatch && etag !== null && (ifNoneMatch.any || etagMatches(ifNoneMatch, etag, false))) {
    // For GET/HEAD this would be 304; CalDAV writes get 412 (RFC 9110 §13.1.2).
    throw new DavHttpError(method === 'GET' || method === 'HEAD' ? 304 : 412, 'The resource already exists (If-None-Match)');
  }
  return { ifNoneMatchAny: !!ifNoneMatch?.any };
}

function scheduleTagCondition(headers: Record<string, unknown>, current: ObjectMeta | null): string | null {
  const cond: EtagCondition | null = parseIfScheduleTagMatch(headers['if-schedule-tag-match'] as string | undefined);
  if (!cond) return null;
  // RFC 6638 §8.3: the condition fails if the resource does not exist or the tag differs.
  if (!current || !etagMatches(cond, `"${current.schedule_tag}"`, true)) throw new DavHttpError(412, 'The scheduling state changed (If-Schedule-Tag-Match)');
  return current.schedule_tag;
}

/** The components a body carries, cheaply (the full parse happens in saveObject). */
function componentsIn(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/^BEGIN:(VEVENT|VTODO|VJOURNAL|VFREEBUSY|VAVAILABILITY)\s*$/gim)) out.add(m[1]!.toUpperCase());
  return [...out];
}

/** Store `text` as `name` in `cal`; shared by PUT, COPY and MOVE. */
export async function storeObject(d: DavRequest, cal: DavCalendar, name: string, text: string, current: ObjectMeta | null, opts: { ifNoneMatch: boolean; ifMatch: string | null; ifScheduleTagMatch: string | null; schedule?: boolean; attachmentsFrom?: { ownerId: string; objectId: string } }) {
  const comps = componentsIn(text);
  if (comps.length === 0 && !/BEGIN:VCALENDAR/i.test(text)) fail(Preconditions.supportedCalendarData('The body is not iCalendar data'));
  for (const c of comps) {
    if (!cal.components.includes(c)) fail(Preconditions.supportedCalendarComponent(`This calendar does not hold ${c} components`));
  }
  return saveObject(d.env.ctx, d.env.actor, {
    ownerId: cal.owner_id, calendarId: cal.id, existingId: current?.id ?? null, name, ical: text,
    ifMatch: opts.ifMatch, ifNoneMatch: opts.ifNoneMatch, ifScheduleTagMatch: opts.ifScheduleTagMatch,
    schedule: opts.schedule, enforceAttendeeRules: true, attachmentsFrom: opts.attachmentsFrom,
  });
}

export async function put(d: DavRequest) {
  const r = d.target.res;
  let cal: DavCalendar;
  let name: string;
  let current: ObjectMeta | null = null;
  if (r.kind === 'object') {
    cal = r.cal;
    name = r.path.slice(r.path.lastIndexOf('/') + 1);
    current = r.obj;
    requirePrivilege(d.target, 'write-content');
  } else if (r.kind === 'null' && r.parent?.kind === 'calendar' && !r.path.endsWith('/')) {
    cal = r.parent.cal;
    name = r.name;
    requirePrivilege({ env: d.env, res: r.parent }, 'bind');
  } else if (r.kind === 'null' && r.parent?.kind === 'inbox') {
    throw new DavHttpError(403, 'Scheduling messages arrive by implicit scheduling; PUT into the inbox is not allowed');
  } else if (r.kind === 'null' && !r.parent) {
    throw new DavHttpError(409, 'The parent collection does not exist');
  } else if (r.kind === 'null' || r.kind === 'inbox-item') {
    fail(Preconditions.calendarCollectionLocationOk('Only calendar collections hold resources'), 'Only calendar collections hold resources');
  } else {
    throw new DavHttpError(405, 'PUT is not allowed on a collection', undefined, { allow: 'OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT, DELETE' });
  }
  if (Buffer.byteLength(d.body, 'utf8') > MAX_RESOURCE_SIZE) fail(Preconditions.maxResourceSize(`Calendar objects are limited to ${MAX_RESOURCE_SIZE} bytes`));
  const ct = String(d.req.headers['content-type'] ?? '');
  if (ct && !CALENDAR_TYPES.test(ct)) fail(Preconditions.supportedCalendarData(`Content-Type ${ct.split(';')[0]} is not text/calendar`));
  const { ifNoneMatchAny } = checkConditions(d.req.headers, current, 'PUT');
  const stag = scheduleTagCondition(d.req.headers, current);
  const text = d.body;
  // Write-through: the stored row is kept by the read cache (read-cache.ts endWrite).
  const state = davReadState(d.env.ctx);
  const watch = state?.feed.live ? state.cache.beginWrite(cal.id, name) : undefined;
  let written: Awaited<ReturnType<typeof storeObject>> | undefined;
  try {
    written = await storeObject(d, cal, name, text, current, {
      ifNoneMatch: ifNoneMatchAny, ifMatch: current && d.req.headers['if-match'] ? current.etag : null, ifScheduleTagMatch: stag,
    });
  } finally {
    if (watch) state!.cache.endWrite(watch, written && !written.row.deleted_at ? { ...written.row, size: Buffer.byteLength(written.row.ical, 'utf8') } : undefined);
  }
  const { row, created } = written;
  // RFC 4791 §5.3.4: send the ETag only when the stored text is what the client sent.
  const same = normalizeLineEndings(text).replace(/\r\n[ \t]/g, '').trim() === row.ical.replace(/\r\n[ \t]/g, '').trim();
  if (same) d.reply.header('etag', `"${row.etag}"`);
  if (row.role !== 'none') d.reply.header('schedule-tag', `"${row.schedule_tag}"`);
  return d.reply.status(created ? 201 : 204).send();
}
