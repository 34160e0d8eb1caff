/**
 * The reminder table (migration 0009): each object's next firing. Writes come from the event write
 * path (same transaction as the event) and from the worker's reminder sweeper, which claims due
 * rows in batches. Per-user reads and writes name owner_id; the claim is the one global query
 * (like the job queue, it takes whatever is due across owners).
 */
import { sql } from 'kysely';
import type { DB } from './db.js';

export interface ReminderPlanRow {
  ownerId: string;
  objectId: string;
  fireAt: Date;
  occurrenceStart: Date;
  recurrenceId: string;
  action: string;
  etag: string;
  basis: string;
  single: boolean;
}

export interface ClaimedReminder extends ReminderPlanRow {
  /** The generation taken: finishing touches the row only if nobody re-planned it meanwhile. */
  gen: string;
  attempts: number;
}

/** The JSON that saveReminders (and the create statement of store/objects.ts) read with jsonb_to_recordset. */
export const planJson = (plans: (ReminderPlanRow & { gen?: string })[]) => JSON.stringify(plans.map((p) => ({
  owner_id: p.ownerId, object_id: p.objectId, fire_at: p.fireAt.toISOString(), occurrence_start: p.occurrenceStart.toISOString(),
  recurrence_id: p.recurrenceId, action: p.action, etag: p.etag, basis: p.basis, single: p.single, gen: p.gen ?? null,
})));

/** Plans (replacing whatever was planned) the next firing of each object. */
export async function saveReminders(db: DB, plans: ReminderPlanRow[]): Promise<void> {
  if (!plans.length) return;
  await sql`
    insert into reminder (owner_id, object_id, fire_at, occurrence_start, recurrence_id, action, etag, basis, single, due_at)
    select x.owner_id, x.object_id, x.fire_at, x.occurrence_start, x.recurrence_id, x.action, x.etag, x.basis, x.single, x.fire_at
    from jsonb_to_recordset(${planJson(plans)}::jsonb) as x(owner_id uuid, object_id uuid, fire_at timestamptz, occurrence_start timestamptz,
      recurrence_id text, action text, etag text, basis text, single boolean)
    on conflict (owner_id, object_id) do update set
      fire_at = excluded.fire_at, occurrence_start = excluded.occurrence_start, recurrence_id = excluded.recurrence_id, action = excluded.action,
      etag = excluded.etag, basis = excluded.basis, single = excluded.single, due_at = excluded.due_at,
      gen = nextval('reminder_gen'), claimed_by = null, attempts = 0, last_error = null`.execute(db);
}

/**
 * Re-plans (replace or remove) reminders of one owner's objects, each only while the object is
 * still at the etag the plan was made from: a write that came in meanwhile planned for itself.
 */
export async function replaceRemindersIfCurrent(db: DB, ownerId: string, plans: ReminderPlanRow[], drops: { objectId: string; etag: string }[]): Promise<{ planned: number; removed: number }> {
  let planned = 0, removed = 0;
  if (plans.length) {
    const r = await sql`
      insert into reminder (owner_id, object_id, fire_at, occurrence_start, recurrence_id, action, etag, basis, single, due_at)
      select x.owner_id, x.object_id, x.fire_at, x.occurrence_start, x.recurrence_id, x.action, x.etag, x.basis, x.single, x.fire_at
      from jsonb_to_recordset(${planJson(plans)}::jsonb) as x(owner_id uuid, object_id uuid, fire_at timestamptz, occurrence_start timestamptz,
        recurrence_id text, action text, etag text, basis text, single boolean)
      join calendar_object o on o.owner_id = x.owner_id and o.id = x.object_id and o.etag = x.etag and o.deleted_at is null
      where x.owner_id = ${ownerId}::uuid
      on conflict (owner_id, object_id) do update set
        fire_at = excluded.fire_at, occurrence_start = excluded.occurrence_start, recurrence_id = excluded.recurrence_id, action = excluded.action,
        etag = excluded.etag, basis = excluded.basis, single = excluded.single, due_at = excluded.due_at,
        gen = nextval('reminder_gen'), claimed_by = null, attempts = 0, last_error = null`.execute(db);
    planned = Number(r.numAffectedRows ?? 0);
  }
  if (drops.length) {
    const r = await sql`
      delete from reminder r using unnest(${drops.map((d) => d.objectId)}::uuid[], ${drops.map((d) => d.etag)}::text[]) as d(id, etag), calendar_object o
      where r.owner_id = ${ownerId}::uuid and r.object_id = d.id and o.owner_id = r.owner_id and o.id = d.id and o.etag = d.etag`.execute(db);
    removed = Number(r.numAffectedRows ?? 0);
  }
  return { planned, removed };
}

/** Removes the planned reminders of these objects of one owner (deleted, no alarm left). */
export async function deleteReminders(db: DB, ownerId: string, objectIds: string[]): Promise<void> {
  if (!objectIds.length) return;
  await db.deleteFrom('reminder').where('owner_id', '=', ownerId).where('object_id', 'in', objectIds).execute();
}

export function findReminder(db: DB, ownerId: string, objectId: string) {
  return db.selectFrom('reminder').selectAll().where('owner_id', '=', ownerId).where('object_id', '=', objectId).executeTakeFirst();
}

/**
 * Takes up to `limit` due reminders, earliest first, for `leaseMs`: other sweepers skip them
 * (SKIP LOCKED now, due_at in the future afterwards); if this process dies they are due again
 * when the lease runs out. attempts counts the claims.
 */
export async function claimDueReminders(db: DB, token: string, limit: number, leaseMs: number): Promise<ClaimedReminder[]> {
  const r = await sql<{ owner_id: string; object_id: string; fire_at: Date; occurrence_start: Date; recurrence_id: string; action: string; etag: string; basis: string; single: boolean; gen: string; attempts: number }>`
    with due as (
      select owner_id, object_id from reminder where due_at <= now() order by due_at limit ${limit} for update skip locked
    )
    update reminder r set due_at = now() + ${leaseMs} * interval '1 millisecond', claimed_by = ${token}::uuid, attempts = r.attempts + 1
    from due where r.owner_id = due.owner_id and r.object_id = due.object_id
    returning r.owner_id, r.object_id, r.fire_at, r.occurrence_start, r.recurrence_id, r.action, r.etag, r.basis, r.single, r.gen, r.attempts`.execute(db);
  return r.rows.map((x) => ({
    ownerId: x.owner_id, objectId: x.object_id, fireAt: x.fire_at, occurrenceStart: x.occurrence_start, recurrenceId: x.recurrence_id,
    action: x.action, etag: x.etag, basis: x.basis, single: x.single, gen: String(x.gen), attempts: x.attempts,
  })).sort((a, b) => a.fireAt.getTime() - b.fireAt.getTime());
}

type Key = { ownerId: string; objectId: string; gen: string };
const keyJson = (keys: (Key & Record<string, unknown>)[]) => JSON.stringify(keys.map((k) => ({ owner_id: k.ownerId, object_id: k.objectId, gen: k.gen, delay_ms: k.delayMs ?? null, error: k.error ?? null })));

/** Renews the lease of claimed rows still being worked on. */
export async function extendClaim(db: DB, token: string, keys: Key[], leaseMs: number): Promise<void> {
  if (!keys.length) return;
  await sql`
    update reminder r set due_at = now() + ${leaseMs} * interval '1 millisecond'
    from jsonb_to_recordset(${keyJson(keys)}::jsonb) as x(owner_id uuid, object_id uuid, gen bigint)
    where r.owner_id = x.owner_id and r.object_id = x.object_id and r.gen = x.gen and r.claimed_by = ${token}::uuid`.execute(db);
}

export interface FinishedReminders {
  /** Next firing of a claimed row (same generation only). */
  next: (ReminderPlanRow & { gen: string })[];
  /** Nothing more to fire (same generation only). */
  done: Key[];
  /** Try again after delayMs. */
  retry: (Key & { delayMs: number; error: string })[];
}

/** Finishes claimed rows in at most three statements; a row re-planned meanwhile (other gen) is left alone. */
export async function finishReminders(db: DB, f: FinishedReminders): Promise<void> {
  if (f.next.length) {
    await sql`
      update reminder r set fire_at = x.fire_at, occurrence_start = x.occurrence_start, recurrence_id = x.recurrence_id, action = x.action,
        etag = x.etag, basis = x.basis, single = x.single, due_at = x.fire_at, gen = nextval('reminder_gen'), claimed_by = null, attempts = 0, last_error = null
      from jsonb_to_recordset(${planJson(f.next)}::jsonb) as x(owner_id uuid, object_id uuid, fire_at timestamptz, occurrence_start timestamptz,
        recurrence_id text, action text, etag text, basis text, single boolean, gen bigint)
      where r.owner_id = x.owner_id and r.object_id = x.object_id and r.gen = x.gen`.execute(db);
  }
  if (f.done.length) {
    await sql`
      delete from reminder r using jsonb_to_recordset(${keyJson(f.done)}::jsonb) as x(owner_id uuid, object_id uuid, gen bigint)
      where r.owner_id = x.owner_id and r.object_id = x.object_id and r.gen = x.gen`.execute(db);
  }
  if (f.retry.length) {
    await sql`
      update reminder r set due_at = now() + x.delay_ms * interval '1 millisecond', claimed_by = null, last_error = left(x.error, 1000)
      from jsonb_to_recordset(${keyJson(f.retry)}::jsonb) as x(owner_id uuid, object_id uuid, gen bigint, delay_ms bigint, error text)
      where r.owner_id = x.owner_id and r.object_id = x.object_id and r.gen = x.gen`.execute(db);
  }
}
