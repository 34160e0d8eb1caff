import { sql, type Kysely } from 'kysely';

/**
 * Range queries ("occurrences between from and to", free/busy) use the span of each object:
 * [first_start, last_end] (last_end null = open-ended series). A GiST index on that range
 * answers overlap (&&) without reading every earlier event. Closed bounds, so a zero-length
 * event still has a non-empty span; callers filter the exact edges.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index calendar_object_span on calendar_object using gist (
      tstzrange(first_start, coalesce(last_end, 'infinity'::timestamptz), '[]')
    ) where deleted_at is null
  `.execute(db);
}
