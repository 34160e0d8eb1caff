import { sql, type Kysely } from 'kysely';

/**
 * iTIP messages stored once, referenced by their delivery jobs (issue 3 §4): a 1,000-attendee
 * meeting queues one message text, not 1,000 copies of it in job payloads.
 * - itip_message: one row per distinct message text of a scheduling write (the organizer's, or
 *   the replying attendee's, principal is the owner). Jobs carry (owner, id). Purged after 30 days.
 * - itip_fanout: the per-recipient job specs of a large write, queued later in batches by the
 *   'schedule-fanout' job; `next` is how many are queued (so a retried fan-out never queues twice).
 * Per-user tables: owner_id is the first key column.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table itip_message (
      owner_id uuid not null references principal(id) on delete cascade,
      id uuid not null,
      uid text not null,
      ical text not null,
      created_at timestamptz not null default now(),
      primary key (owner_id, id)
    );
    create index itip_message_created on itip_message (created_at);
    create table itip_fanout (
      owner_id uuid not null references principal(id) on delete cascade,
      id uuid not null,
      uid text not null,
      jobs jsonb not null,
      next integer not null default 0,
      created_at timestamptz not null default now(),
      primary key (owner_id, id)
    );
    create index itip_fanout_uid on itip_fanout (owner_id, uid);
    create index itip_fanout_created on itip_fanout (created_at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists itip_fanout; drop table if exists itip_message`.execute(db);
}
