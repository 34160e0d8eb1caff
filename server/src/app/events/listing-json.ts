/**
 * GET /api/v1/events without intermediate objects: the response body is written as one JSON
 * string, byte for byte what serialising `{ items: listOccurrences(…) }` with the route's schema
 * gives (test: server/test/core/listing-json.test.ts). A month of a busy calendar is ~2,300 items;
 * building an object per item, sorting them by their start text and running the schema
 * serialiser over them cost more CPU (and garbage) than the query and the expansion together.
 *
 * What is saved:
 *  - rows carry times as epoch milliseconds (no timestamp text → Date parsing) and no attendee list;
 *  - each item is three strings: a per-row head (id, calendarId, uid), the occurrence part
 *    (recurrenceId … location; for memoised series built once per occurrence and kept next to the
 *    memoised expansion, whose key is the content hash, so it never goes stale) and a per-row tail
 *    (visibility … busyOnly);
 *  - the items are ordered by a numeric key that sorts exactly like the reference path's
 *    comparison of `start` texts (see sortKey), stably.
 */
import { sql } from 'kysely';
import type { AppContext } from '../context.js';
import type { Actor } from '../../domain/actor.js';
import type { Occurrence } from '../../lib/ical/index.js';
import * as objects from '../../store/objects.js';
import { hasExpansion, seriesIndexed } from './expansions.js';
import { isoDate, isoUtc } from './iso.js';
import { hidesDetails, type Access } from './access.js';
import { visibleCalendars } from './queries.js';

const DAY = 86_400_000;
/** isoUtc formats these without a sign; outside, ISO 8601 expanded years (±YYYYYY) do not sort as text like numbers. */
const MIN = Date.parse('0000-01-01T00:00:00.000Z');
const MAX = Date.parse('9999-12-31T23:59:59.999Z');

const str = (s: string) => JSON.stringify(s);
const strOrNull = (s: string | null) => (s === null ? 'null' : JSON.stringify(s));

/**
 * A number ordering items as the reference compares their `start` texts: a timed start
 * ("2026-11-28T09:00:00.000Z") sorts as its instant; an all-day one ("2026-11-28") is a prefix of
 * every timed start that day, so it sorts just before that day's first millisecond. Only valid
 * for years 0000–9999 (the caller falls back to comparing texts otherwise).
 */
const sortKey = (ms: number, allDay: boolean) => (allDay ? Math.floor(ms / DAY) * DAY - 0.5 : ms);

/** The occurrence-dependent middle of an item: `"recurrenceId":…,"location":…,` (status and transparency follow). */
function middle(recurrenceId: string | null, s: number, e: number, allDay: boolean, summary: string, location: string): string {
  return '"recurrenceId":' + strOrNull(recurrenceId)
    + ',"start":"' + (allDay ? isoDate(s) : isoUtc(s)) + '","end":"' + (allDay ? isoDate(e) : isoUtc(e))
    + '","allDay":' + allDay + ',"timezone":null,"summary":' + str(summary) + ',"location":' + str(location) + ',';
}

interface FastRow {
  id: string; calendar_id: string; uid: string; etag: string; fs: number | null; le: number | null;
  recurring: boolean; all_day: boolean; role: string; my_partstat: string | null; status: string | null; transp: string | null;
  class: string | null; summary: string; location: string; has_attachments: boolean; attendee_count: number;
}

/** The same rows as objects.objectsInRange, with times as epoch milliseconds and no attendee list. */
export function rangeRows(ctx: AppContext, ownerId: string, calendarIds: string[], from: Date, to: Date): Promise<FastRow[]> {
  // floor(): whole milliseconds, as a JavaScript Date of the same timestamp holds (extract() is numeric, exact).
  return ctx.db.selectFrom('calendar_object')
    .select(['id', 'calendar_id', 'uid', 'etag', 'recurring', 'all_day', 'role', 'my_partstat', 'status', 'transp', 'class', 'summary', 'location', 'has_attachments'])
    .select(sql<number | null>`floor(extract(epoch from first_start) * 1000)::float8`.as('fs'))
    .select(sql<number | null>`floor(extract(epoch from last_end) * 1000)::float8`.as('le'))
    .select(sql<number>`cardinality(attendees)`.as('attendee_count'))
    .where('owner_id', '=', ownerId)
    .where('calendar_id', 'in', calendarIds)
    .where('deleted_at', 'is', null)
    .where(objects.spanOverlaps(from, to))
    .execute() as Promise<FastRow[]>;
}

/** The JSON body `{"items":[…]}` of GET /events: the occurrences in [from, to) of the visible (or chosen) calendars. */
export async function listOccurrencesJson(ctx: AppContext, actor: Actor, q: { from: Date; to: Date; calendarIds?: string[] }, tz: string): Promise<string> {
  const cals = await visibleCalendars(ctx, actor, q.calendarIds);
  const f = q.from.getTime();
  const t = q.to.getTime();
  const parts: string[] = [];
  const keys: number[] = [];
  let textual = false; // a start outside years 0000–9999: order by the start texts instead
  const push = (json: string, ms: number, allDay: boolean) => {
    parts.push(json);
    keys.push(sortKey(ms, allDay));
    if (ms < MIN || ms > MAX) textual = true;
  };
  const byOwner = new Map<string, (typeof cals)[number][]>();
  for (const c of cals) {
    const list = byOwner.get(c.owner_id);
    if (list) list.push(c);
    else byOwner.set(c.owner_id, [c]);
  }
  for (const [ownerId, list] of byOwner) {
    const byId = new Map(list.map((c) => [c.id, c as typeof c & { access: Access }]));
    const rows = await rangeRows(ctx, ownerId, list.map((c) => c.id), q.from, q.to);
    const pending = rows.filter((r) => r.recurring && !hasExpansion(r.etag, tz, q.from, q.to));
    const icals = await objects.icalOf(ctx.db, ownerId, pending.map((r) => r.id));
    for (const r of rows) {
      const cal = byId.get(r.calendar_id)!;
      const hidden = hidesDetails(r, cal.access);
      const editable = (cal.access === 'owner' || cal.access === 'read-write') && r.role !== 'attendee';
      const head = '{"id":' + str(r.id) + ',"calendarId":' + str(r.calendar_id) + ',"uid":' + str(r.uid) + ',';
      const tail = '"visibility":' + str(r.class ?? 'PUBLIC') + ',"color":' + str(cal.color) + ',"myPartstat":' + strOrNull(r.my_partstat)
        + ',"isOrganizer":' + (r.role === 'organizer') + ',"editable":' + editable + ',"recurring":' + r.recurring
        + ',"attendeeCount":' + r.attendee_count + ',"hasAttachments":' + (hidden ? false : r.has_attachments) + (hidden ? ',"busyOnly":true}' : '}');
      if (!r.recurring) {
        if (r.fs === null) continue;
        const s = r.fs;
        const e = r.le ?? s;
        // The span index is closed at both ends: drop events that only touch the range's start.
        if (s >= t || (e <= f && !(e === s && s >= f))) continue;
        push(head + middle(null, s, e, r.all_day, hidden ? '' : r.summary, hidden ? '' : r.location)
          + '"status":' + str(r.status ?? 'CONFIRMED') + ',"transparency":' + str(r.transp ?? 'OPAQUE') + ',' + tail, s, r.all_day);
        continue;
      }
      const { occs, idx, json } = seriesIndexed(r.etag, icals.get(r.id) ?? '', q.from, q.to, tz);
      for (const i of idx) {
        const o: Occurrence = occs[i];
        const s = o.start.getTime();
        let mid: string;
        if (hidden) mid = middle(o.recurrenceId, s, o.end.getTime(), o.allDay, '', '');
        else if (json) mid = json[i] ??= middle(o.recurrenceId, s, o.end.getTime(), o.allDay, o.summary ?? '', o.location ?? '');
        else mid = middle(o.recurrenceId, s, o.end.getTime(), o.allDay, o.summary ?? '', o.location ?? '');
        push(head + mid + '"status":' + str(o.status ?? r.status ?? 'CONFIRMED') + ',"transparency":' + str(o.transp ?? r.transp ?? 'OPAQUE') + ',' + tail, s, o.allDay);
      }
    }
  }
  const n = parts.length;
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!textual) {
    // Ties keep the order of appearance, as the reference's stable sort does.
    order.sort((a, b) => keys[a] - keys[b] || a - b);
  } else {
    const texts = parts.map(startText);
    order.sort((a, b) => (texts[a] < texts[b] ? -1 : texts[a] > texts[b] ? 1 : a - b));
  }
  // join() writes one flat string; appending with += would leave a rope of thousands of pieces
  // that Buffer.byteLength and the socket write then walk slowly (a third of the CPU of a month).
  const sorted = new Array<string>(n);
  for (let i = 0; i < n; i++) sorted[i] = parts[order[i]];
  return '{"items":[' + sorted.join(',') + ']}';
}

/** The `start` text of an item built above (rare path: instants beyond year 9999 or before year 0). */
function startText(item: string): string {
  const at = item.indexOf('"start":"') + 9;
  return item.slice(at, item.indexOf('"', at));
}
