/**
 * Set-based writes of many calendar objects of ONE calendar at once (the bulk import path). The
 * same rules as store/objects.ts: every statement filters by owner_id; every written object gets
 * one 'put' entry in the calendar's change log, with consecutive sequence numbers taken from
 * calendar.sync_seq in the same transaction (the calendar row stays locked until commit, so tokens
 * stay monotonic in commit order exactly as with logChange).
 *
 * Rows travel as one JSON parameter (json_populate_recordset over the table's row type) instead
 * of thousands of bind parameters.
 */
import { sql } from 'kysely';
import type { DB } from './db.js';
import type { ObjectValues } from './objects.js';
import { bumpCalendarGeneration } from './cache.js';

export type BulkValues = ObjectValues & { id: string };

/**
 * Takes the per-UID write locks (the same keys as lockUid in app/events/write.ts) for many UIDs,
 * in the order of the lock key, so two bulk writers with overlapping UIDs cannot deadlock on each
 * other. Held until the transaction ends.
 */
export async function lockUids(db: DB, uids: string[]): Promise<void> {
  if (!uids.length) return;
  await sql`select count(pg_advisory_xact_lock(k)) from (
    select distinct hashtextextended('uid:' || u, 0) as k from unnest(${uids}::text[]) u order by 1
  ) s`.execute(db);
}

export interface LiveRef { id: string; uid: string; name: string; has_attachments: boolean; has_alarms: boolean }

/** Live objects of a calendar that have one of these UIDs or one of these resource names. */
export async function liveByUidsOrNames(db: DB, ownerId: string, calendarId: string, uids: string[], names: string[]): Promise<LiveRef[]> {
  if (!uids.length && !names.length) return [];
  const r = await sql<LiveRef>`select id, uid, name, has_attachments, has_alarms from calendar_object
    where owner_id = ${ownerId} and calendar_id = ${calendarId} and deleted_at is null
      and (uid = any(${uids}::text[]) or name = any(${names}::text[]))`.execute(db);
  return r.rows;
}

const COLS = ['name', 'uid', 'component', 'ical', 'etag', 'schedule_tag', 'first_start', 'last_end', 'recurring', 'all_day', 'organizer', 'role', 'my_partstat',
  'status', 'transp', 'class', 'summary', 'location', 'description', 'attendees', 'sequence', 'has_alarms', 'has_attachments', 'origin', 'updated_by'] as const;

function payload(rows: BulkValues[]): string {
  return JSON.stringify(rows.map((r) => {
    const o: Record<string, unknown> = { id: r.id };
    for (const c of COLS) o[c] = r[c];
    return o;
  }));
}

/** One multi-row INSERT of new objects (ids chosen by the caller). */
export async function insertObjects(db: DB, ownerId: string, calendarId: string, rows: BulkValues[]): Promise<void> {
  if (!rows.length) return;
  const cols = sql.raw(COLS.join(', '));
  const vcols = sql.raw(COLS.map((c) => `v.${c}`).join(', '));
  await sql`insert into calendar_object (id, owner_id, calendar_id, ${cols}, created_at, updated_at)
    select v.id, ${ownerId}::uuid, ${calendarId}::uuid, ${vcols}, now(), now()
    from json_populate_recordset(null::calendar_object, ${payload(rows)}::json) v`.execute(db);
}

/** One UPDATE … FROM of existing objects (by id; name, owner and calendar stay as they are). */
export async function updateObjects(db: DB, ownerId: string, calendarId: string, rows: BulkValues[]): Promise<number> {
  if (!rows.length) return 0;
  const set = sql.raw(COLS.filter((c) => c !== 'name' && c !== 'uid').map((c) => `${c} = v.${c}`).join(', '));
  const r = await sql`update calendar_object o set ${set}, updated_at = now()
    from json_populate_recordset(null::calendar_object, ${payload(rows)}::json) v
    where o.owner_id = ${ownerId} and o.calendar_id = ${calendarId} and o.id = v.id and o.deleted_at is null`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/**
 * Appends one change per object to the calendar's change log, in the given order, with the
 * consecutive sequence numbers sync_seq+1 … sync_seq+n; returns the new sync_seq.
 */
export async function logChanges(db: DB, ownerId: string, calendarId: string, changes: { id: string; name: string; uid: string }[], kind: 'put' | 'delete' = 'put'): Promise<string | null> {
  if (!changes.length) return null;
  bumpCalendarGeneration();
  const r = await db.updateTable('calendar').set({ sync_seq: sql<string>`sync_seq + ${changes.length}`, updated_at: new Date() })
    .where('owner_id', '=', ownerId).where('id', '=', calendarId).returning('sync_seq').executeTakeFirstOrThrow();
  const first = BigInt(r.sync_seq) - BigInt(changes.length) + 1n;
  await sql`insert into calendar_change (owner_id, calendar_id, seq, object_id, name, uid, kind)
    select ${ownerId}::uuid, ${calendarId}::uuid, ${first.toString()}::bigint + c.i, c.id, c.name, c.uid, ${kind}
    from json_to_recordset(${JSON.stringify(changes.map((c, i) => ({ i, id: c.id, name: c.name, uid: c.uid })))}::json) as c(i int, id uuid, name text, uid text)`.execute(db);
  return r.sync_seq;
}
