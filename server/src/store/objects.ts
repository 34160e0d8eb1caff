/**
 * Calendar object resources. Every query filters by owner_id (the distribution key); the
 * change log and the calendar's sync sequence are written in the same transaction as the object.
 */
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import { prepared, type DB } from './db.js';
import type { Database, ObjectRow, Reminder } from './schema.js';
import { bumpCalendarGeneration } from './cache.js';
import { addressFingerprintsSql, CALENDAR_FINGERPRINT } from './principals.js';
import { planJson, type ReminderPlanRow } from './reminders.js';
import { DIRECT_JOBS_COUNT, DIRECT_JOBS_CTES, jobSpecsJson, type JobSpec } from '../jobs/queue.js';

export interface ObjectValues {
  name: string; uid: string; component: 'VEVENT' | 'VTODO'; ical: string; etag: string; schedule_tag: string;
  first_start: Date | null; last_end: Date | null; recurring: boolean; all_day: boolean; floating: boolean; organizer: string | null;
  role: 'none' | 'organizer' | 'attendee'; my_partstat: string | null; status: string | null; transp: string | null;
  class: string | null; summary: string; location: string; description: string; attendees: string[]; sequence: number;
  has_alarms: boolean; has_attachments: boolean; origin: string; updated_by: string | null;
}

/** Appends to the calendar's change log and returns the new sync sequence (RFC 6578 tokens). */
export async function logChange(db: DB, ownerId: string, calendarId: string, o: { id: string; name: string; uid: string }, kind: 'put' | 'delete'): Promise<string> {
  return (await logChangeWithCalendar(db, ownerId, calendarId, o, kind)).seq;
}

/**
 * The same in one round trip (a data-modifying CTE), also returning the calendar's default
 * reminders so the caller needn't read the calendar again.
 */
export async function logChangeWithCalendar(db: DB, ownerId: string, calendarId: string, o: { id: string; name: string; uid: string }, kind: 'put' | 'delete'): Promise<{ seq: string; defaultReminders: Reminder[] }> {
  bumpCalendarGeneration();
  const r = await sql<{ seq: string; default_reminders: Reminder[] }>`
    with c as (
      update calendar set sync_seq = sync_seq + 1, updated_at = now()
      where owner_id = ${ownerId} and id = ${calendarId}
      returning owner_id, id, sync_seq, default_reminders
    ), ins as (
      insert into calendar_change (owner_id, calendar_id, seq, object_id, name, uid, kind)
      select owner_id, id, sync_seq, ${o.id}, ${o.name}, ${o.uid}, ${kind} from c
    )
    select sync_seq::text as seq, default_reminders from c`.execute(db);
  const row = r.rows[0];
  if (!row) throw new Error(`calendar ${calendarId} of ${ownerId} not found`);
  return { seq: row.seq, defaultReminders: row.default_reminders ?? [] };
}

export type WrittenRow = ObjectRow & { defaultReminders: Reminder[] };

const INSERT_COLS = ['name', 'uid', 'component', 'ical', 'etag', 'schedule_tag', 'first_start', 'last_end', 'recurring', 'all_day', 'floating', 'organizer', 'role', 'my_partstat',
  'status', 'transp', 'class', 'summary', 'location', 'description', 'attendees', 'sequence', 'has_alarms', 'has_attachments', 'origin', 'updated_by'] as const;

/**
 * Inserts a new object and its change-log entry in ONE statement (a data-modifying CTE; the
 * calendar row is locked by its update exactly as logChange does); undefined when its UID or
 * name is already taken in the calendar (nothing written).
 */
export async function insertObject(db: DB, ownerId: string, calendarId: string, v: ObjectValues): Promise<WrittenRow | undefined> {
  bumpCalendarGeneration();
  const json = JSON.stringify(Object.fromEntries(INSERT_COLS.map((c) => [c, v[c]])));
  const cols = sql.raw(INSERT_COLS.join(', '));
  const vcols = sql.raw(INSERT_COLS.map((c) => `v.${c}`).join(', '));
  const r = await sql<ObjectRow & { default_reminders: Reminder[] | null }>`${prepared('object_insert')}
    with ins as (
      insert into calendar_object (owner_id, calendar_id, ${cols}, updated_at)
      select ${ownerId}::uuid, ${calendarId}::uuid, ${vcols}, now() from json_populate_record(null::calendar_object, ${json}::json) v
      on conflict do nothing
      returning *
    ), c as (
      update calendar set sync_seq = sync_seq + 1, updated_at = now()
      where owner_id = ${ownerId} and id = ${calendarId} and exists (select 1 from ins)
      returning sync_seq, default_reminders
    ), ch as (
      insert into calendar_change (owner_id, calendar_id, seq, object_id, name, uid, kind)
      select ins.owner_id, ins.calendar_id, c.sync_seq, ins.id, ins.name, ins.uid, 'put' from ins, c
    )
    select ins.*, c.default_reminders from ins, c`.execute(db);
  const row = r.rows[0];
  if (!row) return undefined;
  const { default_reminders, ...rest } = row;
  return Object.assign(rest as ObjectRow, { defaultReminders: default_reminders ?? [] });
}

/**
 * What a create read before it wrote, to be checked by the write itself (app/events/create-lookup.ts):
 * the calendar's fingerprint (principals.CALENDAR_FINGERPRINT) and, for the attendees' addresses
 * (lower-case), the fingerprint of what they resolve to (principals.addressFingerprintsSql). When
 * either differs from the database's now, nothing is written.
 */
export interface CreateGuard { calendar: string; addresses: string[] | null; addressFingerprint: string }

/**
 * A whole create in ONE statement, atomic without BEGIN/COMMIT (a data-modifying CTE): the object
 * (with the id chosen by the caller), its change-log entry and sync-sequence bump, its planned
 * reminder, and its jobs (scheduling deliveries, iMIP). The reminder was
 * planned from `defaults`, the calendar's default reminders as the caller read them: if they
 * changed since (or the calendar is gone), or the id/UID/name is taken, nothing is written and
 * undefined comes back — the caller then takes the transactional path. Jobs must use replace
 * semantics for their keys (see jobSpecsJson).
 *
 * Jobs without a key are inserted into graphile-worker's job table directly (DIRECT_JOBS_CTES):
 * add_jobs was about a third of PostgreSQL's CPU per create.
 */
export async function insertObjectWithJobs(db: DB, ownerId: string, calendarId: string, id: string, v: ObjectValues,
  o: { defaults: Reminder[]; jobs: JobSpec[]; reminders: ReminderPlanRow[]; guard?: CreateGuard }): Promise<WrittenRow | undefined> {
  if (o.jobs.some((j) => j.jobKeyMode === 'preserve_run_at')) throw new Error('insertObjectWithJobs: preserve_run_at job keys need enqueueMany');
  bumpCalendarGeneration();
  const json = JSON.stringify(Object.fromEntries(INSERT_COLS.map((c) => [c, v[c]])));
  const cols = sql.raw(INSERT_COLS.join(', '));
  const vcols = sql.raw(INSERT_COLS.map((c) => `v.${c}`).join(', '));
  // The calendar row is updated (and so locked) first; the object is inserted only if that row
  // still has the defaults the reminder was planned from. Reminder and jobs are taken per inserted
  // row: nothing of them happens when the insert does not.
  const r = await sql<{ created_at: Date; updated_at: Date; default_reminders: Reminder[] | null }>`${prepared('insert_object_with_jobs')}
    with c as (
      update calendar set sync_seq = sync_seq + 1, updated_at = now()
      where owner_id = ${ownerId} and id = ${calendarId} and default_reminders = ${JSON.stringify(o.defaults)}::jsonb
        and (${o.guard?.calendar ?? null}::text is null or ${sql.raw(CALENDAR_FINGERPRINT('calendar'))} = ${o.guard?.calendar ?? null}::text)
        and (${o.guard?.addresses ?? null}::text[] is null or ${addressFingerprintsSql(o.guard?.addresses ?? null)} = ${o.guard?.addressFingerprint ?? null}::text)
      returning sync_seq, default_reminders
    ), ins as (
      insert into calendar_object (id, owner_id, calendar_id, ${cols}, updated_at)
      select ${id}::uuid, ${ownerId}::uuid, ${calendarId}::uuid, ${vcols}, now() from c, json_populate_record(null::calendar_object, ${json}::json) v
      on conflict do nothing
      returning id, owner_id, calendar_id, name, uid, created_at, updated_at
    ), ch as (
      insert into calendar_change (owner_id, calendar_id, seq, object_id, name, uid, kind)
      select ins.owner_id, ins.calendar_id, c.sync_seq, ins.id, ins.name, ins.uid, 'put' from ins, c
    ), rem as (
      insert into reminder (owner_id, object_id, fire_at, occurrence_start, recurrence_id, action, etag, basis, single, due_at)
      select x.owner_id, x.object_id, x.fire_at, x.occurrence_start, x.recurrence_id, x.action, x.etag, x.basis, x.single, x.fire_at
      from ins, jsonb_to_recordset(${planJson(o.reminders)}::jsonb) as x(owner_id uuid, object_id uuid, fire_at timestamptz, occurrence_start timestamptz,
        recurrence_id text, action text, etag text, basis text, single boolean)
      where x.object_id = ins.id
    ), aud as (
      -- The audit trail: who created it, through which entry point (a data-modifying CTE always runs).
      insert into audit_log (owner_id, actor_id, via, action, target, details)
      select ins.owner_id, ${v.updated_by}::uuid, ${v.origin}, 'event.create', ins.id::text, jsonb_build_object('uid', ins.uid) from ins
    ), js as (
      select x.* from ins
      cross join json_populate_recordset(null::graphile_worker.job_spec, ${jobSpecsJson(o.jobs)}::json) with ordinality as x(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, n)
    ), ${DIRECT_JOBS_CTES}
    select ins.created_at, ins.updated_at, c.default_reminders, ${DIRECT_JOBS_COUNT} as jobs_queued from ins, c`.execute(db);
  const row = r.rows[0];
  if (!row) return undefined;
  // The row as written (the values sent, the times PostgreSQL set), in the table's column order:
  // not read back, so the ~3 KB of text and the arrays are not sent and parsed again.
  const written: ObjectRow = {
    id, owner_id: ownerId, calendar_id: calendarId, name: v.name, uid: v.uid, component: v.component, ical: v.ical, etag: v.etag, schedule_tag: v.schedule_tag,
    first_start: v.first_start, last_end: v.last_end, recurring: v.recurring, all_day: v.all_day, organizer: v.organizer, role: v.role, my_partstat: v.my_partstat,
    status: v.status, transp: v.transp, class: v.class, summary: v.summary, location: v.location, description: v.description, attendees: v.attendees,
    sequence: v.sequence, has_alarms: v.has_alarms, has_attachments: v.has_attachments, origin: v.origin, created_at: row.created_at, updated_at: row.updated_at,
    updated_by: v.updated_by, deleted_at: null, deleted_by: null, floating: v.floating,
  };
  return Object.assign(written, { defaultReminders: row.default_reminders ?? [] });
}

export async function updateObject(db: DB, ownerId: string, id: string, v: Partial<ObjectValues> & { calendar_id?: string }): Promise<WrittenRow> {
  const row = await db.updateTable('calendar_object').set({ ...v, updated_at: new Date() }).where('owner_id', '=', ownerId).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
  const { defaultReminders } = await logChangeWithCalendar(db, ownerId, row.calendar_id, row, 'put');
  return Object.assign(row, { defaultReminders });
}

/** Moves to the trash: the object disappears from the calendar (a tombstone in the change log). */
export async function trashObject(db: DB, ownerId: string, id: string, by: string | null): Promise<ObjectRow | undefined> {
  const row = await db.updateTable('calendar_object').set({ deleted_at: new Date(), deleted_by: by }).where('owner_id', '=', ownerId).where('id', '=', id).where('deleted_at', 'is', null).returningAll().executeTakeFirst();
  if (row) await logChange(db, ownerId, row.calendar_id, row, 'delete');
  return row;
}

export async function hardDeleteObject(db: DB, ownerId: string, id: string): Promise<void> {
  await db.deleteFrom('calendar_object').where('owner_id', '=', ownerId).where('id', '=', id).execute();
}

export async function restoreObject(db: DB, ownerId: string, id: string): Promise<ObjectRow | undefined> {
  const row = await db.updateTable('calendar_object').set({ deleted_at: null, deleted_by: null, updated_at: new Date() }).where('owner_id', '=', ownerId).where('id', '=', id).where('deleted_at', 'is not', null).returningAll().executeTakeFirst();
  if (row) await logChange(db, ownerId, row.calendar_id, row, 'put');
  return row;
}

export function findObject(db: DB, ownerId: string, id: string, opts: { forUpdate?: boolean; includeDeleted?: boolean } = {}) {
  let q = db.selectFrom('calendar_object').selectAll().where('owner_id', '=', ownerId).where('id', '=', id);
  if (!opts.includeDeleted) q = q.where('deleted_at', 'is', null);
  if (opts.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Only for resolving a REST id to its owner before the owner-scoped read (ids are global). */
export async function ownerOfObject(db: DB, id: string): Promise<string | undefined> {
  const r = await sql<{ owner_id: string }>`select owner_id from calendar_object where id = ${id}`.execute(db);
  return r.rows[0]?.owner_id;
}

export function findByName(db: DB, ownerId: string, calendarId: string, name: string) {
  return db.selectFrom('calendar_object').selectAll().where('owner_id', '=', ownerId).where('calendar_id', '=', calendarId).where('name', '=', name).where('deleted_at', 'is', null).executeTakeFirst();
}

export function findByUidInCalendar(db: DB, ownerId: string, calendarId: string, uid: string) {
  return db.selectFrom('calendar_object').selectAll().where('owner_id', '=', ownerId).where('calendar_id', '=', calendarId).where('uid', '=', uid).where('deleted_at', 'is', null).executeTakeFirst();
}

/** The owner's live copy of a UID in any of their calendars (scheduling delivers there). */
export function findByUid(db: DB, ownerId: string, uid: string) {
  return db.selectFrom('calendar_object').selectAll().where('owner_id', '=', ownerId).where('uid', '=', uid).where('deleted_at', 'is', null).orderBy('created_at').executeTakeFirst();
}

export type RangeRow = Pick<ObjectRow, 'id' | 'owner_id' | 'calendar_id' | 'uid' | 'etag' | 'first_start' | 'last_end' | 'recurring' | 'all_day' | 'floating' | 'role' | 'my_partstat' | 'status' | 'transp' | 'class' | 'summary' | 'location' | 'attendees' | 'has_attachments' | 'component'> & { attendee_count: number };

/** The span predicate matching the GiST index calendar_object_span (migration 0005). */
export const spanOverlaps = (from: Date, to: Date) =>
  sql<boolean>`tstzrange(first_start, coalesce(last_end, 'infinity'::timestamptz), '[]') && tstzrange(${from}::timestamptz, ${to}::timestamptz, '[)')`;

/** How far a floating time's instant can lie from its wall time read as UTC (zone offsets are −12 h … +14 h). */
export const FLOAT_MARGIN_MS = 14 * 3_600_000;

/** The rows whose times depend on the viewer's zone: floating ones, and with all-day dates too. */
const ZONED = { floating: sql`floating`, allDay: sql`(floating or all_day)` };

/**
 * The span predicate for a range as some viewer sees it: floating rows (migration 0010) store
 * their wall times read as UTC, so their span is widened by FLOAT_MARGIN_MS on both sides (a
 * superset: callers filter the exact instants in the viewer's zone). The second arm matches the
 * partial index calendar_object_floating_span.
 */
export const rangeOverlaps = (from: Date, to: Date, zoned: keyof typeof ZONED = 'floating') =>
  sql<boolean>`(${spanOverlaps(from, to)} or (${ZONED[zoned]} and ${spanOverlaps(new Date(from.getTime() - FLOAT_MARGIN_MS), new Date(to.getTime() + FLOAT_MARGIN_MS))}))`;

/**
 * rangeOverlaps for callers that also place all-day dates in a zone (free/busy in the owner's
 * zone, CalDAV time-range in the floating zone — RFC 4791 §9.9): all-day rows are widened like
 * floating ones. The second arm matches the partial index calendar_object_zoned_span (migration 0012).
 */
export const zonedRangeOverlaps = (from: Date, to: Date) => rangeOverlaps(from, to, 'allDay');

/**
 * The open-ended bounds "starts before `to`, ends after `from`" (either may be absent) as some
 * viewer sees them: like rangeOverlaps, a floating or all-day row (RFC 5545 §3.3.5, §3.3.4: its
 * first_start/last_end are wall times read as UTC) passes when they are within FLOAT_MARGIN_MS of the bounds;
 * the caller decides exactly in the viewer's zone (floatingSingleOccurrences, occurrencesOf).
 */
export const rangeBounds = (from: Date | null, to: Date | null) => (eb: ExpressionBuilder<Database, 'calendar_object'>) => {
  const parts: Expression<SqlBool>[] = [];
  const zoned = eb.or([eb('floating', '=', true), eb('all_day', '=', true)]);
  if (to) parts.push(eb.or([eb('first_start', '<', to), eb('first_start', 'is', null), eb.and([zoned, eb('first_start', '<', new Date(to.getTime() + FLOAT_MARGIN_MS))])]));
  if (from) parts.push(eb.or([eb('last_end', '>', from), eb('last_end', 'is', null), eb.and([zoned, eb('last_end', '>', new Date(from.getTime() - FLOAT_MARGIN_MS))])]));
  return eb.and(parts);
};

/**
 * Objects of one owner's calendars whose span overlaps [from, to): index columns only. Recurring
 * ones need their iCalendar for expansion — fetch it with `icalOf` for those not already compiled.
 */
export async function objectsInRange(db: DB, ownerId: string, calendarIds: string[], from: Date, to: Date): Promise<RangeRow[]> {
  if (!calendarIds.length) return [];
  return db.selectFrom('calendar_object')
    .select(['id', 'owner_id', 'calendar_id', 'uid', 'etag', 'first_start', 'last_end', 'recurring', 'all_day', 'floating', 'role', 'my_partstat', 'status', 'transp', 'class', 'summary', 'location', 'has_attachments', 'component'])
    .select(sql<number>`cardinality(attendees)`.as('attendee_count'))
    .select(sql<string[]>`'{}'::text[]`.as('attendees'))
    .where('owner_id', '=', ownerId)
    .where('calendar_id', 'in', calendarIds)
    .where('deleted_at', 'is', null)
    .where(zonedRangeOverlaps(from, to))
    .execute();
}

/** iCalendar texts by id (one owner), for expansion of what the compiled cache does not hold. */
export async function icalOf(db: DB, ownerId: string, ids: string[]): Promise<Map<string, string>> {
  if (!ids.length) return new Map();
  const rows = await db.selectFrom('calendar_object').select(['id', 'ical']).where('owner_id', '=', ownerId).where('id', 'in', ids).execute();
  return new Map(rows.map((r) => [r.id, r.ical]));
}

/** Changes after a token in log order (RFC 6578); the caller keeps the latest per resource. */
export async function changesSince(db: DB, ownerId: string, calendarId: string, since: string, limit: number) {
  const rows = await db.selectFrom('calendar_change')
    .select(['object_id', 'name', 'uid', 'kind', 'seq'])
    .where('owner_id', '=', ownerId).where('calendar_id', '=', calendarId).where('seq', '>', since)
    .orderBy('seq').limit(limit).execute();
  return rows;
}

export async function oldestChange(db: DB, ownerId: string, calendarId: string): Promise<string | null> {
  const r = await db.selectFrom('calendar_change').select((eb) => eb.fn.min('seq').as('m')).where('owner_id', '=', ownerId).where('calendar_id', '=', calendarId).executeTakeFirst();
  return (r?.m as string | null) ?? null;
}

export function trashOf(db: DB, ownerId: string, since: Date) {
  return db.selectFrom('calendar_object').select(['id', 'calendar_id', 'uid', 'summary', 'first_start', 'deleted_at', 'recurring'])
    .where('owner_id', '=', ownerId).where('deleted_at', 'is not', null).where('deleted_at', '>', since).orderBy('deleted_at', 'desc').limit(500).execute();
}

export function searchObjects(db: DB, ownerId: string, calendarIds: string[], q: string, from: Date | null, to: Date | null) {
  const like = `%${q.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
  let query = db.selectFrom('calendar_object').selectAll().where('owner_id', '=', ownerId).where('calendar_id', 'in', calendarIds).where('deleted_at', 'is', null)
    .where((eb) => eb.or([eb('summary', 'ilike', like), eb('location', 'ilike', like), eb('description', 'ilike', like), eb(sql`array_to_string(attendees, ' ')`, 'ilike', like),
      // Participants by name: the CN parameter of ATTENDEE and ORGANIZER (RFC 5545 §3.2.2), read
      // from the unfolded text (§3.1) of the rows whose text contains the words at all.
      sql<boolean>`(ical ilike ${like} and exists (select 1 from regexp_matches(regexp_replace(ical, E'\r?\n[ \t]', '', 'g'), E'(?:^|\n)(?:ATTENDEE|ORGANIZER)[^\n]*?;CN=("[^"]*"|[^;:\n]*)', 'gi') m where m[1] ilike ${like}))`,
    ]));
  if (from || to) query = query.where(rangeBounds(from, to));
  return query.orderBy('first_start', 'desc').limit(200).execute();
}
