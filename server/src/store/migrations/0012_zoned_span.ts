import { sql, type Kysely } from 'kysely';

/**
 * CalDAV time-range queries place all-day dates in the floating zone like floating times (RFC 4791
 * §9.9), so their span is matched widened like a floating row's (store/dav-members.ts
 * timeRangeCells, http/dav/reports/calendar-query.ts). A partial GiST index over the rows whose
 * times depend on the viewer's zone answers that widened arm; calendar_object_floating_span
 * (migration 0010) stays for the REST range predicate, which widens floating rows only.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index calendar_object_zoned_span on calendar_object using gist (
      owner_id, tstzrange(first_start, coalesce(last_end, 'infinity'::timestamptz), '[]')
    ) where deleted_at is null and (floating or all_day)
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists calendar_object_zoned_span`.execute(db);
}
