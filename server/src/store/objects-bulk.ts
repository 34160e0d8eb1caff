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
import { prepared, type DB } from './db.js';
import type { ObjectValues } from './objects.js';
import type { ObjectRow, Reminder } from './schema.js';
import { bumpCalendarGeneration } from './cache.js';
import { planJson, type ReminderPlanRow } from './reminders.js';
import { DIRECT_JOBS_COUNT, DIRECT_JOBS_CTES, jobSpecsJson, type JobSpec } from '../jobs/queue.js';

export type BulkValues = ObjectValues & { id: string };

/**
 * Takes the per-UID write locks (the same keys as lockUid in app/events/write.ts) for many UIDs,
 * in the order of the lock key, so two bulk writers with overlapping UIDs cannot deadlock on each
 * other. Held until the transaction ends.
 */
export async function lockUids(db: DB, uids: string[]): Promise<void> {
  if (!uids.length) return;
  await sql`${prepared('lock_uids')}select count(pg_advisory_xact_lock(k)) from (
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

const COLS = ['name', 'uid', 'component', 'ical', 'etag', 'schedule_tag', 'first_start', 'last_end', 'recurring', 'all_day', 'floating', 'organizer', 'role', 'my_partstat',
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

/*
 * Copies of ONE UID in MANY owners' calendars (the batched scheduling delivery: one organizer
 * write reaching every internal attendee). Each row carries its own owner_id and calendar_id;
 * every statement still filters by owner_id (the join on the row's owner). On Citus this is one
 * multi-shard transaction per delivery batch (docs/scaling.md).
 */

export type CopyValues = BulkValues & { owner_id: string; calendar_id: string };

/** Each owner's live copy of a UID (the oldest when an owner has several, as findByUid). */
export async function liveCopiesOfUid(db: DB, ownerIds: string[], uid: string): Promise<ObjectRow[]> {
  if (!ownerIds.length) return [];
  const r = await sql<ObjectRow>`select distinct on (owner_id) * from calendar_object
    where owner_id = any(${ownerIds}::uuid[]) and uid = ${uid} and deleted_at is null
    order by owner_id, created_at`.execute(db);
  return r.rows;
}

/** The default calendar (id, default reminders) of each owner that has one. */
export async function defaultCalendarsOf(db: DB, ownerIds: string[]): Promise<Map<string, { id: string; default_reminders: Reminder[] }>> {
  if (!ownerIds.length) return new Map();
  const r = await sql<{ owner_id: string; id: string; default_reminders: Reminder[] | null }>`select owner_id, id, default_reminders from calendar
    where owner_id = any(${ownerIds}::uuid[]) and is_default`.execute(db);
  return new Map(r.rows.map((x) => [x.owner_id, { id: x.id, default_reminders: x.default_reminders ?? [] }]));
}

/**
 * The rows of a copy statement as JSON, what they share sent once: the copies of one delivery
 * carry the same text (~3 KB) and the same index columns read from it (attendees, summary,
 * description, times…), and differ in a few (id, owner, calendar, role, my_partstat, updated_by,
 * sometimes name or Schedule-Tag). Each distinct text gives a template (its first row, every
 * column); a row is its template's number `t` plus the columns in which it differs from it.
 */
function copyPayload(rows: CopyValues[]): { templates: string; rows: string } {
  const templates: Record<string, unknown>[] = [];
  const byText = new Map<string, { t: number; row: CopyValues }>();
  const same = (a: unknown, b: unknown) => a === b || (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]))
    || (a instanceof Date && b instanceof Date && a.getTime() === b.getTime());
  const out = rows.map((r) => {
    let tpl = byText.get(r.ical);
    if (!tpl) {
      const o: Record<string, unknown> = {};
      for (const c of COLS) o[c] = r[c] ?? null;
      templates.push(o);
      byText.set(r.ical, (tpl = { t: templates.length - 1, row: r }));
    }
    const d: Record<string, unknown> = { t: tpl.t, id: r.id, owner_id: r.owner_id, calendar_id: r.calendar_id };
    if (tpl.row !== r) for (const c of COLS) if (!same(r[c] ?? null, tpl.row[c] ?? null)) d[c] = r[c] ?? null;
    return d;
  });
  return { templates: JSON.stringify(templates), rows: JSON.stringify(out) };
}

/**
 * The copy rows of copyPayload as a subquery: `from ${copyRows(rows)} v` gives v.* as
 * calendar_object columns (each row its template with its own columns laid over it).
 */
function copyRows(rows: CopyValues[]) {
  const p = copyPayload(rows);
  const cols = sql.raw(COLS.map((c) => `(r.v).${c}`).join(', '));
  return sql`(select (r.v).id, (r.v).owner_id, (r.v).calendar_id, ${cols}
    from (select jsonb_populate_record(jsonb_populate_record(null::calendar_object, t.a -> (e.d->>'t')::int), e.d) as v
      from jsonb_array_elements(${p.rows}::jsonb) with ordinality as e(d, n)
      cross join (select ${p.templates}::jsonb as a) t
      order by e.n) r)`;
}

/**
 * One multi-row INSERT of new copies; returns the rows written. A row whose UID or name is
 * already taken in its calendar is skipped (ON CONFLICT DO NOTHING) — the caller sees it missing.
 */
export async function insertCopies(db: DB, rows: CopyValues[]): Promise<ObjectRow[]> {
  if (!rows.length) return [];
  const cols = sql.raw(COLS.join(', '));
  const vcols = sql.raw(COLS.map((c) => `v.${c}`).join(', '));
  const r = await sql<ObjectRow>`insert into calendar_object (id, owner_id, calendar_id, ${cols}, created_at, updated_at)
    select v.id, v.owner_id, v.calendar_id, ${vcols}, now(), now()
    from ${copyRows(rows)} v
    on conflict do nothing
    returning *`.execute(db);
  return r.rows;
}

/** One UPDATE … FROM of existing copies (by owner and id; name, uid and calendar stay). Returns the rows written. */
export async function updateCopies(db: DB, rows: CopyValues[]): Promise<ObjectRow[]> {
  if (!rows.length) return [];
  const set = sql.raw(COLS.filter((c) => c !== 'name' && c !== 'uid').map((c) => `${c} = v.${c}`).join(', '));
  const r = await sql<ObjectRow>`update calendar_object o set ${set}, updated_at = now()
    from ${copyRows(rows)} v
    where o.owner_id = v.owner_id and o.id = v.id and o.deleted_at is null
    returning o.*`.execute(db);
  return r.rows;
}

/**
 * One 'put' change per written copy, in the change logs of their calendars, in ONE statement that
 * first locks those calendars in key order (FOR NO KEY UPDATE, what the sync_seq update takes):
 * each calendar's sync_seq advances by its number of changes and the entries take the numbers in
 * between (monotonic in commit order, as logChange). Returns each calendar's default reminders,
 * read under the lock (they cannot change before commit).
 *
 * Why one statement, and last: the lock is held to commit, and deliveries to the same people wait
 * for it; a round trip between taking it and writing would add the worker's event-loop delay to
 * that wait. Why ordered: two deliveries over the same attendees updating their calendars in
 * different orders deadlocked. `lk` is MATERIALIZED and sorted: the update reaches a calendar only
 * through its `lk` row, and `lk` locks its rows in key order as it produces them, so every
 * calendar is locked in key order. (The copies' inserts before this take KEY SHARE on the
 * calendars in their foreign-key checks, which FOR NO KEY UPDATE does not conflict with.)
 */
export async function logCopyChanges(db: DB, changes: { owner_id: string; calendar_id: string; id: string; name: string; uid: string }[]): Promise<Map<string, Reminder[]>> {
  if (!changes.length) return new Map();
  bumpCalendarGeneration();
  const json = JSON.stringify(changes.map((c, i) => ({ i, owner_id: c.owner_id, calendar_id: c.calendar_id, id: c.id, name: c.name, uid: c.uid })));
  const r = await sql<{ owner_id: string; id: string; default_reminders: Reminder[] | null }>`${prepared('log_copy_changes')}
    with ch as (select * from json_to_recordset(${json}::json) as x(i int, owner_id uuid, calendar_id uuid, id uuid, name text, uid text)),
    n as (select owner_id, calendar_id, count(*)::bigint as k from ch group by owner_id, calendar_id),
    lk as materialized (
      select c.owner_id, c.id from calendar c join n on c.owner_id = n.owner_id and c.id = n.calendar_id
      order by c.owner_id, c.id
      for no key update of c
    ), up as (
      update calendar c set sync_seq = c.sync_seq + n.k, updated_at = now()
      from lk join n on n.owner_id = lk.owner_id and n.calendar_id = lk.id
      where c.owner_id = lk.owner_id and c.id = lk.id
      returning c.owner_id, c.id, c.sync_seq, n.k, c.default_reminders
    ), ins as (
      insert into calendar_change (owner_id, calendar_id, seq, object_id, name, uid, kind)
      select ch.owner_id, ch.calendar_id, up.sync_seq - up.k + row_number() over (partition by ch.owner_id, ch.calendar_id order by ch.i), ch.id, ch.name, ch.uid, 'put'
      from ch join up on up.owner_id = ch.owner_id and up.id = ch.calendar_id
    )
    select owner_id, id, default_reminders from up`.execute(db);
  return new Map(r.rows.map((x) => [`${x.owner_id}/${x.id}`, x.default_reminders ?? []]));
}

/** What a batched delivery needs before it writes: see copiesAndCalendars. */
export interface CopyTargets {
  /** Each owner's live copy of the UID (the oldest, as liveCopiesOfUid). */
  copies: ObjectRow[];
  /** Each owner's default calendar. */
  defaults: Map<string, { id: string; default_reminders: Reminder[] }>;
}

/**
 * liveCopiesOfUid + defaultCalendarsOf in one statement, without row locks. Call it with the
 * UID's lock held: every write of a copy of the UID takes that lock, so the copies read stay as
 * they are until commit. The calendars are locked later (logCopyChanges), after the writes:
 * deliveries to the same people then wait for each other only while they write, not while they
 * plan (parse, index, reminders).
 */
export async function copiesAndCalendars(db: DB, ownerIds: string[], uid: string): Promise<CopyTargets> {
  const out: CopyTargets = { copies: [], defaults: new Map() };
  if (!ownerIds.length) return out;
  const r = await sql<ObjectRow & { _cal_owner: string; _cal_id: string; _cal_reminders: Reminder[] | null; _copy: boolean }>`${prepared('copies_and_calendars')}
    with d as (
      select c.owner_id, c.id, c.default_reminders from calendar c
      where c.owner_id = any(${ownerIds}::uuid[]) and c.is_default
    ), copy as (
      select distinct on (owner_id) * from calendar_object
      where owner_id = any(${ownerIds}::uuid[]) and uid = ${uid} and deleted_at is null
      order by owner_id, created_at
    )
    select d.owner_id as _cal_owner, d.id as _cal_id, d.default_reminders as _cal_reminders, copy.owner_id is not null as _copy, copy.*
    from d full join copy on false`.execute(db);
  for (const row of r.rows) {
    const { _cal_owner, _cal_id, _cal_reminders, _copy, ...copy } = row;
    if (_cal_owner) out.defaults.set(_cal_owner, { id: _cal_id, default_reminders: _cal_reminders ?? [] });
    if (_copy) out.copies.push(copy as ObjectRow);
  }
  return out;
}

/**
 * New copies with their reminders and jobs in ONE statement: the multi-row insert (a row whose UID
 * or name is taken is skipped, as insertCopies), the planned reminders of the inserted copies, and
 * the jobs (notifications) about inserted copies — payload.objectId, or payload.items[].objectId
 * for a job about several (its items reduced to the inserted ones) — inserted directly
 * (DIRECT_JOBS_CTES). The change logs are written after it (logCopyChanges, which locks the calendars):
 * the insert takes no lock on the calendars that another delivery waits for (its foreign-key check
 * takes KEY SHARE, which the sync_seq update's FOR NO KEY UPDATE does not conflict with). Returns
 * the id and owner of each copy written (not the whole rows: ~3 KB of text each that nobody read).
 */
export async function insertCopiesWithJobs(db: DB, rows: CopyValues[], o: { reminders: ReminderPlanRow[]; jobs: JobSpec[] }): Promise<Pick<ObjectRow, 'id' | 'owner_id'>[]> {
  if (!rows.length) return [];
  if (o.jobs.some((j) => j.jobKeyMode === 'preserve_run_at')) throw new Error('insertCopiesWithJobs: preserve_run_at job keys need enqueueMany');
  const cols = sql.raw(COLS.join(', '));
  const vcols = sql.raw(COLS.map((c) => `v.${c}`).join(', '));
  const r = await sql<Pick<ObjectRow, 'id' | 'owner_id'> & { _jobs: unknown }>`${prepared('insert_copies_with_jobs')}
    with ins as (
      insert into calendar_object (id, owner_id, calendar_id, ${cols}, created_at, updated_at)
      select v.id, v.owner_id, v.calendar_id, ${vcols}, now(), now()
      from ${copyRows(rows)} v
      on conflict do nothing
      returning *
    ), rem as (
      insert into reminder (owner_id, object_id, fire_at, occurrence_start, recurrence_id, action, etag, basis, single, due_at)
      select x.owner_id, x.object_id, x.fire_at, x.occurrence_start, x.recurrence_id, x.action, x.etag, x.basis, x.single, x.fire_at
      from jsonb_to_recordset(${planJson(o.reminders)}::jsonb) as x(owner_id uuid, object_id uuid, fire_at timestamptz, occurrence_start timestamptz,
        recurrence_id text, action text, etag text, basis text, single boolean)
      join ins on ins.owner_id = x.owner_id and ins.id = x.object_id
      on conflict (owner_id, object_id) do nothing
    ), specs as (
      -- Jobs about copies not inserted are dropped; a job listing several copies keeps the inserted ones.
      select array(
        select jsonb_populate_record(null::graphile_worker.job_spec, f.spec)
        from jsonb_array_elements(${jobSpecsJson(o.jobs)}::jsonb) with ordinality as t(x, i)
        cross join lateral (
          select case
            when x->'payload' ? 'items' then (
              select case when count(*) > 0 then jsonb_set(x, '{payload,items}', jsonb_agg(it order by n)) end
              from jsonb_array_elements(x->'payload'->'items') with ordinality as e(it, n)
              where (it->>'objectId')::uuid in (select id from ins))
            when (x->'payload'->>'objectId')::uuid in (select id from ins) then x
          end as spec
        ) f
        where f.spec is not null
        order by t.i) as a
    ), js as (
      select x.* from specs cross join unnest(specs.a) with ordinality as x(identifier, payload, queue_name, run_at, max_attempts, job_key, priority, flags, n)
    ), ${DIRECT_JOBS_CTES}
    select ins.id, ins.owner_id, ${DIRECT_JOBS_COUNT} as _jobs from ins`.execute(db);
  return r.rows.map(({ id, owner_id }) => ({ id, owner_id }));
}
