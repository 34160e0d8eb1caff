import { sql, type Kysely } from 'kysely';

/**
 * Range queries always name the owner: index (owner_id, span) together so a listing reads only
 * that owner's events in the range, not every user's. btree_gist (a trusted contrib extension
 * shipped with PostgreSQL) lets GiST index the uuid next to the range.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create extension if not exists btree_gist`.execute(db);
  await sql`
    create index calendar_object_owner_span on calendar_object using gist (
      owner_id, tstzrange(first_start, coalesce(last_end, 'infinity'::timestamptz), '[]')
    ) where deleted_at is null
  `.execute(db);
  await sql`drop index if exists calendar_object_span`.execute(db);
}
