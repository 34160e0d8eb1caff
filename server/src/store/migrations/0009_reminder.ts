import { sql, type Kysely } from 'kysely';

/**
 * Reminders as rows (issue 5, flow 5), not one queue job each: a burst of 100,000 reminders due
 * in one minute is claimed in batches by the worker's reminder sweeper (FOR UPDATE SKIP LOCKED)
 * and validated with set-based reads. One row per object: its next firing, written in the same
 * transaction as the event (so a reminder is never lost).
 * - due_at: when a sweeper may take the row next. Planned = fire_at; a claim moves it to the end
 *   of the claim's lease (a crashed worker's rows come back when the lease runs out); a failed
 *   send moves it to the retry time (exponential back-off).
 * - basis: what the plan was computed from (etag, owner's zone, default reminders). When it is
 *   unchanged at firing time the plan is still valid without re-parsing the event.
 * - single: no firing follows this one (not recurring, one alarm): nothing to re-plan after it.
 * - gen: bumped by every re-plan; a sweeper finishing a row only touches the generation it took,
 *   so an edit committed meanwhile is never overwritten.
 * Per-user table: owner_id is the first key column (docs/scaling.md).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create sequence reminder_gen;
    create table reminder (
      owner_id uuid not null references principal(id) on delete cascade,
      object_id uuid not null,
      fire_at timestamptz not null,
      occurrence_start timestamptz not null,
      recurrence_id text not null default '',
      action text not null default 'DISPLAY',
      etag text not null,
      basis text not null,
      single boolean not null default false,
      due_at timestamptz not null,
      gen bigint not null default nextval('reminder_gen'),
      claimed_by uuid,
      attempts integer not null default 0,
      last_error text,
      primary key (owner_id, object_id)
    );
    create index reminder_due on reminder (due_at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists reminder; drop sequence if exists reminder_gen`.execute(db);
}
